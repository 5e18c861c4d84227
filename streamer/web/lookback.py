"""How much recent history the dashboard reads at start: a record count per partition or a time span.

Pure: the reader asks the broker for the offsets and this module decides where each partition starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Lookback", "parse_lookback"]

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


@dataclass(frozen=True, slots=True)
class Lookback:
    """Either the last ``records`` of each partition, or the records of the last ``span_ms`` (by their
    Kafka timestamps). ``Lookback(records=0)`` reads only what arrives after the start."""

    records: int | None = None
    span_ms: int | None = None

    def __post_init__(self) -> None:
        if (self.records is None) == (self.span_ms is None):
            raise ValueError("a lookback is either a record count or a time span")

    def since_ms(self, now_ms: int) -> int | None:
        """The earliest Kafka timestamp to read, for a time span; None for a record count."""
        return None if self.span_ms is None else now_ms - self.span_ms

    def start_offset(self, beginning: int, end: int, at_time: int | None) -> int:
        """Where a partition starts. ``at_time`` is the broker's first offset at or after ``since_ms``
        (None when there is none); it is ignored for a record count."""
        if self.records is not None:
            return max(beginning, end - self.records)
        return end if at_time is None else min(max(at_time, beginning), end)

    def describe(self) -> str:
        if self.records is not None:
            return f"last {self.records} records per partition"
        return f"last {self.span_ms // 1000 if self.span_ms else 0} s"


def parse_lookback(text: str) -> Lookback:
    """``"50000"`` (records per partition) or ``"30m"``, ``"2h"``, ``"1d"``, ``"1w"``. Raises ValueError."""
    spec = text.strip().lower()
    if spec.isdigit():
        return Lookback(records=int(spec))
    match = _DURATION.match(spec)
    if match is None:
        raise ValueError(f"{text!r} is neither a record count (50000) nor a duration (30m, 2h, 1d)")
    amount, unit = match.groups()
    return Lookback(span_ms=int(amount) * _UNIT_MS[unit])
