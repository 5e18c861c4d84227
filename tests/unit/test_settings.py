"""The settings model: checked values, the password file, and a password that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import ConfigError
from streamer.settings import Settings, load_settings


def test_defaults() -> None:
    settings = load_settings()
    assert settings.bootstrap == "127.0.0.1:9092"
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.kafka_security.protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": -1}, "batch_size must be >= 1"),
        ({"rocksdb_block_cache_bytes": -5}, "rocksdb_block_cache_bytes must be >= 0"),
        ({"web_port": 70000}, "web_port must be between 0 and 65535"),
        ({"changelog_segment_bytes": 1024 * 1024 - 1}, "changelog_segment_bytes must be >= 1048576"),
        ({"partitions": "4"}, "partitions must be an integer"),
        ({"detectors_enabled": "ture"}, "detectors_enabled must be true or false"),
        ({"grace_ms": True}, "grace_ms must be an integer"),
        ({"app_id": 7}, "app_id must be a string"),
        ({"no_such_setting": 1}, "unknown settings: no_such_setting"),
        ({"session_timeout_ms": 6000, "heartbeat_interval_ms": 3000}, "three heartbeat intervals"),
    ],
)
def test_bad_values_are_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(values)


def test_password_file_drops_the_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret with spaces \n")
    settings = load_settings(
        {"security_protocol": "SASL_SSL", "sasl_username": "alice", "sasl_password_file": path}
    )
    assert settings.sasl_password == "s3cret with spaces "
    assert settings.kafka_security.sasl_password == "s3cret with spaces "


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("\n", {}, "is empty"),
        ("pw", {"sasl_password": "other"}, "not both"),
        (None, {}, "cannot read the SASL password file"),
    ],
)
def test_password_file_errors(
    tmp_path: Path, content: str | None, extra: dict[str, str], message: str
) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    values = {"security_protocol": "SASL_SSL", "sasl_username": "alice", "sasl_password_file": path, **extra}
    with pytest.raises(ConfigError, match=message):
        load_settings(values)


def test_password_is_not_in_repr() -> None:
    settings = load_settings(
        {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "alice", "sasl_password": "hunter2-xyz"}
    )
    assert "hunter2-xyz" not in repr(settings)
    assert "hunter2-xyz" not in repr(settings.kafka_security)
    assert "hunter2-xyz" not in settings.kafka_security.describe()
    assert "alice" in settings.kafka_security.describe()


def test_without_security() -> None:
    settings = Settings(security_protocol="SASL_SSL", sasl_username="a", sasl_password="b").without_security()
    assert settings.kafka_security.protocol == "PLAINTEXT"
    assert not settings.sasl_password
