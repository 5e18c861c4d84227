"""The arithmetic of a benchmark run: steady windows, rates, CPU per event, percentiles. Pure, no I/O.

A run is watched as a list of :class:`Sample`: at time ``t_s`` the variant had written ``outputs`` primary
outputs and its processes had used ``cpu_s`` seconds of CPU. Everything reported is computed from those.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

__all__ = [
    "LatencySummary",
    "Sample",
    "SteadyWindow",
    "cpu_at",
    "fitted_last_vs_first",
    "percentile",
    "segment_cpu_us",
    "segment_rates",
    "segment_shares",
    "steady_window",
    "summarize_latencies",
    "time_at",
]


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float  # monotonic seconds
    outputs: int  # primary outputs written so far
    cpu_s: float = 0.0  # CPU (user + system) used by the variant's processes so far
    by_topic: tuple[int, ...] = ()  # ``outputs`` split by watched topic, in the watcher's topic order
    broker_cpu_s: float = 0.0  # CPU used by the broker's process so far (0.0 when it is not ours to see)


@dataclass(frozen=True, slots=True)
class SteadyWindow:
    """From the first output seen (after the backlog was produced) to the ``total``-th."""

    start: Sample
    end: Sample
    total: int

    @property
    def events(self) -> int:
        return self.total - self.start.outputs

    @property
    def seconds(self) -> float:
        return self.end.t_s - self.start.t_s

    @property
    def events_per_s(self) -> float | None:
        if self.seconds <= 0 or self.events <= 0:
            return None
        return self.events / self.seconds

    @property
    def cpu_us_per_event(self) -> float | None:
        if self.events <= 0:
            return None
        return (self.end.cpu_s - self.start.cpu_s) * 1e6 / self.events

    @property
    def cpu_cores(self) -> float | None:
        """Average cores the processes used over the window."""
        if self.seconds <= 0:
            return None
        return (self.end.cpu_s - self.start.cpu_s) / self.seconds


def steady_window(samples: Sequence[Sample], total: int, produced_at_s: float | None = None) -> SteadyWindow:
    """The window from the first sample with outputs (taken once the backlog was fully produced, if it was
    produced while the variant ran) to the first sample with ``total`` outputs.

    When the first output sample already holds every output (a tiny run between two polls), the window
    starts at the sample before it instead, so a rate can still be given. Raises ValueError if the samples
    never reach ``total``.
    """
    if total < 1:
        raise ValueError("total must be at least 1")
    end_i = next((i for i, s in enumerate(samples) if s.outputs >= total), None)
    if end_i is None:
        raise ValueError(f"the samples never reach {total} outputs")
    after = produced_at_s if produced_at_s is not None else -math.inf
    start_i = next(i for i, s in enumerate(samples) if (s.outputs > 0 and s.t_s >= after) or i == end_i)
    if start_i == end_i and start_i > 0:
        start_i -= 1
    return SteadyWindow(samples[start_i], samples[end_i], total)


def time_at(samples: Sequence[Sample], outputs: float) -> float:
    """When the run reached ``outputs``, interpolated linearly between the two samples around it."""
    return _at(samples, outputs, "t_s")


def cpu_at(samples: Sequence[Sample], outputs: float) -> float:
    """CPU seconds used when the run reached ``outputs``, interpolated as :func:`time_at`."""
    return _at(samples, outputs, "cpu_s")


def _at(samples: Sequence[Sample], outputs: float, value: Callable[[Sample], float] | str) -> float:
    """``value`` of the run (a field name, or a function of a sample) when it reached ``outputs``,
    interpolated linearly between the two samples around it."""
    read = value if callable(value) else attrgetter(value)
    if not samples:
        raise ValueError("no samples")
    if outputs <= samples[0].outputs:
        return float(read(samples[0]))
    for before, after in itertools.pairwise(samples):
        if after.outputs >= outputs:
            low, high = read(before), read(after)
            if after.outputs == before.outputs:
                return float(high)
            share = (outputs - before.outputs) / (after.outputs - before.outputs)
            return float(low + share * (high - low))
    raise ValueError(f"the samples never reach {outputs} outputs")


def segment_rates(samples: Sequence[Sample], total: int, parts: int = 10) -> list[float | None]:
    """Events/s over each ``1/parts`` of ``total`` outputs: the first tenth, the second, ... the last.

    The first part starts at the first output seen, so process start-up is not in it."""
    bounds = _segment_bounds(samples, total, parts)
    times = [time_at(samples, b) for b in bounds]
    rates: list[float | None] = []
    for k in range(parts):
        seconds = times[k + 1] - times[k]
        rates.append((bounds[k + 1] - bounds[k]) / seconds if seconds > 0 else None)
    return rates


def segment_cpu_us(
    samples: Sequence[Sample], total: int, parts: int = 10, field: str = "cpu_s"
) -> list[float]:
    """CPU microseconds per event over each part of :func:`segment_rates`: a run that slows down while its
    CPU per event stays flat is waiting (on the broker, on other processes), not doing more work.
    ``field="broker_cpu_s"``: the broker's CPU per event instead of the variant's."""
    bounds = _segment_bounds(samples, total, parts)
    cpu = [_at(samples, b, field) for b in bounds]
    return [(cpu[k + 1] - cpu[k]) * 1e6 / (bounds[k + 1] - bounds[k]) for k in range(parts)]


def segment_shares(samples: Sequence[Sample], total: int, parts: int = 10) -> list[list[float]]:
    """Each watched topic's share of the outputs written in each part of :func:`segment_rates`.

    A backlog of several raw topics is not consumed in the order it was fed: the consumer fetches every
    partition at once, so a small topic is drained early, and the parts of a run then differ in what they
    processed, not only in when. Interpolated between samples as the rates are."""
    bounds = _segment_bounds(samples, total, parts)

    def written_to(topic: int) -> Callable[[Sample], float]:
        return lambda sample: sample.by_topic[topic]

    readers = [written_to(topic) for topic in range(len(samples[-1].by_topic))]
    at = [[_at(samples, b, read) for read in readers] for b in bounds]
    shares: list[list[float]] = []
    for before, after in itertools.pairwise(at):
        written = [b - a for a, b in zip(before, after, strict=True)]
        whole = sum(written)
        shares.append([w / whole if whole else 0.0 for w in written])
    return shares


def fitted_last_vs_first(rates: Sequence[float | None]) -> float | None:
    """The last part's rate over the first's, both read off a least-squares line through every part.

    A trend, not two samples: on a noisy machine single tenths of one run swung by 15% each way with no trend
    in the code (in process, profiled), and the plain last/first ratio then says more about two moments of the
    machine than about the worker."""
    known = [(k, r) for k, r in enumerate(rates) if r is not None]
    if len(known) < 2:
        return None
    slope, intercept = statistics.linear_regression([k for k, _ in known], [r for _, r in known])
    first = intercept
    last = intercept + slope * (len(rates) - 1)
    return last / first if first > 0 else None


def _segment_bounds(samples: Sequence[Sample], total: int, parts: int) -> list[float]:
    if parts < 1:
        raise ValueError("parts must be at least 1")
    first = next((s for s in samples if s.outputs > 0), None)
    if first is None:
        raise ValueError("no outputs in the samples")
    return [first.outputs + (total - first.outputs) * k / parts for k in range(parts + 1)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, interpolated linearly between ranks."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be within [0, 100]")
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "p50_ms": round(self.p50_ms, 1),
            "p90_ms": round(self.p90_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "max_ms": round(self.max_ms, 1),
        }


def summarize_latencies(latencies_ms: Sequence[float]) -> LatencySummary | None:
    if not latencies_ms:
        return None
    ordered = sorted(latencies_ms)
    return LatencySummary(
        len(ordered),
        percentile(ordered, 50),
        percentile(ordered, 90),
        percentile(ordered, 99),
        ordered[-1],
    )
