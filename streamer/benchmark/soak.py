"""One streamer worker through a long backlog: its rate per tenth of the backlog and its RSS over the run.

Two measurements use it:

- ``soak`` ("no slowdown with time"): a few hundred series over many intervals (7 days of 5-minute data), so
  state that grows with event time shows as a falling rate and a rising RSS;
- ``memory``: very many series (100k) over a few intervals on many partitions, so state that grows with the
  number of series shows in the RSS.

The backlog is produced before the worker starts; the tenths are counted from its first output. After the
run, the state changelog is read once: its records against its live keys are what compaction left for a
restore to read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from streamer.admin import create_topics
from streamer.benchmark.cleanup import retire_topics
from streamer.benchmark.loader import load_backlog
from streamer.benchmark.processes import status_kib
from streamer.benchmark.reference import REFERENCE_MESSAGES, reference_us_per_event
from streamer.benchmark.restore import count_live_keys
from streamer.benchmark.stats import (
    fitted_last_vs_first,
    segment_cpu_us,
    segment_rates,
    segment_shares,
    steady_window,
)
from streamer.benchmark.variants import Variant
from streamer.benchmark.watch import MemorySample, OutputWatcher
from streamer.benchmark.workload import Workload
from streamer.errors import BenchmarkError
from streamer.pipeline import STATE_TABLE
from streamer.settings import Settings

__all__ = ["rss_by_tenth", "run_soak"]

_RSS_EVERY_S = 1.0


def rss_by_tenth(memory: list[MemorySample], total: int, parts: int = 10) -> list[float | None]:
    """The RSS (MiB) sampled last before each ``1/parts`` of ``total`` outputs was reached."""
    out: list[float | None] = []
    for k in range(1, parts + 1):
        bound = total * k / parts
        before = [m for m in memory if m.outputs <= bound]
        out.append(round(before[-1].rss_kib / 1024, 1) if before else None)
    return out


async def run_soak(
    base: Settings,
    workload: Workload,
    intervals: int,
    *,
    run_id: str,
    work: Path,
    timeout_s: float,
    label: str,
    broker_pid: int | None = None,
) -> dict[str, Any]:
    """The run's section of the results; its topics are deleted after it (streamer.benchmark.cleanup)."""
    prefix = f"bench-{run_id}.{label}."
    settings = replace(base, topic_prefix=prefix, app_id=f"{prefix}app", partitions=workload.partitions)
    try:
        return await _soak(settings, workload, intervals, work, timeout_s, label, broker_pid)
    finally:
        await retire_topics(settings)


async def _soak(
    settings: Settings,
    workload: Workload,
    intervals: int,
    work: Path,
    timeout_s: float,
    label: str,
    broker_pid: int | None,
) -> dict[str, Any]:
    count = workload.count_for_intervals(intervals)
    prefix = settings.topic_prefix
    variant = Variant(label, "streamer", 1)
    reference = list(workload.messages(min(count, REFERENCE_MESSAGES)))
    reference_before = reference_us_per_event(reference, settings)
    await create_topics(settings, variant.topic_plan(settings))
    loaded, load_s = await load_backlog(settings, workload.messages(count))
    (worker,) = variant.children(settings, work)

    def alive() -> str | None:
        return None if worker.alive else worker.exit_reason()

    outputs = variant.output_topics(settings)
    broker = [broker_pid] if broker_pid else []
    async with OutputWatcher(settings, outputs, settings.partitions, worker.pids, lambda: broker) as watcher:
        started = time.monotonic()
        worker.start()
        try:
            await watcher.until(loaded, timeout_s, alive, rss_every_s=_RSS_EVERY_S)
            peak_kib = status_kib(worker.pids(), "VmHWM")
            if not worker.alive:
                raise BenchmarkError(worker.exit_reason())
        finally:
            worker.kill()
    reference_after = reference_us_per_event(reference, settings)
    # What a restore of this worker would read: compaction keeps it near the live keys, however long it ran.
    changelog = f"{settings.app_id}-{STATE_TABLE}-changelog"
    records, live = await count_live_keys(settings, changelog, settings.partitions)
    window = steady_window(watcher.samples, loaded)
    tenths = segment_rates(watcher.samples, loaded, 10)
    rss = rss_by_tenth(watcher.memory, loaded)
    first, last = tenths[0], tenths[-1]
    fitted = fitted_last_vs_first(tenths)
    shares = segment_shares(watcher.samples, loaded, 10)
    known_rss = [r for r in rss if r is not None]
    return {
        "workload": {**workload.describe(), "intervals": intervals, "messages": loaded},
        "backlog_load_s": round(load_s, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "events_per_s": None if window.events_per_s is None else round(window.events_per_s),
        "cpu_us_per_event": None if window.cpu_us_per_event is None else round(window.cpu_us_per_event, 1),
        "tenths_events_per_s": [None if r is None else round(r) for r in tenths],
        "last_vs_first_tenth": round(last / first, 3) if first and last else None,
        "fitted_last_vs_first_tenth": None if fitted is None else round(fitted, 3),
        "tenths_cpu_us_per_event": [round(c, 1) for c in segment_cpu_us(watcher.samples, loaded, 10)],
        # The broker's CPU per event by tenth (on loopback it shares the cores: its log cleaner compacting
        # the changelog competes with the worker), None on an external broker.
        "tenths_broker_cpu_us_per_event": [
            round(c, 1) for c in segment_cpu_us(watcher.samples, loaded, 10, "broker_cpu_s")
        ]
        if broker
        else None,
        # What each tenth processed: a kind's share of its primary outputs (see segment_shares).
        "tenths_output_share": {
            topic.removeprefix(prefix): [round(part[i], 3) for part in shares]
            for i, topic in enumerate(outputs)
        },
        "rss_mib_by_tenth": rss,
        "rss_growth_mib": round(known_rss[-1] - known_rss[0], 1) if known_rss else None,
        "rss_max_step_mib": round(max(b - a for a, b in pairwise(known_rss)), 1)
        if len(known_rss) > 1
        else None,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        # The machine's speed before the run and after it (streamer.benchmark.reference): a last tenth that
        # is slower on a machine that got slower is not the worker slowing down with time.
        "reference_us_per_event": [round(reference_before, 1), round(reference_after, 1)],
        "changelog_records": records,
        "changelog_live_keys": live,
    }
