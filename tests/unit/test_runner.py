"""The worker's process set-up: no spinner that turns the root logger to DEBUG; JSON logs."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path

import orjson
import pytest

from streamer.cli import main
from streamer.errors import AuthenticationError, BrokerError, ConfigError
from streamer.pipeline import create_app
from streamer.runner import build_worker, logging_config
from streamer.settings import Settings, load_settings


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


def test_a_worker_that_crashes_exits_non_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Faust's worker turns a start-up failure into SystemExit(1); the CLI must pass it on, not exit 0."""
    import streamer.runner

    monkeypatch.setattr(streamer.runner, "run_worker", lambda *_args, **_kwargs: 1)
    assert main(["worker", "--data-dir", str(tmp_path)]) == 1


def test_waiting_for_kafka_backs_off_and_logs_each_attempt(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import streamer.runner

    answers_on = 4
    calls: list[int] = []
    sleeps: list[float] = []

    async def check(_bootstrap: str, _security: object) -> None:
        calls.append(1)
        if len(calls) < answers_on:
            raise BrokerError("cannot reach Kafka at 127.0.0.1:1")

    monkeypatch.setattr(streamer.runner, "check_connection", check)
    monkeypatch.setattr(streamer.runner.time, "sleep", sleeps.append)
    with caplog.at_level(logging.WARNING, logger="streamer.runner"):
        streamer.runner._wait_for_kafka(Settings(), first_delay_s=1, max_delay_s=3)  # noqa: SLF001
    assert sleeps == [1, 2, 3]
    assert [r.getMessage().rsplit(";", 1)[1] for r in caplog.records[:3]] == [
        " attempt 1, retrying in 1 s",
        " attempt 2, retrying in 2 s",
        " attempt 3, retrying in 3 s",
    ]
    assert caplog.records[-1].getMessage() == "Kafka at 127.0.0.1:9092 answers after 4 attempts; starting"

    async def refused(_bootstrap: str, _security: object) -> None:
        raise AuthenticationError("Kafka at 127.0.0.1:9092 refused the credentials")

    monkeypatch.setattr(streamer.runner, "check_connection", refused)
    with pytest.raises(AuthenticationError):
        streamer.runner._wait_for_kafka(Settings())  # noqa: SLF001


def test_a_failed_pipeline_stops_its_worker_which_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Faust carries on without a crashed agent; the worker must stop (SIGTERM to itself) and exit 1."""
    import signal

    import streamer.runner
    from streamer.failure import clear_failure, failure, stop_worker_on_failure

    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        error = RuntimeError("a bug in a batch")
        stop_worker_on_failure(error)
        stop_worker_on_failure(RuntimeError("a second one, while stopping"))
        assert received == [signal.SIGTERM] and failure() is error

        class Worker:
            def execute_from_commandline(self) -> None:
                raise SystemExit(0)  # Faust's clean stop after the SIGTERM

        monkeypatch.setattr(streamer.runner, "_wait_for_kafka", lambda _settings: None)
        monkeypatch.setattr(streamer.runner, "create_app", lambda _settings: object())
        monkeypatch.setattr(streamer.runner, "tune_gc", lambda: None)
        monkeypatch.setattr(streamer.runner, "build_worker", lambda *_args: Worker())
        assert streamer.runner.run_worker(Settings(data_dir=tmp_path)) == 1
        clear_failure()
        assert streamer.runner.run_worker(Settings(data_dir=tmp_path)) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        clear_failure()
