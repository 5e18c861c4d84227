"""Per-partition event-time windows over panes: watermark, grace, closing, lateness.

The watermark of a partition is the largest event time seen on it. A window ``[start, end)`` closes once
``end + grace_ms <= watermark``: its bar is combined from its panes and emitted exactly once, at the moment
the watermark passes (before the next event is looked at, so a later event can never slip into a bar it was
reported late for). Lateness needs no list of closed windows: any window whose ``end + grace_ms`` is at or
below the watermark is closed, and an event for it is reported late; its panes still serve the windows that
are open.

Panes live in a :class:`PaneStore` (a dict in tests and in-process computations; RocksDB behind a bounded
cache in the worker). The tracker itself keeps only an index of which series have a pane at which start, so
it knows what to combine when a window closes; a restarted worker rebuilds it from the store. A pane is
deleted once every window that contains it has closed as of a *durable* watermark (:meth:`prune`), so a crash
that loses the newest watermark can close those windows again from intact panes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

from streamer.topics import Kind
from streamer.windows.aggregates import bar_record, utc_offset_min
from streamer.windows.assign import WindowSpec
from streamer.windows.panes import (
    Bar,
    Pane,
    PaneGroup,
    RecentPanes,
    WindowStats,
    combine,
    pane_ms_for,
    window_stats,
)

__all__ = [
    "AddResult",
    "ClosedBar",
    "LateWindow",
    "MemoryPaneStore",
    "OpenWindows",
    "PaneStore",
    "WindowTracker",
    "count_open_windows",
]

logger = logging.getLogger(__name__)

LATE_REASON = "window_closed"


class PaneStore(Protocol):
    """Where the panes of one (partition, kind) live."""

    def pane(self, key: str, start_ms: int) -> Pane | None: ...

    def panes_of(self, key: str) -> Mapping[int, Pane]:
        """Every pane of ``key`` by start."""
        ...

    def read_panes(self, key: str) -> Mapping[int, Pane]:
        """As :meth:`panes_of`, to read only: a store with a bounded cache need not cache them (closing a
        window reads every series' panes once, and would otherwise load every series into the cache)."""
        ...

    def put_pane(self, key: str, pane: Pane) -> None: ...

    def delete_pane(self, key: str, start_ms: int) -> None: ...

    def pane_keys(self) -> Iterable[tuple[int, str]]:
        """``(start_ms, series key)`` of every stored pane (to rebuild the index after a restart)."""
        ...


class MemoryPaneStore:
    """Panes in a dict: for tests and for in-process computations over a file."""

    def __init__(self) -> None:
        self.series: dict[str, PaneGroup] = {}

    @property
    def panes(self) -> dict[tuple[str, int], Pane]:
        return {(key, start): pane for key, group in self.series.items() for start, pane in group.items()}

    def pane(self, key: str, start_ms: int) -> Pane | None:
        group = self.series.get(key)
        return None if group is None else group.get(start_ms)

    def panes_of(self, key: str) -> Mapping[int, Pane]:
        group = self.series.get(key)
        if group is None:
            group = self.series[key] = PaneGroup()
        return group

    def read_panes(self, key: str) -> Mapping[int, Pane]:
        return self.series.get(key) or {}

    def put_pane(self, key: str, pane: Pane) -> None:
        group = self.series.get(key)
        if group is None:
            group = self.series[key] = PaneGroup()
        group[pane.start_ms] = pane

    def delete_pane(self, key: str, start_ms: int) -> None:
        group = self.series.get(key)
        if group is not None:
            group.drop(start_ms)
            if not group:
                del self.series[key]

    def pane_keys(self) -> Iterable[tuple[int, str]]:
        return [(start, key) for key, group in self.series.items() for start in group]


@dataclass(frozen=True, slots=True)
class LateWindow:
    """A window an event belonged to but which had already closed when it arrived."""

    window: str
    start_ms: int
    end_ms: int
    watermark_ms: int
    reason: str = LATE_REASON

    def to_record(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "window_start_ms": self.start_ms,
            "window_end_ms": self.end_ms,
            "watermark_ms": self.watermark_ms,
            "reason": self.reason,
        }


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class AddResult:
    """Where one event went: how many open windows it counts in, and the closed ones it missed."""

    accepted: int
    late: tuple[LateWindow, ...]

    @property
    def is_late(self) -> bool:
        return bool(self.late)


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class ClosedBar:
    key: str
    bar: Bar

    def record(self, kind: Kind) -> dict[str, Any]:
        return bar_record(self.key, kind, self.bar)


_NO_WINDOWS = AddResult(0, ())
_SPAN_CACHE = 256  # entries per cache: a partition's events span a few pane starts at a time


@dataclass(slots=True)
class _Closing:
    """Windows that closed together (at ``upper``, after ``lower``: watermarks) whose bars are computed a few
    series at a time: the windows as (end, spec index, start), ascending; the series in key order with the
    indexes of their closing windows; how many of those series are done."""

    lower: int | None
    upper: int | None
    windows: list[tuple[int, int, int]]
    series: list[tuple[str, list[int]]]
    done: int = 0

    @property
    def last_end(self) -> int:
        return self.windows[-1][0]


def _windows_containing(spec: WindowSpec, pane_start: int) -> range:
    """Starts of ``spec``'s windows that contain the pane starting at ``pane_start``, ascending."""
    first = ((pane_start - spec.size_ms) // spec.step_ms + 1) * spec.step_ms
    return range(first, pane_start - pane_start % spec.step_ms + 1, spec.step_ms)


@dataclass(frozen=True, slots=True)
class OpenWindows:
    """A copy of a tracker's pane index with what decides which windows are still open."""

    specs: tuple[WindowSpec, ...]
    pane_ms: int
    closed_end: int | None  # windows with end <= this have closed
    index: dict[int, tuple[str, ...]]  # pane start -> series with a pane there


def count_open_windows(snapshot: OpenWindows) -> int:
    """(series, window) pairs with data whose window has not closed: per open window, its panes' series."""
    index, pane_ms, closed_end = snapshot.index, snapshot.pane_ms, snapshot.closed_end
    total = 0
    for spec in snapshot.specs:
        size = spec.size_ms
        starts = {start for p in index for start in _windows_containing(spec, p)}
        for start in starts:
            if closed_end is None or start + size > closed_end:
                panes = [index[p] for p in range(start, start + size, pane_ms) if p in index]
                total += len(set().union(*panes))
    return total


def _closing_order(item: tuple[int, str, Bar]) -> tuple[int, str]:
    return item[0], item[1]


class WindowTracker:
    """Open windows of the series of one partition, as panes, with the partition watermark."""

    def __init__(
        self,
        specs: Sequence[WindowSpec],
        grace_ms: int,
        store: PaneStore | None = None,
        *,
        watermark_ms: int | None = None,
        closing: Sequence[int | None] | None = None,
    ) -> None:
        """``closing`` is what :attr:`closing_state` returned when the state was persisted: the windows that
        had closed but whose bars were not all computed yet."""
        if grace_ms < 0:
            raise ValueError(f"grace_ms must be >= 0, got {grace_ms}")
        if len({s.name for s in specs}) != len(specs):
            raise ValueError("window spec names must be unique")
        self.specs = tuple(specs)
        self.grace_ms = grace_ms
        self.pane_ms = pane_ms_for([n for s in self.specs for n in (s.size_ms, s.step_ms)])
        self._recent_slots = max((s.size_ms // self.pane_ms for s in self.specs), default=1) + 1
        self.store: PaneStore = store if store is not None else MemoryPaneStore()
        self.watermark_ms = watermark_ms
        self.late_count = 0
        self._closed_through = watermark_ms  # every window with end + grace <= this has been emitted
        self._index: dict[int, list[str]] = {}  # pane start -> series keys with a pane there
        self._next_deadline: int | None = None
        self._ready: list[ClosedBar] = []
        self._closing: _Closing | None = None  # windows closed whose bars are not all computed yet
        # Per pane start, each spec's window starts and first end; per (pane start, closed end), the windows
        # current_stats reads. Every series of a partition hits the same few entries for an interval.
        self._spans: dict[int, tuple[tuple[WindowSpec, range, int], ...]] = {}
        self._targets: dict[tuple[int, int | None], tuple[tuple[str, int, int], ...]] = {}
        if self.specs and watermark_ms is not None:
            for start_ms, key in self.store.pane_keys():
                self._index.setdefault(start_ms, []).append(key)
            if closing is None:
                self._next_deadline = self._earliest_deadline()
            else:  # the same windows and series again: their panes were kept as they were (see add, prune)
                lower, upper, done = closing
                assert upper is not None and done is not None
                self._closed_through = lower
                self._close(upper)
                if self._closing is not None:
                    self._closing.done = done

    # -- windows of an event ------------------------------------------------------------------------
    def _closed_end(self) -> int | None:
        """Windows with ``end <=`` this are closed."""
        return None if self.watermark_ms is None else self.watermark_ms - self.grace_ms

    def _listed_end(self) -> int | None:
        """Windows with ``end <=`` this have been listed for closing (their bars are out or to come)."""
        return None if self._closed_through is None else self._closed_through - self.grace_ms

    def _spans_of(self, pane_start: int) -> tuple[tuple[WindowSpec, range, int], ...]:
        """Per spec: the spec, the starts of its windows that contain the pane, the end of the first one."""
        spans = self._spans.get(pane_start)
        if spans is None:
            if len(self._spans) >= _SPAN_CACHE:
                self._spans.clear()
            spans = tuple(
                (spec, starts, starts[0] + spec.size_ms)
                for spec in self.specs
                for starts in (_windows_containing(spec, pane_start),)
            )
            self._spans[pane_start] = spans
        return spans

    def windows_of(self, event_ms: int) -> list[tuple[WindowSpec, int, int, bool]]:
        """Every window of ``event_ms``: (spec, start, end, closed)."""
        closed_end = self._closed_end()
        return [
            (spec, start, end, closed_end is not None and end <= closed_end)
            for spec in self.specs
            for start, end in spec.windows(event_ms)
        ]

    def add(
        self,
        key: str,
        event_ms: int,
        interval_ms: int,
        value: float,
        fields: Mapping[str, Any] | None = None,
        offset: int = -1,
    ) -> AddResult:
        """Add one event (``event_ms`` = its interval start) to its pane, for the windows still open.

        ``offset`` (the input record's offset) makes the add idempotent: a pane that already holds it
        ignores it. When the event moves the watermark past a window's end + grace, the window closes now;
        its bar is returned by the next :meth:`close_ready`.
        """
        if not self.specs:
            self._advance(event_ms)
            return _NO_WINDOWS
        pane_start = event_ms - event_ms % self.pane_ms
        closed_end = self._closed_end()
        accepted = 0
        late: list[LateWindow] = []
        deadline: int | None = None
        for spec, starts, first_end in self._spans_of(pane_start):
            if closed_end is None or first_end > closed_end:  # every window of the event is open
                accepted += len(starts)
                if deadline is None or first_end < deadline:
                    deadline = first_end
                continue
            assert self.watermark_ms is not None
            for start in starts:
                end = start + spec.size_ms
                if end <= closed_end:
                    late.append(LateWindow(spec.name, start, end, self.watermark_ms))
                else:
                    accepted += 1
                    if deadline is None or end < deadline:
                        deadline = end
        if accepted:
            if self._closing is not None and pane_start < self._closing.last_end:
                self._drain()  # the pane is in a window whose bar is not computed yet
            group = self.store.panes_of(key)
            pane = group.get(pane_start)
            if pane is None:
                pane = Pane(pane_start, utc_offset_min(fields) if fields else 0)
                self._index.setdefault(pane_start, []).append(key)
            if pane.add(event_ms, interval_ms, value, pane_start + self.pane_ms, offset):
                self.store.put_pane(key, pane)
                recent = getattr(group, "recent", None)
                if recent is not None:
                    recent.put(pane)
            assert deadline is not None
            deadline += self.grace_ms
            if self._next_deadline is None or deadline < self._next_deadline:
                self._next_deadline = deadline
        if late:
            self.late_count += 1
            logger.debug("late event key=%s event_ms=%s windows=%d", key, event_ms, len(late))
        self._advance(event_ms)
        return AddResult(accepted, tuple(late))

    def _advance(self, event_ms: int) -> None:
        if self.watermark_ms is None or event_ms > self.watermark_ms:
            self.watermark_ms = event_ms
            if self._next_deadline is not None and self._next_deadline <= event_ms:
                self._close(event_ms)

    # -- closing --------------------------------------------------------------------------------------
    def _earliest_deadline(self) -> int | None:
        closed_end = self._listed_end()
        best: int | None = None
        for pane_start in self._index:
            for spec in self.specs:
                for start in _windows_containing(spec, pane_start):
                    end = start + spec.size_ms
                    if closed_end is not None and end <= closed_end:
                        continue
                    if best is None or end < best:
                        best = end
                    break  # starts ascend, so the first open one has the smallest end
        return None if best is None else best + self.grace_ms

    def _close(self, watermark_ms: int | None) -> None:
        """Close every window with ``end + grace`` in ``(closed_through, watermark]`` (all when None). Their
        bars are computed by :meth:`close_ready` (some of them, if it is given a limit)."""
        self._drain()
        upper = None if watermark_ms is None else watermark_ms - self.grace_ms
        lower = self._listed_end()
        closing: set[tuple[int, int, int]] = set()  # (end, spec index, start)
        for pane_start in self._index:
            for i, spec in enumerate(self.specs):
                for start in _windows_containing(spec, pane_start):
                    end = start + spec.size_ms
                    if (upper is None or end <= upper) and (lower is None or end > lower):
                        closing.add((end, i, start))
        # Per series (in key order), the closing windows it has panes in: each series' panes are read once.
        windows = sorted(closing)
        pane_ms = self.pane_ms
        index = self._index
        wanted: dict[str, list[int]] = {}
        for n, (end, _, start) in enumerate(windows):
            for key in chain.from_iterable(index.get(p, ()) for p in range(start, end, pane_ms)):
                of_key = wanted.get(key)
                if of_key is None:
                    wanted[key] = [n]
                elif of_key[-1] != n:
                    of_key.append(n)
        if windows:
            self._closing = _Closing(self._closed_through, watermark_ms, windows, sorted(wanted.items()))
        if watermark_ms is not None:
            self._closed_through = watermark_ms
            self._next_deadline = self._earliest_deadline()
        else:
            self._next_deadline = None
            self._drain()

    def _compute(self, limit: int | None) -> None:
        """Combine the bars of the next series still to do, until at least ``limit`` (None: all) are made.

        The bars of one call come out in closing order: by window (end, spec, start), then series."""
        closing = self._closing
        if closing is None:
            return
        series, windows, done = closing.series, closing.windows, closing.done
        pane_ms = self.pane_ms
        read_panes = self.store.read_panes
        specs = self.specs
        made = 0
        bars: list[tuple[int, str, Bar]] = []
        while done < len(series) and (limit is None or made < limit):
            key, closing_of_key = series[done]
            done += 1
            group = read_panes(key)
            for n in closing_of_key:
                end, i, start = windows[n]
                panes = [pane for pane in map(group.get, range(start, end, pane_ms)) if pane is not None]
                if panes:
                    bars.append((n, key, combine(specs[i].name, start, end, panes)))
            made += len(closing_of_key)
        bars.sort(key=_closing_order)
        self._ready.extend(ClosedBar(key, bar) for _, key, bar in bars)
        closing.done = done
        if done == len(series):
            self._closing = None

    def _drain(self) -> None:
        self._compute(None)

    @property
    def has_pending(self) -> bool:
        """Whether closed windows have bars still to compute (see :meth:`close_ready`)."""
        return self._closing is not None

    @property
    def closing_state(self) -> list[int | None] | None:
        """What a restarted tracker needs to compute the rest of them: ``closing`` of the constructor."""
        closing = self._closing
        return None if closing is None else [closing.lower, closing.upper, closing.done]

    @property
    def pending_bars(self) -> int:
        """Bars of closed windows not computed yet."""
        closing = self._closing
        return 0 if closing is None else sum(len(w) for _, w in closing.series[closing.done :])

    def close_ready(self, limit: int | None = None) -> list[ClosedBar]:
        """The bars of windows closed since the last call, in closing order, each exactly once; with
        ``limit``, about that many more are computed now (whole series) and the rest wait for a later call."""
        self._compute(limit)
        ready, self._ready = self._ready, []
        return ready

    def flush(self) -> list[ClosedBar]:
        """Close every window that has data (the end of a finite replay)."""
        self._close(None)
        self.prune(None)
        return self.close_ready()

    def prune(self, durable_watermark_ms: int | None) -> int:
        """Delete the panes of which every window closed by ``durable_watermark_ms`` (None: all of them).

        Returns how many panes were deleted."""
        if durable_watermark_ms is not None and self._closing is not None:
            # Not the panes of a window whose bars are still to be computed: they are computed from them, and
            # a restarted tracker finds the same windows and series from them.
            first_end = self._closing.windows[0][0]
            durable_watermark_ms = min(durable_watermark_ms, first_end + self.grace_ms - 1)
        deleted = 0
        for pane_start in sorted(self._index):
            if durable_watermark_ms is not None:
                last_end = max(
                    _windows_containing(spec, pane_start)[-1] + spec.size_ms for spec in self.specs
                )
                if last_end + self.grace_ms > durable_watermark_ms:
                    break  # a later pane's last window ends no earlier: nothing after this one goes either
            for key in self._index.pop(pane_start):
                self.store.delete_pane(key, pane_start)
                deleted += 1
        return deleted

    # -- context for enriched records -----------------------------------------------------------------
    def current_stats(self, key: str, event_ms: int) -> list[WindowStats]:
        """Per spec, the running statistics of the open window of ``event_ms`` that closes first."""
        if not self.specs:
            return []
        closed_end = self._closed_end()
        pane_start = event_ms - event_ms % self.pane_ms
        targets = self._targets.get((pane_start, closed_end))
        if targets is None:
            found: list[tuple[str, int, int]] = []
            for spec, starts, _ in self._spans_of(pane_start):
                for start in starts:
                    end = start + spec.size_ms
                    if closed_end is None or end > closed_end:
                        found.append((spec.name, start, end))
                        break
            if len(self._targets) >= _SPAN_CACHE:
                self._targets.clear()
            targets = self._targets[(pane_start, closed_end)] = tuple(found)
        group = self.store.panes_of(key)
        recent = self._recent(group)
        out = []
        for name, start, end in targets:
            stats = False if recent is None else recent.stats(name, start, end)
            if stats is False:  # reaches before the recent panes: from the panes themselves
                panes = list(filter(None, map(group.get, range(start, end, self.pane_ms))))
                stats = window_stats(name, start, end, panes) if panes else None
            if stats is not None:
                assert isinstance(stats, WindowStats)
                out.append(stats)
        return out

    def _recent(self, group: Mapping[int, Pane]) -> RecentPanes | None:
        """The group's :class:`RecentPanes`, built from its panes the first time."""
        if not isinstance(group, PaneGroup):
            return None
        if group.recent is None:
            recent = group.recent = RecentPanes(self.pane_ms, self._recent_slots)
            for start in sorted(group):
                recent.put(group[start])
        return group.recent

    # -- introspection --------------------------------------------------------------------------------
    def open_pane_count(self) -> int:
        return sum(len(keys) for keys in self._index.values())

    def open_window_count(self) -> int:
        """(series, window) pairs with data that have not closed yet."""
        return count_open_windows(self.open_window_snapshot())

    def open_window_snapshot(self) -> OpenWindows:
        """What :func:`count_open_windows` needs, copied, so that it can count in another thread while the
        tracker goes on (counting a 2,000-series partition took 25 ms of the event loop)."""
        closed_end = self._listed_end()
        index = {start: tuple(keys) for start, keys in self._index.items()}
        return OpenWindows(self.specs, self.pane_ms, closed_end, index)
