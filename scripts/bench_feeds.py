"""Throughput of the feeds: converting the shipped data files, generating synthetic messages and, with
``--bootstrap``, producing them to a real broker (topics ``<prefix>raw.*`` must exist or be auto-created).

    .venv/bin/python scripts/bench_feeds.py [--bootstrap 127.0.0.1:9092 --topic-prefix bench.]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from streamer.feeds import RawMessage, read_path
from streamer.feeds.produce import produce
from streamer.feeds.simulate import generate
from streamer.topics import TopicNames

DATA = Path(__file__).resolve().parents[1] / "data"
SOURCES = [
    ("pjm-load", DATA / "pjm_hourly_kaggle"),
    ("aemo", DATA / "aemo_sa1"),
    ("eia", DATA / "eia_henry_hub"),
]
SIMULATED = 100_000


def _simulated() -> list[RawMessage]:
    now_ms = time.time_ns() // 1_000_000
    return [message for message, _ in generate(5, SIMULATED, 0.0, now_ms)]


def _report(label: str, count: int, elapsed_s: float) -> None:
    print(f"{label:<28} {count:>8,} msgs {elapsed_s:7.2f}s {count / elapsed_s:>10,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--topic-prefix", default="bench.")
    args = parser.parse_args()
    batches: list[tuple[str, Iterable[RawMessage]]] = []
    for fmt, path in SOURCES:
        started = time.perf_counter()
        messages = list(read_path(path, fmt))
        _report(f"convert {fmt}", len(messages), time.perf_counter() - started)
        batches.append((fmt, messages))
    started = time.perf_counter()
    simulated = _simulated()
    _report("generate simulate", len(simulated), time.perf_counter() - started)
    batches.append(("simulate", simulated))
    if args.bootstrap is None:
        return
    topics = TopicNames(args.topic_prefix)
    for label, messages in batches:
        summary = asyncio.run(produce(messages, args.bootstrap, topics))
        _report(f"produce {label}", summary.total, summary.elapsed_s)


if __name__ == "__main__":
    main()
