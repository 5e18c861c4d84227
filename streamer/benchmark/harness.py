"""One measurement, start to finish: the broker (a local one, or ``--bootstrap``), the run, the results
file and its plot."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import platform
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import streamer
from streamer.benchmark import report
from streamer.benchmark.variants import VARIANTS, variant
from streamer.benchmark.workload import Workload
from streamer.broker import LocalBroker
from streamer.broker.fetch import KAFKA_VERSION
from streamer.errors import ConfigError
from streamer.settings import Settings

__all__ = ["DEFAULTS", "RESULTS_DIR", "BenchOptions", "run_benchmark"]

RESULTS_DIR = Path(streamer.__file__).resolve().parent.parent / "bench" / "results"

# Sizes per measurement when not given: the workloads.
DEFAULTS: dict[str, dict[str, int]] = {
    "compare": {"messages": 200_000, "nodes": 2_000, "zones": 50, "partitions": 4},
    "memory": {"nodes": 98_000, "zones": 2_000, "intervals": 48, "partitions": 16},
    # Price nodes only: a backlog of two raw topics is not consumed in feed order (the small load topic went
    # first, in the first tenths), and load events cost a quarter less, so a mixed soak's first tenths were
    # faster for what they held, not for when (soak.py reports each tenth's mix).
    "soak": {"nodes": 300, "zones": 0, "intervals": 2_016, "partitions": 4},
    "restore": {"keys": 1_000_000, "nodes": 2_000, "zones": 50, "partitions": 4},
}


@dataclass(frozen=True, slots=True)
class BenchOptions:
    measurement: str = "compare"
    messages: int | None = None
    nodes: int | None = None
    zones: int | None = None
    partitions: int | None = None
    intervals: int | None = None
    keys: int | None = None
    corrupt_rate: float = 0.02
    seed: int = 2024
    variants: tuple[str, ...] = tuple(v.name for v in VARIANTS)
    latency_s: float = 20.0
    latency_rate: float | None = None  # events/s of every latency phase (default: half the variant's rate)
    timeout_s: float = 1800.0
    results: Path | None = None  # default: RESULTS_DIR/<date>.json
    plot: bool = True
    work_dir: Path | None = None  # keep logs and data dirs here (default: a temporary directory)

    def size(self, name: str) -> int:
        value = getattr(self, name)
        if value is None:
            value = DEFAULTS[self.measurement][name]
        return int(value)

    def check(self) -> None:
        if self.measurement not in report.MEASUREMENTS:
            raise ConfigError(f"unknown measurement {self.measurement!r}")
        for name in self.variants:
            variant(name)
        if self.measurement == "compare" and "quix" in self.variants:
            _require("quixstreams", "the quix variant")
        if self.plot:
            _require("matplotlib", "the plot (or give --no-plot)")


def _require(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs {module}: install the bench extra, pip install -e '.[bench]'")


def _workload(options: BenchOptions) -> Workload:
    return Workload(
        nodes=options.size("nodes"),
        zones=options.size("zones"),
        partitions=options.size("partitions"),
        corrupt_rate=options.corrupt_rate,
        seed=options.seed,
    )


async def _measure(
    options: BenchOptions, base: Settings, work: Path, broker_pid: int | None
) -> dict[str, Any]:
    workload = _workload(options)
    base = replace(base, partitions=workload.partitions)
    run_id = uuid.uuid4().hex[:8]
    timeout_s = options.timeout_s
    if options.measurement == "compare":
        from streamer.benchmark.compare import run_compare

        return await run_compare(
            base,
            workload,
            [variant(name) for name in options.variants],
            messages=options.size("messages"),
            latency_s=options.latency_s,
            latency_rate=options.latency_rate,
            timeout_s=timeout_s,
            work=work,
            run_id=run_id,
            broker_pid=broker_pid,
        )
    if options.measurement == "restore":
        from streamer.benchmark.restore import run_restore

        return await run_restore(
            base, workload, options.size("keys"), run_id=run_id, work=work, timeout_s=timeout_s
        )
    from streamer.benchmark.soak import run_soak

    return await run_soak(
        base,
        workload,
        options.size("intervals"),
        run_id=run_id,
        work=work,
        timeout_s=timeout_s,
        label=options.measurement,
        broker_pid=broker_pid,
    )


def run_benchmark(
    base: Settings, bootstrap: str | None, options: BenchOptions
) -> tuple[dict[str, Any], Path]:
    """Run ``options.measurement``; merge it into the day's results file (and redraw its plot).

    With ``bootstrap`` None a :class:`LocalBroker` is started in a temporary directory and stopped after
    (PLAINTEXT); otherwise every client connects with the security of ``base``. Returns the whole results
    file's content and its path."""
    options.check()
    when = dt.datetime.now(dt.UTC)
    path = options.results or RESULTS_DIR / f"{when.date().isoformat()}.json"
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp:
        work = Path(tmp) if options.work_dir is None else options.work_dir
        work.mkdir(parents=True, exist_ok=True)
        broker: LocalBroker | None = None
        broker_pid = None
        if bootstrap is None:
            broker = LocalBroker(work / "kafka", heap_mb=1024)
            broker.start(timeout_s=180)
            bootstrap = broker.bootstrap
            base = base.without_security()
            state = LocalBroker.read_state(broker.home)
            broker_pid = state.pid if state else None
        base = replace(base, bootstrap=bootstrap)
        try:
            section = asyncio.run(_measure(options, base, work, broker_pid))
        finally:
            if broker is not None:
                broker.stop()
    results = report.merge(report.load(path), options.measurement, section, when)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "broker": f"Kafka {KAFKA_VERSION} on loopback" if broker_pid else "an external broker (--bootstrap)",
    }
    report.save(path, results)
    if options.plot:
        from streamer.benchmark.plot import write_plot

        write_plot(results, path.with_suffix(".png"))
    return results, path
