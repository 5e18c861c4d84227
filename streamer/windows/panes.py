"""Panes: the slices every window is built from (window slicing, as Flink does).

Every window spec's size and step are multiples of the pane length (their greatest common divisor), so a
window ``[start, end)`` is exactly the panes that start inside it. Each event updates the one pane it starts
in; a bar is the combination of its panes when the window closes. A 1-hour window every 5 minutes is then
12 panes combined once, instead of 12 aggregates updated by every event, and the state of a series is one
small pane per interval instead of one aggregate per open window.

Sums stay exact (Shewchuk's non-overlapping partials, as ``math.fsum`` keeps them), so a bar does not depend
on how its events were grouped into panes or in which order they arrived: it equals a direct computation bit
for bit.

``twap`` weights each value by its interval ``[start, start + interval)`` clipped to the window end. Only
intervals that run past their own pane's end can be clipped, so a pane keeps the weighted sum of the others
and lists those few ("overhang") to be clipped when a window is combined.

Ties: ``open`` is the value of the earliest interval start and ``close`` the latest. One series has one
counted value per interval start (repeats and revisions never reach the windows), so there are no ties.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

__all__ = [
    "Bar",
    "Pane",
    "PaneGroup",
    "RecentPanes",
    "WindowStats",
    "add_exact",
    "combine",
    "pane_ms_for",
    "window_stats",
]


def add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum represented by ``partials`` (in place)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def pane_ms_for(sizes_and_steps: Sequence[int]) -> int:
    """The pane length: the greatest common divisor of every window size and step."""
    return math.gcd(*sizes_and_steps) if sizes_and_steps else 0


@dataclass(slots=True)
class Pane:
    """The events of one series whose interval starts in ``[start_ms, start_ms + pane_ms)``."""

    start_ms: int
    offset_min: int = 0  # UTC offset of the series' own timestamps, for rendering bar times
    last_offset: int = -1  # the highest input offset added: adding it again changes nothing
    count: int = 0
    open_ms: int = 0
    open: float = 0.0
    close_ms: int = 0
    close: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    sums: list[float] = field(default_factory=list)
    wsums: list[float] = field(default_factory=list)  # value * interval, for intervals ending in the pane
    weight_ms: int = 0
    overhang: list[tuple[int, int, float]] = field(default_factory=list)  # (start, interval, value)

    def add(self, event_ms: int, interval_ms: int, value: float, pane_end_ms: int, offset: int = -1) -> bool:
        """Add one event; False when ``offset`` was added already (a re-delivery after a crash)."""
        if offset >= 0:
            if offset <= self.last_offset:
                return False
            self.last_offset = offset
        if self.count == 0:
            self.open_ms = self.close_ms = event_ms
            self.open = self.close = self.low = self.high = value
        else:
            if event_ms < self.open_ms:
                self.open_ms, self.open = event_ms, value
            elif event_ms > self.close_ms:
                self.close_ms, self.close = event_ms, value
            if value < self.low:
                self.low = value
            if value > self.high:
                self.high = value
        self.count += 1
        add_exact(self.sums, value)
        if event_ms + interval_ms <= pane_end_ms:
            add_exact(self.wsums, value * interval_ms)
            self.weight_ms += interval_ms
        else:
            self.overhang.append((event_ms, interval_ms, value))
        return True

    def to_list(self) -> list[Any]:
        return [
            self.start_ms,
            self.offset_min,
            self.last_offset,
            self.count,
            self.open_ms,
            self.open,
            self.close_ms,
            self.close,
            self.low,
            self.high,
            self.sums,
            self.wsums,
            self.weight_ms,
            self.overhang,
        ]

    @classmethod
    def from_list(cls, row: Sequence[Any]) -> Pane:
        return cls(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            list(row[10]),
            list(row[11]),
            row[12],
            [(int(t), int(n), float(v)) for t, n, v in row[13]],
        )


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class Bar:
    """A closed window's statistics (one ``bars.*`` record)."""

    window: str
    start_ms: int
    end_ms: int
    offset_min: int
    count: int
    open: float
    high: float
    low: float
    close: float
    mean: float
    twap: float


_count = attrgetter("count")
_low = attrgetter("low")
_high = attrgetter("high")
_sums = attrgetter("sums")
_wsums = attrgetter("wsums")
_weight = attrgetter("weight_ms")
_overhang = attrgetter("overhang")


_open = attrgetter("open")


def combine(window: str, start_ms: int, end_ms: int, panes: Sequence[Pane]) -> Bar:
    """The bar of ``[start_ms, end_ms)`` from its non-empty panes, in start order."""
    first, last = panes[0], panes[-1]
    count = sum(map(_count, panes))
    if count == len(panes) and not any(map(_overhang, panes)):
        # One value per pane (an interval per pane, the usual case) and none clipped: the values themselves.
        values = list(map(_open, panes))
        mean = math.fsum(values) / count
        weight_ms = sum(map(_weight, panes))
        twap = math.fsum(chain.from_iterable(map(_wsums, panes))) / weight_ms if weight_ms else mean
        return Bar(
            window,
            start_ms,
            end_ms,
            first.offset_min,
            count,
            values[0],
            max(values),
            min(values),
            values[-1],
            mean,
            twap,
        )
    mean = math.fsum(chain.from_iterable(map(_sums, panes))) / count
    weighted = list(chain.from_iterable(map(_wsums, panes)))
    weight_ms = sum(map(_weight, panes))
    for event_ms, interval_ms, value in chain.from_iterable(map(_overhang, panes)):
        clipped = min(interval_ms, end_ms - event_ms)
        weighted.append(value * clipped)
        weight_ms += clipped
    twap = math.fsum(weighted) / weight_ms if weight_ms else mean
    high = max(map(_high, panes))
    low = min(map(_low, panes))
    return Bar(
        window, start_ms, end_ms, first.offset_min, count, first.open, high, low, last.close, mean, twap
    )


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class WindowStats:
    """Running statistics of a still-open window, for the enriched record."""

    window: str
    start_ms: int
    end_ms: int
    count: int
    mean: float
    min: float
    max: float

    def to_record(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "window_start_ms": self.start_ms,
            "window_end_ms": self.end_ms,
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
        }


def window_stats(window: str, start_ms: int, end_ms: int, panes: Sequence[Pane]) -> WindowStats:
    """Count, mean, min and max so far of an open window (a plain float sum: this is context, not a bar)."""
    count = sum(map(_count, panes))
    if count == len(panes):  # one value per pane
        values = list(map(_open, panes))
        return WindowStats(window, start_ms, end_ms, count, sum(values) / count, min(values), max(values))
    total = sum(chain.from_iterable(map(_sums, panes)))
    return WindowStats(
        window, start_ms, end_ms, count, total / count, min(map(_low, panes)), max(map(_high, panes))
    )


class RecentPanes:
    """Count, sum, low and high of a series' last ``slots`` panes, in contiguous arrays.

    The running statistics of the current windows (the enriched record's context) are read for every event;
    gathered from a series' pane objects, scattered over the heap since they were made minutes apart, they
    cost a cache miss per field per pane. These arrays keep the same numbers side by side, set from the
    pane after each change. Panes older than the first slot are not covered (see :meth:`stats`).
    """

    __slots__ = ("base", "counts", "highs", "lows", "pane_ms", "slots", "totals")

    def __init__(self, pane_ms: int, slots: int) -> None:
        self.pane_ms = pane_ms
        self.slots = slots
        self.base: int | None = None  # start of slot 0
        self.counts = array("q", bytes(8 * slots))
        self.totals = array("d", bytes(8 * slots))
        self.lows = array("d", [math.inf]) * slots
        self.highs = array("d", [-math.inf]) * slots

    def _clear(self, first: int, last: int) -> None:
        for i in range(first, last):
            self.counts[i], self.totals[i], self.lows[i], self.highs[i] = 0, 0.0, math.inf, -math.inf

    def put(self, pane: Pane) -> None:
        """Set the slot of ``pane`` from it, sliding the slots forward for a newer pane."""
        if self.base is None:
            self.base = pane.start_ms - (self.slots - 1) * self.pane_ms
        index = (pane.start_ms - self.base) // self.pane_ms
        if index < 0:
            return  # older than the slots: statistics that need it are computed from the panes
        if index >= self.slots:
            shift = index - self.slots + 1
            if shift >= self.slots:
                self._clear(0, self.slots)
            else:
                keep = self.slots - shift
                self.counts[:keep] = self.counts[shift:]
                for column in (self.totals, self.lows, self.highs):
                    column[:keep] = column[shift:]
                self._clear(self.slots - shift, self.slots)
            self.base += shift * self.pane_ms
            index = self.slots - 1
        self.counts[index] = pane.count
        self.totals[index] = pane.sums[0] if len(pane.sums) == 1 else sum(pane.sums)
        self.lows[index] = pane.low
        self.highs[index] = pane.high

    def forget(self, start_ms: int) -> None:
        """Empty the slot of a deleted pane."""
        if self.base is not None:
            index = (start_ms - self.base) // self.pane_ms
            if 0 <= index < self.slots:
                self._clear(index, index + 1)

    def stats(self, window: str, start_ms: int, end_ms: int) -> WindowStats | bool | None:
        """The window's statistics; None if it has no data; False if it reaches before the first slot."""
        if self.base is None or start_ms < self.base:
            return False
        first = (start_ms - self.base) // self.pane_ms
        last = min(self.slots, (end_ms - self.base) // self.pane_ms)
        count = sum(self.counts[first:last])
        if not count:
            return None
        total = sum(self.totals[first:last])
        return WindowStats(
            window,
            start_ms,
            end_ms,
            count,
            total / count,
            min(self.lows[first:last]),
            max(self.highs[first:last]),
        )


class PaneGroup(dict[int, Pane]):
    """Every stored pane of one series by start, and their :class:`RecentPanes` once built."""

    __slots__ = ("recent",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.recent: RecentPanes | None = None

    def drop(self, start_ms: int) -> bool:
        """Delete the pane at ``start_ms``; whether there was one."""
        if self.pop(start_ms, None) is None:
            return False
        if self.recent is not None:
            self.recent.forget(start_ms)
        return True
