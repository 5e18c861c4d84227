"""The comparison: every variant on the same broker and the same messages, one after another.

For each variant, on fresh topics:

1. start its processes (streamer workers: wait until each answers ``/readyz``, so two workers do not
   rebalance mid-run);
2. produce the backlog of ``messages`` as fast as the broker takes it;
3. throughput: sample its outputs and CPU until it wrote one primary output per input. The steady window runs
   from the first output seen once the backlog is in Kafka to the last (:func:`~.stats.steady_window`);
4. latency: feed ``latency_messages`` more at half the steady rate (or at ``latency_rate``, one load for
   every run), each stamped with its send time, and measure every output's append time minus that stamp
   (:mod:`~.latency`);
5. read the processes' peak RSS, stop them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from streamer.admin import create_topics
from streamer.benchmark.cleanup import retire_topics
from streamer.benchmark.collector import long_lived_frozen
from streamer.benchmark.latency import measure_latency, write_samples
from streamer.benchmark.loader import load_backlog
from streamer.benchmark.loop_lag import loop_lag_over, scrape_loop_lag
from streamer.benchmark.processes import Child, cpu_seconds, machine_busy_share, machine_ticks, status_kib
from streamer.benchmark.reference import REFERENCE_MESSAGES, reference_us_per_event
from streamer.benchmark.stats import steady_window
from streamer.benchmark.variants import Variant, web_port_of
from streamer.benchmark.watch import OutputWatcher
from streamer.benchmark.workload import Workload
from streamer.errors import BenchmarkError, StreamerError
from streamer.feeds.base import RawMessage
from streamer.settings import Settings

__all__ = ["run_compare", "run_variant"]

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 180.0


def _alive(children: Sequence[Child]) -> str | None:
    for child in children:
        if not child.alive:
            return child.exit_reason()
    return None


def _pids(children: Sequence[Child]) -> list[int]:
    return [pid for child in children for pid in child.pids()]


async def run_variant(
    variant: Variant,
    base: Settings,
    backlog: Sequence[RawMessage],
    latency_pool: Sequence[RawMessage],
    *,
    run_id: str,
    work: Path,
    latency_s: float,
    timeout_s: float,
    broker_pid: int | None = None,
    latency_rate: float | None = None,
) -> dict[str, Any]:
    """One variant, start to stop; its row of the report. The latency phase runs at ``latency_rate``, or at
    half the variant's own rate."""
    prefix = f"bench-{run_id}.{variant.name}."
    settings = replace(base, topic_prefix=prefix, app_id=f"{prefix}app")
    await create_topics(settings, variant.topic_plan(settings))
    written: int | None = None
    outputs = variant.output_topics(settings)
    children = variant.children(settings, work)
    broker = [broker_pid] if broker_pid else []
    started = time.monotonic()
    for child in children:
        child.start()
    try:
        await variant.wait_ready(children, _READY_TIMEOUT_S)
        ready_s = time.monotonic() - started
        async with OutputWatcher(settings, outputs, settings.partitions, lambda: _pids(children)) as watcher:
            await watcher.sample()
            count, load_s = await load_backlog(settings, backlog)
            produced_at = time.monotonic()
            broker_before, machine_before = cpu_seconds(broker), machine_ticks()
            harness_before = time.process_time()
            await watcher.until(count, timeout_s, lambda: _alive(children))
            harness_cpu_s = time.process_time() - harness_before
            broker_cpu_s = cpu_seconds(broker) - broker_before
            machine_busy = machine_busy_share(machine_before, machine_ticks())
            window = steady_window(watcher.samples, count, produced_at)
        rate = window.events_per_s
        latency: dict[str, Any] | None = None
        if rate is not None and latency_pool:
            paced = rate / 2 if latency_rate is None else latency_rate
            n = max(1, min(len(latency_pool), int(paced * latency_s)))
            ports = [web_port_of(child) for child in children] if variant.kind == "streamer" else []
            loop_before = await scrape_loop_lag(ports)
            result = await measure_latency(settings, outputs, latency_pool[:n], paced, timeout_s)
            latency = result.as_dict()
            write_samples(work / f"{variant.name}.latency.csv", result.samples)  # kept with --work-dir
            if ports:  # did records wait for the workers' event loop, or elsewhere?
                latency["loop_lag"] = loop_lag_over(loop_before, await scrape_loop_lag(ports))
        pids = _pids(children)
        peak_kib = status_kib(pids, "VmHWM")
        stopped = _alive(children)
        if stopped is not None:
            raise BenchmarkError(stopped)
    finally:
        for child in children:
            child.kill()
        written = await retire_topics(settings)
    return {
        "variant": variant.name,
        "processes": len(children),
        "events": count,
        "events_per_s": None if rate is None else round(rate),
        "cpu_us_per_event": _round(window.cpu_us_per_event),
        "cpu_cores": _round(window.cpu_cores, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "latency": latency,
        "steady_s": round(window.seconds, 3),
        "steady_events": window.events,
        "ready_s": round(ready_s, 2),
        "backlog_load_s": round(load_s, 3),
        # The broker's CPU from the end of the backlog's production to the last output, per event.
        "broker_cpu_us_per_event": _round(broker_cpu_s * 1e6 / window.events)
        if broker and window.events
        else None,
        # This harness's own CPU over the same span (watching the outputs): what the measurement costs.
        "harness_cpu_us_per_event": _round(harness_cpu_s * 1e6 / window.events) if window.events else None,
        # The whole machine's busy share over the same span (every process: variant, broker, this harness).
        "machine_busy": _round(machine_busy, 3),
        # Every record the variant wrote (outputs, copies, changelogs: the broker's work), backlog and latency
        # phase alike; None if its topics could not be read.
        "records_written": written,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


async def run_compare(
    base: Settings,
    workload: Workload,
    variants: Sequence[Variant],
    *,
    messages: int,
    latency_s: float,
    timeout_s: float,
    work: Path,
    run_id: str,
    broker_pid: int | None = None,
    latency_rate: float | None = None,
) -> dict[str, Any]:
    """Every variant in turn; a failed variant gets its error in its row and the others still run."""
    every = list(workload.messages(2 * messages))  # one feed: the backlog, then the latency phase's inputs
    backlog, pool = every[:messages], every[messages:]
    rows: list[dict[str, Any]] = []
    with long_lived_frozen():  # the messages: see streamer.benchmark.collector
        for v in variants:
            log.warning("bench: %s ...", v.name)
            reference = round(reference_us_per_event(backlog[:REFERENCE_MESSAGES], base), 1)
            try:
                row = await run_variant(
                    v,
                    base,
                    backlog,
                    pool,
                    run_id=run_id,
                    work=work,
                    latency_s=latency_s,
                    timeout_s=timeout_s,
                    broker_pid=broker_pid,
                    latency_rate=latency_rate,
                )
            except (StreamerError, ValueError) as exc:
                row = {"variant": v.name, "error": str(exc)}
            # The machine's speed right before this variant (streamer.benchmark.reference).
            rows.append({**row, "reference_us_per_event": reference})
    return {
        "workload": {**workload.describe(), "messages": messages},
        "latency_s": latency_s,
        "latency_rate": latency_rate,
        "variants": rows,
    }
