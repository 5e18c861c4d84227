"""Price spikes by a robust rolling median and MAD (Hampel filter).

Per key, the trailing window holds the last ``window_n`` values *before* the current one (the current value
never judges itself). ``score = |x - median| / scale`` with ``scale = 1.4826 * MAD`` floored at
``max(rel_scale_floor * |median|, abs_scale_floor)``: flat prices give MAD = 0, and a floor keeps an ordinary
move off a flat stretch from scoring infinity. A median/MAD stays put during a run of spikes, unlike an EWMA
z-score whose variance inflates after the first spike and hides the rest.

``learn_from_spikes`` (default True) lets flagged values enter the history too. Then a regime change (a long
run of high prices) stops being flagged once it fills half the window; with False it would be flagged forever.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streamer.detectors.base import Anomaly, AnomalyType, Severity

__all__ = ["SpikeConfig", "SpikeDetector", "median_mad"]

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    window_n: int = 336  # a week of half-hourly intervals
    min_history: int = 48  # stay quiet until this many values are known
    threshold: float = 6.0  # score at which a value is a spike (warning)
    critical_threshold: float = 20.0  # score at which a spike is critical
    rel_scale_floor: float = 0.05  # scale >= 5% of |median|
    abs_scale_floor: float = 1.0  # scale >= 1 price unit
    learn_from_spikes: bool = True

    def __post_init__(self) -> None:
        if self.window_n < 3 or not 1 <= self.min_history <= self.window_n:
            raise ValueError("need window_n >= 3 and 1 <= min_history <= window_n")
        if not 0 < self.threshold <= self.critical_threshold:
            raise ValueError("need 0 < threshold <= critical_threshold")


def _median_sorted(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    if n % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2.0


def _kth_deviation(values: list[float], split: int, median: float, k: int) -> float:
    """The k-th smallest (0-based) ``|x - median|`` of an ascending list, in O(log n).

    Deviations left of ``split`` (``median - values[split-1-j]``) and from ``split`` on
    (``values[split+j] - median``) are two ascending sequences; binary-search how many of the k+1 smallest
    come from the left one.
    """
    n_left, n_right = split, len(values) - split
    lo, hi = max(0, k + 1 - n_right), min(k + 1, n_left)
    while lo < hi:
        take = (lo + hi) // 2
        rest = k + 1 - take
        if rest > 0 and median - values[split - 1 - take] < values[split + rest - 1] - median:
            lo = take + 1
        else:
            hi = take
    rest = k + 1 - lo
    left = median - values[split - lo] if lo > 0 else -1.0
    right = values[split + rest - 1] - median if rest > 0 else -1.0
    return max(left, right)


def median_mad(sorted_values: list[float]) -> tuple[float, float]:
    """Median and median absolute deviation of an ascending list (not empty)."""
    median = _median_sorted(sorted_values)
    n = len(sorted_values)
    split = bisect.bisect_left(sorted_values, median)
    mad = _kth_deviation(sorted_values, split, median, (n - 1) // 2)
    if n % 2 == 0:
        mad = (mad + _kth_deviation(sorted_values, split, median, n // 2)) / 2.0
    return median, mad


CHUNK = 48  # values per persisted chunk of history


class _History:
    __slots__ = ("chunk", "fifo", "filled", "n", "ordered", "tail")

    def __init__(self, window_n: int, chunk: int) -> None:
        self.fifo: deque[float] = deque(maxlen=window_n)
        self.ordered: list[float] = []
        self.chunk = chunk
        self.n = 0  # values ever pushed
        self.tail: list[float] = []  # values since the last full chunk
        self.filled: list[tuple[int, list[float]]] = []  # (chunk number, values) not handed over yet

    def push(self, value: float) -> None:
        if len(self.fifo) == self.fifo.maxlen:
            oldest = self.fifo[0]
            del self.ordered[bisect.bisect_left(self.ordered, oldest)]
        self.fifo.append(value)
        bisect.insort(self.ordered, value)
        self.n += 1
        self.tail.append(value)
        if len(self.tail) == self.chunk:
            self.filled.append((self.n // self.chunk - 1, self.tail))
            self.tail = []


class SpikeDetector:
    """Spike detection per key. Persisted as a small head (the count and the values since the last full
    chunk, rewritten with every value) plus full chunks of (up to) :data:`CHUNK` values written once each,
    in a ring of :attr:`slots`, so a value costs a few bytes of writes instead of the whole window."""

    type = AnomalyType.PRICE_SPIKE

    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = config or SpikeConfig()
        self._state: dict[str, _History] = {}
        self.chunk = min(CHUNK, self.config.window_n)
        self.slots = self.config.window_n // self.chunk + 2

    def score(self, key: str, value: float) -> tuple[float, float, float, float] | None:
        """``(score, median, mad, scale)`` of ``value`` against ``key``'s history; None while too short."""
        history = self._state.get(key)
        cfg = self.config
        if history is None or len(history.ordered) < cfg.min_history:
            return None
        median, mad = median_mad(history.ordered)
        scale = max(MAD_TO_SIGMA * mad, cfg.rel_scale_floor * abs(median), cfg.abs_scale_floor)
        return abs(value - median) / scale, median, mad, scale

    def observe_scored(
        self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]
    ) -> tuple[list[Anomaly], tuple[float, float, float, float] | None]:
        """:meth:`observe`, and the score it judged ``value`` by (for the enriched record)."""
        cfg = self.config
        scored = self.score(key, value)
        found: list[Anomaly] = []
        if scored is not None and scored[0] >= cfg.threshold:
            score, median, mad, scale = scored
            severity = Severity.CRITICAL if score >= cfg.critical_threshold else Severity.WARNING
            context = {"median": median, "mad": mad, "scale": scale, "value": value}
            found.append(Anomaly(key, self.type, severity, score, event_ms, context))
        if not found or cfg.learn_from_spikes:
            history = self._state.get(key)
            if history is None:
                history = self._state[key] = _History(cfg.window_n, self.chunk)
            history.push(value)
        return found, scored

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        return self.observe_scored(key, event_ms, value, fields)[0]

    def tick(self, now_ms: int) -> list[Anomaly]:
        return []

    def dump_key(self, key: str) -> Any:
        """The head: ``[values ever pushed, values since the last full chunk]``, or None if none."""
        history = self._state.get(key)
        return None if history is None else [history.n, history.tail]

    def take_chunks(self, key: str) -> list[tuple[int, bytes]]:
        """``(slot, bytes)`` of every chunk filled since the last call, to persist once each."""
        history = self._state.get(key)
        if history is None or not history.filled:
            return []
        out = [(number % self.slots, array("d", values).tobytes()) for number, values in history.filled]
        history.filled = []
        return out

    def load_key(self, key: str, head: Any, read_chunk: Callable[[int], bytes | None] | None = None) -> None:
        """Restore ``key`` from :meth:`dump_key` output and its chunks (``read_chunk(slot)``)."""
        n, tail = int(head[0]), [float(v) for v in head[1]]
        window_n = self.config.window_n
        full = n // self.chunk
        first = max(0, full - -(-(window_n - len(tail)) // self.chunk))
        values: list[float] = []
        for chunk in range(first, full):
            data = read_chunk(chunk % self.slots) if read_chunk is not None else None
            values.extend(array("d", data) if data else [math.nan] * self.chunk)
        values.extend(tail)
        history = _History(window_n, self.chunk)
        for value in values[-window_n:]:
            if not math.isnan(value):
                history.push(value)
        history.n, history.tail, history.filled = n, tail, []
        self._state[key] = history

    def forget(self, key: str) -> None:
        self._state.pop(key, None)

    def window(self, key: str) -> list[float]:
        """The values ``key`` is judged against, oldest first."""
        history = self._state.get(key)
        return [] if history is None else list(history.fifo)
