"""Pure event-time window assignment on integer milliseconds.

Windows are half-open ``[start_ms, end_ms)`` and aligned to the Unix epoch, so hourly windows align to UTC
hours. AEMO's NEM time (UTC+10:00, no DST) and any other whole-hour offset therefore share the same hourly
boundaries, and a 5-minute grid is the same in every offset. Floor division makes negative (pre-1970)
times work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WindowSpec", "hopping", "parse_duration_ms", "tumbling"]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


def tumbling(event_ms: int, size_ms: int) -> tuple[int, int]:
    """The one window of length ``size_ms`` that contains ``event_ms``."""
    if size_ms <= 0:
        raise ValueError(f"size_ms must be positive, got {size_ms}")
    start_ms = event_ms - event_ms % size_ms
    return start_ms, start_ms + size_ms


def hopping(event_ms: int, size_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """Every window ``[k*step, k*step + size)`` containing ``event_ms``, sorted by start.

    When ``size_ms`` is a multiple of ``step_ms`` there are exactly ``size_ms // step_ms`` of them; otherwise
    the count alternates between the floor and the ceiling of ``size_ms / step_ms``.
    """
    if size_ms <= 0 or step_ms <= 0:
        raise ValueError(f"size_ms and step_ms must be positive, got {size_ms}, {step_ms}")
    start_ms = event_ms - event_ms % step_ms
    starts: list[int] = []
    while start_ms + size_ms > event_ms:
        starts.append(start_ms)
        start_ms -= step_ms
    starts.reverse()
    return [(s, s + size_ms) for s in starts]


def parse_duration_ms(text: str) -> int:
    """``"5m"`` -> 300000. Units: ms, s, m, h, d."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}; expected e.g. 500ms, 30s, 5m, 1h, 1d")
    value = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if value <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A named window shape. ``step_ms == size_ms`` is tumbling; a smaller step is hopping."""

    name: str
    size_ms: int
    step_ms: int

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.step_ms <= 0:
            raise ValueError(f"window {self.name!r}: size_ms and step_ms must be positive")
        if self.step_ms > self.size_ms:
            raise ValueError(f"window {self.name!r}: step_ms > size_ms would leave gaps between windows")

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """``"5m"`` (tumbling) or ``"1h/5m"`` (1-hour windows every 5 minutes)."""
        size_s, slash, step_s = text.partition("/")
        size_ms = parse_duration_ms(size_s)
        step_ms = parse_duration_ms(step_s) if slash else size_ms
        return cls(text.strip(), size_ms, step_ms)

    @property
    def is_tumbling(self) -> bool:
        return self.step_ms == self.size_ms

    def windows(self, event_ms: int) -> list[tuple[int, int]]:
        if self.step_ms == self.size_ms:
            return [tumbling(event_ms, self.size_ms)]
        return hopping(event_ms, self.size_ms, self.step_ms)
