"""Translation of the security settings into client options, and what an unreachable broker gives."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials

from streamer.broker.local import free_port
from streamer.errors import BrokerError, ConfigError
from streamer.kafka_security import (
    PLAINTEXT,
    KafkaSecurity,
    aiokafka_options,
    check_connection,
    cli_args,
    faust_options,
    redact_logs,
)


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate signed by it, made with openssl."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is installed by scripts/setup"
    d = tmp_path_factory.mktemp("pem")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=client")  # fmt: skip
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2")  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}


def test_plaintext_adds_nothing_but_the_protocol() -> None:
    assert aiokafka_options(PLAINTEXT) == {"security_protocol": "PLAINTEXT"}
    assert faust_options(PLAINTEXT) == {}


def test_sasl_ssl_with_mtls(pem_files: dict[str, Path]) -> None:
    security = KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="alice",
        sasl_password="pw",
        ssl_cafile=pem_files["ca"],
        ssl_certfile=pem_files["cert"],
        ssl_keyfile=pem_files["key"],
    )
    options = aiokafka_options(security)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("alice", "pw")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert any("test-ca" in str(ca["subject"]) for ca in context.get_ca_certs())
    credentials = faust_options(security)["broker_credentials"]
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert "pw" not in repr(credentials)


def test_ssl_only(pem_files: dict[str, Path]) -> None:
    security = KafkaSecurity(protocol="SSL", ssl_cafile=pem_files["ca"])
    assert set(aiokafka_options(security)) == {"security_protocol", "ssl_context"}
    credentials = faust_options(security)["broker_credentials"]
    assert isinstance(credentials, SSLCredentials)


def test_sasl_plaintext_has_no_tls() -> None:
    security = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_username="a", sasl_password="b")
    assert "ssl_context" not in aiokafka_options(security)
    assert faust_options(security)["broker_credentials"].protocol.value == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"protocol": "TLS"}, "security protocol must be one of"),
        ({"protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "SASL mechanism must be one of"),
        ({"protocol": "SASL_SSL"}, "needs --sasl-username and --sasl-password"),
        ({"sasl_username": "alice"}, "SASL credentials were given"),
        ({"ssl_cafile": Path("ca.pem")}, "TLS files were given"),
        ({"protocol": "SSL", "ssl_keyfile": Path("k.pem")}, "needs --ssl-certfile"),
    ],
)
def test_bad_combinations(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSecurity(**fields)  # type: ignore[arg-type]


def test_unreadable_tls_files_are_config_errors(tmp_path: Path, pem_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="TLS file not found"):
        aiokafka_options(KafkaSecurity(protocol="SSL", ssl_cafile=tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        aiokafka_options(KafkaSecurity(protocol="SSL", ssl_cafile=pem_files["ca"], ssl_certfile=garbage))


async def test_unreachable_broker_is_one_broker_error() -> None:
    port = free_port()
    with pytest.raises(BrokerError, match=f"cannot reach Kafka at 127.0.0.1:{port} with PLAINTEXT") as info:
        await check_connection(f"127.0.0.1:{port}", PLAINTEXT)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        await check_connection("no-port", PLAINTEXT)


def test_cli_args_pass_the_password_as_a_private_file(tmp_path: Path) -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="a", sasl_password="pw"
    )
    args = cli_args(security, tmp_path)
    assert "pw" not in args
    password_file = Path(args[args.index("--sasl-password-file") + 1])
    assert password_file.read_text() == "pw"
    assert password_file.stat().st_mode & 0o077 == 0
    assert cli_args(PLAINTEXT, tmp_path) == []


def test_redact_logs_covers_text_and_bytes(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    try:
        redact_logs("t0p-s3cret")
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("aiokafka.conn").debug("Request %s", b"\x00alice\x00t0p-s3cret")
            logging.getLogger("x").warning("plain t0p-s3cret and again t0p-s3cret")
        assert "t0p-s3cret" not in caplog.text
        assert caplog.text.count("***") == 3
    finally:
        logging.setLogRecordFactory(factory)
