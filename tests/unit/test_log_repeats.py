from __future__ import annotations

import logging

import pytest

from streamer.log_repeats import RepeatFilter, collapse_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka.conn"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_within_the_window_are_counted_and_reported_with_the_next_line() -> None:
    clock = Clock()
    repeats = RepeatFilter(window_s=10, clock=clock)
    assert repeats.filter(_record("Unable connect to node with id %s", 1))
    for _ in range(250):
        clock.now += 0.04
        assert not repeats.filter(_record("Unable connect to node with id %s", 1))
    assert repeats.filter(_record("Unable connect to node with id %s", 2))  # another message is another kind
    assert repeats.filter(_record("Unable connect to node with id %s", 1, level=logging.WARNING))
    clock.now = 10.5
    again = _record("Unable connect to node with id %s", 1)
    assert repeats.filter(again)
    assert again.getMessage() == "Unable connect to node with id 1 (and 250 more like it in the last 10 s)"
    clock.now = 30.0
    quiet = _record("Unable connect to node with id %s", 1)
    assert repeats.filter(quiet) and quiet.getMessage() == "Unable connect to node with id 1"


def test_collapse_repeats_covers_the_client_loggers(caplog: pytest.LogCaptureFixture) -> None:
    import aiokafka.conn  # noqa: F401 - its logger exists once the module is imported

    repeats = collapse_repeats("aiokafka", window_s=60)
    try:
        logger = logging.getLogger("aiokafka.conn")
        with caplog.at_level(logging.ERROR, logger="aiokafka.conn"):
            for _ in range(100):
                logger.error("Unable connect to node with id %s", 1)
        assert [r.getMessage() for r in caplog.records] == ["Unable connect to node with id 1"]
    finally:
        for name in list(logging.Logger.manager.loggerDict):
            if name.startswith("aiokafka"):
                logging.getLogger(name).removeFilter(repeats)
