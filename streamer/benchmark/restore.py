"""How long a worker on an empty data dir takes to rebuild its state from the changelog.

1. A first worker processes a backlog that leaves about ``keys`` entries in its state (one revision entry per
   valid event, plus series summaries and open panes), and its offsets are committed.
2. It is SIGKILLed. The changelog is read to count the live keys a restore must load.
3. A handful of new messages is produced, and a fresh worker starts on an empty data dir with the same static
   membership id (so it takes the partitions back at once, without waiting out the dead one's session).
4. Measured from its launch: until ``/readyz`` answers 200 (changelog recovery done) and until its first
   output (it can only process the new messages after the restore); the restore time is the earlier. The
   first worker's own time to ``/readyz`` on an empty changelog is reported as the start-up baseline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.admin import create_topics
from streamer.benchmark.cleanup import retire_topics
from streamer.benchmark.loader import load_backlog
from streamer.benchmark.processes import Child, status_kib
from streamer.benchmark.variants import Variant, wait_ready
from streamer.benchmark.watch import OutputWatcher
from streamer.benchmark.workload import Workload
from streamer.changelog_restore import ChangelogRestore
from streamer.errors import BenchmarkError
from streamer.kafka_security import aiokafka_options
from streamer.pipeline import STATE_TABLE
from streamer.settings import Settings
from streamer.state.store import Change
from streamer.topics import Kind

__all__ = ["count_live_keys", "run_restore"]

_PROBE_MESSAGES = 100


async def _committed_everything(settings: Settings, timeout_s: float) -> None:
    """Wait until the worker's group committed every raw partition up to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
        **aiokafka_options(settings.kafka_security),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.raw(k), p) for k in Kind for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while True:
            behind = [tp for tp in tps if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"offsets of {len(behind)} raw partitions not committed in {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def count_live_keys(settings: Settings, topic: str, partitions: int) -> tuple[int, int]:
    """(records, live keys) of a changelog topic: keys whose last record is not a tombstone. Read with the
    worker's own bulk restore reader, each fetch counted instead of written."""
    live: dict[tuple[int, bytes], bool] = {}
    records = 0

    def count(partition: int, changes: list[Change], _offset: int) -> None:
        nonlocal records
        records += len(changes)
        for key, value in changes:
            live[(partition, key)] = value is not None

    options = {"bootstrap_servers": settings.bootstrap, **aiokafka_options(settings.kafka_security)}
    # the table's partitions are the raw topics'
    await ChangelogRestore(options, count).run(topic, dict.fromkeys(range(partitions)))
    return records, sum(live.values())


def _start(children: Sequence[Child]) -> float:
    started = time.monotonic()
    for child in children:
        child.start()
    return started


async def run_restore(
    base: Settings, workload: Workload, keys: int, *, run_id: str, work: Path, timeout_s: float
) -> dict[str, Any]:
    """The run's section of the results; its topics are deleted after it (streamer.benchmark.cleanup)."""
    prefix = f"bench-{run_id}.restore."
    settings = replace(
        base,
        topic_prefix=prefix,
        app_id=f"{prefix}app",
        partitions=workload.partitions,
        instance_id=f"{prefix}worker",
    )
    try:
        return await _restore(settings, workload, keys, work, timeout_s)
    finally:
        await retire_topics(settings)


async def _restore(
    settings: Settings, workload: Workload, keys: int, work: Path, timeout_s: float
) -> dict[str, Any]:
    events = math.ceil(keys / max(0.5, 1.0 - workload.corrupt_rate))
    variant = Variant("restore", "streamer", 1)
    await create_topics(settings, variant.topic_plan(settings))
    outputs = variant.output_topics(settings)
    feed = workload.messages(events + _PROBE_MESSAGES)
    loaded, load_s = await load_backlog(settings, islice(feed, events))

    first = variant.children(settings, work / "first")
    async with OutputWatcher(settings, outputs, settings.partitions, first[0].pids) as watcher:
        started = _start(first)
        try:
            baseline_ready_s = await wait_ready(first, timeout_s) - started
            await watcher.until(loaded, timeout_s, lambda: None if first[0].alive else first[0].exit_reason())
            fill_s = time.monotonic() - started
            first_peak_kib = status_kib(first[0].pids(), "VmHWM")
            await _committed_everything(settings, timeout_s)
        finally:
            first[0].kill()
    changelog = f"{settings.app_id}-{STATE_TABLE}-changelog"
    records, live = await count_live_keys(settings, changelog, settings.partitions)

    probe, _ = await load_backlog(settings, feed)
    fresh = variant.children(settings, work / "fresh")
    async with OutputWatcher(settings, outputs, settings.partitions, fresh[0].pids) as watcher:
        started = _start(fresh)
        ready = asyncio.create_task(wait_ready(fresh, timeout_s))
        try:
            first_output = await watcher.until(
                1, timeout_s, lambda: None if fresh[0].alive else fresh[0].exit_reason()
            )
            ready_s = await ready - started
            peak_kib = status_kib(fresh[0].pids(), "VmHWM")
        finally:
            ready.cancel()
            fresh[0].kill()
    if probe < 1:
        raise BenchmarkError("no probe messages were produced after the kill")
    return {
        "workload": {**workload.describe(), "events": loaded},
        "target_keys": keys,
        "state_keys": live,
        "changelog_records": records,
        "backlog_load_s": round(load_s, 1),
        "fill_s": round(fill_s, 1),
        "first_worker_peak_rss_mib": round(first_peak_kib / 1024, 1),
        "baseline_ready_s": round(baseline_ready_s, 2),
        # Recovery is over at the first of the two: no output comes before it (/readyz follows a 1 s timer).
        "restore_s": round(min(ready_s, first_output.t_s - started), 2),
        "restore_ready_s": round(ready_s, 2),
        "restore_first_output_s": round(first_output.t_s - started, 2),
        "restored_worker_peak_rss_mib": round(peak_kib / 1024, 1),
    }
