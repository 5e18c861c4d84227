"""The processor and its state in one process, on real RocksDB, without Kafka: does it slow down with time or
grow with the number of series?

Feeds a simulated market (``--nodes`` price nodes and ``--zones`` load zones, 5-minute intervals, in
event-time order as a live feed delivers them) through :class:`streamer.processor.Processor` in batches,
persisting every batch's changes to one RocksDB per partition as the worker does (one write batch each).
Prints, per tenth of the run: events/s, CPU per event (every thread: RocksDB flushes and compactions too),
what RocksDB's compactions have written so far, process RSS, entries and bytes of state written per event,
and the cache fill; at the end, how long a batch took (p50, p99, max: a batch that crosses a 5-minute
boundary closes every series' windows, which is what the worker's latency tail is made of) and the derived
outputs of the slowest batch.

    .venv/bin/python scripts/bench_state.py --nodes 300 --intervals 2016           # 7 days of 300 series
    .venv/bin/python scripts/bench_state.py --nodes 100000 --intervals 48 --partitions 16
    .venv/bin/python scripts/bench_state.py --nodes 2000 --intervals 96 --profile  # where the time goes
    .venv/bin/python scripts/bench_state.py --nodes 98000 --zones 2000 --intervals 4 --partitions 16 \
        --batch 200 --tracemalloc 25                                                # where the memory is
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from streamer.benchmark.stats import percentile
from streamer.benchmark.workload import as_consumed
from streamer.feeds.simulate import generate, market_series
from streamer.processor import processor_for
from streamer.runner import tune_gc
from streamer.settings import Settings
from streamer.state import StateStore
from streamer.state.rocksdb import RocksBackend, RocksMemory, open_db, write_changes


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _compacted_mib(db: Any) -> float:
    """What RocksDB's compactions have written in this DB so far."""
    found = re.search(r"Cumulative compaction: ([\d.]+) GB write", db.property_value("rocksdb.stats") or "")
    return float(found.group(1)) * 1024 if found else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = replace(Settings(), window_specs=args.windows, bars_per_batch=args.bars_per_batch)
    series = market_series(args.nodes, args.zones)
    five_minute = sum(1 for s in series if s.kind.value != "gas")
    count = five_minute * args.intervals
    now_ms = int(time.time() * 1000)
    print(f"generating {count:,} messages ...", file=sys.stderr)
    feed = (m for m, _ in generate(args.seed, count, args.corrupt_rate, now_ms, series))
    batch_in = as_consumed(feed, settings.topics, args.partitions)
    root = Path(tempfile.mkdtemp(prefix="streamer-bench-state-"))
    # One cache and one memtable budget for every partition DB, as the worker shares them.
    memory = RocksMemory(settings.rocksdb_block_cache_bytes, settings.rocksdb_write_buffer_bytes)
    dbs = {p: open_db(root / f"p{p}", memory) for p in range(args.partitions)}
    backends = {p: RocksBackend(db) for p, db in dbs.items()}
    store = StateStore(backends.__getitem__, args.cache_series, args.cache_panes)
    proc = processor_for(settings, store, lambda: now_ms)
    tune_gc()  # as the worker does
    if args.tracemalloc:
        tracemalloc.start()
    base_rss = _rss_mib()
    tenth = max(1, len(batch_in) // 10)
    rows = []
    profiler = cProfile.Profile() if args.profile else None
    out_bytes = 0
    outputs = 0
    batches: list[tuple[float, int]] = []  # (seconds, derived outputs) of each batch
    gc_s = [0.0]
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.process_time()
        else:
            gc_s[0] += time.process_time() - gc_started[0]

    gc.callbacks.append(on_gc)
    start = time.perf_counter()
    cpu_start = time.process_time()
    mark, written0, bytes0, cpu_mark = start, 0, 0, cpu_start
    for i in range(0, len(batch_in), args.batch):
        if profiler:
            profiler.enable()
        batch_start = time.perf_counter()
        result = proc.process(batch_in[i : i + args.batch])
        for partition, changes in proc.take_changes().items():
            write_changes(dbs[partition], changes)
        proc.persisted()
        batches.append((time.perf_counter() - batch_start, len(result.derived)))
        if profiler:
            profiler.disable()
        outputs += len(result.primary) + len(result.derived)
        out_bytes += sum(len(o.value or b"") for o in result.outputs)
        done = i + args.batch
        if done // tenth != i // tenth or done >= len(batch_in):
            now, cpu_now = time.perf_counter(), time.process_time()
            n = min(done, len(batch_in)) - (len(rows) * tenth)
            cached = store.cached_counts()
            rows.append(
                {
                    "tenth": len(rows) + 1,
                    "events_per_s": round(n / (now - mark)),
                    # every thread of the process: RocksDB's flushes and compactions too
                    "cpu_us_per_event": round((cpu_now - cpu_mark) / n * 1e6, 1),
                    "compacted_mib": round(sum(map(_compacted_mib, dbs.values())), 1),
                    "rss_mib": round(_rss_mib(), 1),
                    "entries_per_event": round((store.written - written0) / n, 2),
                    "state_bytes_per_event": round((store.written_bytes - bytes0) / n),
                    "cached_series": cached[0],
                    "cached_panes": cached[1],
                }
            )
            mark, written0, bytes0, cpu_mark = now, store.written, store.written_bytes, cpu_now
            print(orjson.dumps(rows[-1]).decode(), file=sys.stderr)
    events = len(batch_in)
    elapsed = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    gc.callbacks.remove(on_gc)
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    if args.tracemalloc:
        batch_in.clear()  # what is left is the processor's and the state's
        gc.collect()
        for stat in tracemalloc.take_snapshot().statistics("lineno")[: args.tracemalloc]:
            print(stat, file=sys.stderr)
    first, last = rows[0]["events_per_s"], rows[-1]["events_per_s"]
    batch_ms = sorted(seconds * 1000 for seconds, _ in batches)
    slowest = max(batches)
    return {
        "events": events,
        "series": len(series),
        "partitions": args.partitions,
        "events_per_s": round(events / elapsed),
        "cpu_us_per_event": round(cpu_s / events * 1e6, 1),
        "gc_share": round(gc_s[0] / cpu_s, 3),
        "last_over_first_tenth": round(last / first, 3),
        "rss_base_mib": round(base_rss, 1),
        "rss_peak_mib": max(r["rss_mib"] for r in rows),
        "outputs_per_input": round(outputs / events, 2),
        "output_bytes_per_input": round(out_bytes / events),
        "state_bytes_per_event": round(store.written_bytes / events),
        "batch_ms": {
            "p50": round(percentile(batch_ms, 50), 1),
            "p99": round(percentile(batch_ms, 99), 1),
            "max": round(batch_ms[-1], 1),
        },
        "slowest_batch_derived_outputs": slowest[1],
        "tenths": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--zones", type=int, default=50)
    parser.add_argument("--intervals", type=int, default=96)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--corrupt-rate", type=float, default=0.02)
    parser.add_argument("--windows", default="5m,1h,1h/5m")
    parser.add_argument("--cache-series", type=int, default=Settings().state_cache_series)
    parser.add_argument("--cache-panes", type=int, default=Settings().state_cache_panes)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--bars-per-batch", type=int, default=Settings().bars_per_batch, help="as the worker's flag"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="N",
        help="print the N lines holding the most memory at the end",
    )
    args = parser.parse_args()
    report = run(args)
    print(orjson.dumps({k: v for k, v in report.items() if k != "tenths"}).decode())


if __name__ == "__main__":
    main()
