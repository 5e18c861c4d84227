"""The event-loop lag of streamer workers over one phase of a benchmark, read from their ``/metrics``.

A latency phase's p99 says how late outputs were, not why. The workers' own histogram of how late their
loop woke (``streamer_event_loop_lag_seconds``, see :mod:`streamer.loop_watch`) tells the two apart: a lag
tail as long as the latency tail means the records waited for the worker's loop; a short one means they
waited elsewhere (the broker, the machine). Read before and after the phase, its difference is the phase's.
A histogram keeps buckets, not samples, so its quantiles are bucket bounds: "at most".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["LoopSample", "loop_lag_over", "parse_loop_sample", "scrape_loop_lag"]

LAG = "streamer_event_loop_lag_seconds"
STALLS = "streamer_event_loop_stalls_total"


@dataclass(frozen=True, slots=True)
class LoopSample:
    """Cumulative counts per bucket bound (seconds, ``inf`` last) and stalls, summed over workers."""

    buckets: Mapping[float, float] = field(default_factory=dict)
    stalls: float = 0.0

    def __add__(self, other: LoopSample) -> LoopSample:
        bounds = set(self.buckets) | set(other.buckets)
        summed = {b: self.buckets.get(b, 0.0) + other.buckets.get(b, 0.0) for b in bounds}
        return LoopSample(summed, self.stalls + other.stalls)


def parse_loop_sample(exposition: str) -> LoopSample:
    """The loop metrics of one worker's ``/metrics`` text (empty when it has none)."""
    buckets: dict[float, float] = {}
    stalls = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == f"{LAG}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name == STALLS:
                stalls = sample.value
    return LoopSample(buckets, stalls)


async def scrape_loop_lag(ports: Iterable[int], host: str = "127.0.0.1") -> LoopSample:
    """The loop metrics of the workers serving on ``ports``, summed."""
    total = LoopSample()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for port in ports:
            async with session.get(f"http://{host}:{port}/metrics") as response:
                response.raise_for_status()
                total = total + parse_loop_sample(await response.text())
    return total


def _bound_ms(bound: float) -> float | None:
    return None if math.isinf(bound) else round(bound * 1000, 1)


def loop_lag_over(before: LoopSample, after: LoopSample) -> dict[str, Any]:
    """What the loop did between two samples: its wake-ups, the bucket bounds its p99 and its longest lag
    fall under (None: above the last bound), and the stalls logged."""
    bounds = sorted(after.buckets)
    counts = [after.buckets[b] - before.buckets.get(b, 0.0) for b in bounds]
    wakes = counts[-1] if counts else 0.0
    out: dict[str, Any] = {"wakes": int(wakes), "stalls": int(after.stalls - before.stalls)}
    if wakes <= 0:
        return out | {"p99_ms_at_most": None, "max_ms_at_most": None}
    p99 = next(b for b, n in zip(bounds, counts, strict=True) if n >= 0.99 * wakes)
    longest = next(b for b, n in zip(bounds, counts, strict=True) if n >= wakes)
    return out | {"p99_ms_at_most": _bound_ms(p99), "max_ms_at_most": _bound_ms(longest)}
