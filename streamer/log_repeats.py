"""Collapse repeated log lines of the Kafka client.

While a broker is unreachable, aiokafka retries every 100 ms and logs each failed connect, metadata request,
fetch and heartbeat: about 25 ERROR lines a second, which bury the one line that says what is wrong. The
filter lets the first line of each kind through, counts its repeats for ``window_s``, and lets the next one
after that through with the count, so the outage stays visible at about one line per kind per window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RepeatFilter", "collapse_repeats"]


class RepeatFilter(logging.Filter):
    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # -> (passed at, suppressed since)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = (
                f"{record.getMessage()} (and {seen[1]} more like it in the last {now - seen[0]:.0f} s)"
            )
            record.args = ()
        if len(self._seen) > 1000:  # bounded: old kinds are forgotten
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        self._seen[key] = (now, 0)
        return True


def collapse_repeats(prefix: str = "aiokafka", window_s: float = 10.0) -> RepeatFilter:
    """Attach one :class:`RepeatFilter` to every logger under ``prefix`` that exists now (call after the
    client is imported: its modules create their loggers at import)."""
    repeat_filter = RepeatFilter(window_s)
    names = [
        name for name in logging.Logger.manager.loggerDict if name == prefix or name.startswith(prefix + ".")
    ]
    for name in names:
        logging.getLogger(name).addFilter(repeat_filter)
    return repeat_filter
