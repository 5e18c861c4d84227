"""The worker's process set-up: no spinner that turns the root logger to DEBUG; JSON logs."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path

import orjson
import pytest

from streamer.errors import ConfigError
from streamer.pipeline import create_app
from streamer.runner import build_worker, logging_config
from streamer.settings import load_settings


def test_the_faust_worker_leaves_the_root_log_level_alone(tmp_path: Path) -> None:
    app = create_app(load_settings({"data_dir": tmp_path}))
    worker = build_worker(app, "warning")
    root = logging.getLogger()
    before = root.level
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        worker.on_setup_root_logger(root, logging.WARNING)
        assert root.level == before and root.level != logging.DEBUG
    finally:
        root.removeHandler(handler)


def test_json_logs_are_one_object_per_line_with_the_record_position(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = logging_config("json", "info")
    assert config is not None
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        logging.config.dictConfig(config)
        logging.getLogger("streamer.processor").warning(
            "processing %s failed",
            "raw.prices[3]@41",
            extra={"topic": "raw.prices", "partition": 3, "offset": 41},
        )
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    record = orjson.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "streamer.processor"
    assert record["message"] == "processing raw.prices[3]@41 failed"
    assert (record["topic"], record["partition"], record["offset"]) == ("raw.prices", 3, 41)
    assert "time" in record and "pid" in record


def test_an_unknown_log_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="text or json"):
        logging_config("xml", "info")
    assert logging_config("text", "info") is None
