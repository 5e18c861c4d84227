"""Benchmark the domain core in-process: events/s through the window tracker and the detectors.

Replays the AEMO SA1 2008-09 prices (35,088 half-hours) ``--replays`` times as distinct keys, through
``WindowTracker`` (5m, 1h, 1h/5m, grace 1 h) with ``close_ready()`` after every event and the price
``DetectorSet`` (spike, band, stale; ``tick`` once per replayed day). Reports the median of ``--runs`` runs.
Each stage is also timed alone so the cost of each part is visible.

Usage: .venv/bin/python scripts/bench_core.py [--replays 4] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from streamer.detectors import DetectorSet
from streamer.evaluation_data import AEMO_INTERVAL_MS, AemoRow, load_aemo_sa1
from streamer.topics import Kind
from streamer.windows import WindowSpec, WindowTracker

DATA = Path(__file__).resolve().parents[1] / "data" / "aemo_sa1"
GRACE_MS = 3_600_000
DAY_MS = 86_400_000

Event = tuple[str, int, float, dict[str, object]]  # key, event_ms, price, fields


def _events(rows: list[AemoRow], replays: int) -> list[Event]:
    # Keys interleaved in event-time order, as one partition carrying several series sees them: replaying
    # the keys one after another would make every later replay late against the partition watermark.
    keys = [f"AEMO:SA1-{replay}" for replay in range(replays)]
    events: list[Event] = []
    for row in rows:
        fields = {"market": "AEMO", "interval_start": row.interval_start, "interval_minutes": 30}
        events.extend((key, row.event_ms, row.price, fields) for key in keys)
    return events


def _windows_only(
    specs: list[WindowSpec],
) -> Callable[[list[Event]], int]:
    def run(events: list[Event]) -> int:
        tracker = WindowTracker(specs, GRACE_MS)
        bars = 0
        for key, event_ms, value, fields in events:
            tracker.add(key, event_ms, AEMO_INTERVAL_MS, value, fields)
            bars += len(tracker.close_ready())
        if tracker.late_count:
            raise RuntimeError(
                f"{tracker.late_count} late events: the benchmark would measure the wrong path"
            )
        return bars + len(tracker.flush())

    return run


def _detectors_only(events: list[Event]) -> int:
    detectors = DetectorSet.for_kind(Kind.PRICES)
    found = 0
    next_tick_ms = events[0][1] + DAY_MS
    for key, event_ms, value, fields in events:
        found += len(detectors.observe(key, event_ms, value, fields))
        if event_ms >= next_tick_ms:
            found += len(detectors.tick(event_ms))
            next_tick_ms = event_ms + DAY_MS
    return found


def _core(specs: list[WindowSpec]) -> Callable[[list[Event]], int]:
    def run(events: list[Event]) -> int:
        tracker = WindowTracker(specs, GRACE_MS)
        detectors = DetectorSet.for_kind(Kind.PRICES)
        out = 0
        next_tick_ms = events[0][1] + DAY_MS
        for key, event_ms, value, fields in events:
            tracker.add(key, event_ms, AEMO_INTERVAL_MS, value, fields)
            out += len(detectors.observe(key, event_ms, value, fields))
            out += len(tracker.close_ready())
            if event_ms >= next_tick_ms:
                out += len(detectors.tick(event_ms))
                next_tick_ms = event_ms + DAY_MS
        return out + len(tracker.flush())

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replays", type=int, default=4, help="times the SA1 file is replayed (one key each)"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per stage; the median is reported")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    rows = load_aemo_sa1(DATA)
    events = _events(rows, args.replays)
    all_specs = [WindowSpec.parse(t) for t in ("5m", "1h", "1h/5m")]
    stages: list[tuple[str, Callable[[list[Event]], int]]] = [
        ("windows 5m", _windows_only(all_specs[:1])),
        ("windows 1h", _windows_only(all_specs[1:2])),
        ("windows 1h/5m", _windows_only(all_specs[2:])),
        ("windows 5m+1h+1h/5m", _windows_only(all_specs)),
        ("detectors (spike+band+stale)", _detectors_only),
        ("core: all windows + detectors", _core(all_specs)),
    ]
    results = []
    for name, stage in stages:
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            stage(events)
            seconds.append(time.perf_counter() - started)
        median_s = statistics.median(seconds)
        results.append(
            {
                "stage": name,
                "events": len(events),
                "median_s": median_s,
                "events_per_s": len(events) / median_s,
            }
        )
    if args.json:
        sys.stdout.write(orjson.dumps(results).decode() + "\n")
    else:
        version = sys.version.split()[0]
        print(f"{len(events):,} events (SA1 x {args.replays}), median of {args.runs} runs, Python {version}")
        for r in results:
            print(f"{r['stage']:32} {r['events_per_s']:>12,.0f} events/s  ({r['median_s']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
