"""Rows/s of ``streamer sink parquet`` on a real broker, and what the files take on disk.

The output records are real: the processor (the pipeline's core, in process) runs over AEMO SA1 prices and
load of every month in ``data/aemo_sa1`` (2008-2009), and everything it publishes to the topics the sink
keeps (enriched, bars, anomalies, late) is produced to fresh topics. The sink then runs as a batch
(``exit_at_end``) into a temporary folder, with the default roll size.

    .venv/bin/python scripts/bench_sink.py [--bootstrap HOST:PORT] [--months 24] [--partitions 4]

Without --bootstrap a temporary local Kafka broker is started and stopped. Reports rows/s (wall clock,
from the sink's start to its last file), CPU seconds, bytes on disk per topic, and the size of one month
(January 2009, UTC days) of SA1 bars.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaProducer

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.feeds import read_path
from streamer.processor import InMessage, processor_for
from streamer.settings import Settings, load_settings
from streamer.sink import SINK_TOPICS, SinkOptions, run_sink
from streamer.state import MemoryBackend, StateStore

DATA = Path(__file__).resolve().parents[1] / "data" / "aemo_sa1"


def pipeline_outputs(
    months: int, prefix: str
) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]], int]]:
    """What the pipeline publishes for SA1 over ``months`` months, as (topic, key, value, headers, ts)."""
    settings = Settings()
    backends: dict[int, MemoryBackend] = {}
    processor = processor_for(
        settings,
        StateStore(lambda p: backends.setdefault(p, MemoryBackend()), 10_000, 200_000),
        lambda: 4_000_000_000_000,
        spread_bars=False,  # every bar of the months, though no batch comes after the last
    )
    files = sorted(DATA.glob("DATA*_SA1.csv"))[:months]
    messages = [m for f in files for m in read_path(f, "aemo")]
    inputs = [
        InMessage(f"raw.{m.kind.value}", 0, i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]
    out = []
    for i in range(0, len(inputs), 500):
        for o in processor.process(inputs[i : i + 500]).outputs:
            if o.topic in SINK_TOPICS and o.key is not None and o.value is not None:
                out.append((prefix + o.topic, o.key, o.value, list(o.headers), o.timestamp_ms or 0))
        for partition, changes in processor.take_changes().items():
            backends.setdefault(partition, MemoryBackend()).apply(changes)
        processor.persisted()
    print(f"pipeline: {len(messages)} SA1 rows ({len(files)} months) -> {len(out)} output records")
    return out


async def produce(
    bootstrap: str, records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]], int]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        futures = []
        for topic, key, value, headers, ts in records:
            futures.append(await producer.send(topic, value=value, key=key, headers=headers, timestamp_ms=ts))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def sizes(out: Path, prefix: str) -> dict[str, int]:
    by_topic: Counter[str] = Counter()
    for path in out.rglob("*.parquet"):
        by_topic[path.parts[len(out.parts)].removeprefix(f"topic={prefix}")] += path.stat().st_size
    return dict(by_topic)


def month_of_bars(out: Path, prefix: str, topic: str) -> tuple[int, int]:
    """Bytes and files of AEMO bars with event days in January 2009 (UTC)."""
    files = list((out / f"topic={prefix}{topic}" / "market=AEMO").glob("date=2009-01-*/*.parquet"))
    return sum(p.stat().st_size for p in files), len(files)


async def bench(bootstrap: str, months: int, partitions: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await create_topics(
        load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": partitions})
    )
    records = pipeline_outputs(months, prefix)
    started = time.perf_counter()
    await produce(bootstrap, records)
    print(f"produced {len(records)} records in {time.perf_counter() - started:.1f}s")
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as folder:
        out = Path(folder) / "history"
        options = SinkOptions(
            bootstrap=bootstrap,
            contracts={prefix + topic: topic for topic in SINK_TOPICS},
            out=str(out),
            group_id=f"{prefix}sink",
            exit_at_end=True,
        )
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = await run_sink(options)
        elapsed_s = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        assert report.rows == len(records), (report.rows, len(records))
        print(
            f"sink: {report.rows} rows in {elapsed_s:.2f}s = {report.rows / elapsed_s:,.0f} rows/s "
            f"(wall, incl. consumer start and group join); {cpu_s:.2f} CPU s = "
            f"{cpu_s / report.rows * 1e6:.0f} us/row; {report.files} files, {report.file_bytes:,} bytes"
        )
        value_bytes = sum(len(r[2]) for r in records)
        print(
            f"record values in Kafka: {value_bytes:,} bytes; Parquet: {report.file_bytes / value_bytes:.1%}"
        )
        for topic, size in sorted(sizes(out, prefix).items()):
            print(f"  {topic:<16} {size:>12,} bytes")
        for topic in ("bars.prices", "bars.load"):
            size, files = month_of_bars(out, prefix, topic)
            print(f"one month of SA1 bars (January 2009, UTC days), {topic}: {size:,} bytes in {files} files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    if args.bootstrap:
        asyncio.run(bench(args.bootstrap, args.months, args.partitions))
        return
    with tempfile.TemporaryDirectory(prefix="bench-sink-kafka-") as folder:
        broker = LocalBroker(Path(folder) / "node-1", heap_mb=1024)
        broker.start(timeout_s=180)
        try:
            asyncio.run(bench(broker.bootstrap, args.months, args.partitions))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
