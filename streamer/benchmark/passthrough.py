"""The ceiling: raw aiokafka consume -> produce (acks=all) -> commit, as fast as it can be made.

Consumes the raw topics (read_committed, as the worker does) in fetches of up to :data:`MAX_RECORDS`, writes
every record's key, value, timestamp and headers to the same partition of ``<prefix>bench.out`` through
:class:`streamer.sender.BatchSender` (whole record batches built with aiokafka's batch builder, idempotent,
acks=all), and commits offsets only of records whose outputs were acknowledged, once a second (the worker's
default commit interval). One output per input, no parsing: what Kafka and Python cost at the least.

With ``--copies N`` it also writes N - 1 more copies of every input to ``<prefix>bench.copies``: the worker
writes about six records per input (three outputs and about three state entries to its changelog), so the
passthrough at six copies is what moving that many records costs, without any processing.

    python -m streamer.benchmark.passthrough --bootstrap HOST:PORT --prefix P --partitions N --group G \
        --copies 1
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from streamer.benchmark.childcli import parse_child_args
from streamer.benchmark.loader import OutRecord
from streamer.kafka_security import KafkaSecurity, aiokafka_options
from streamer.sender import BatchSender
from streamer.topics import Kind, TopicNames

__all__ = ["COPIES_TOPIC", "MAX_RECORDS", "OUTPUT_TOPIC", "passthrough"]

OUTPUT_TOPIC = "bench.out"
COPIES_TOPIC = "bench.copies"
MAX_RECORDS = 5_000
_COMMIT_INTERVAL_S = 1.0


async def passthrough(
    bootstrap: str, prefix: str, group: str, security: KafkaSecurity, copies: int = 1
) -> None:
    """Run until cancelled, writing each input ``copies`` times (the first to the output topic)."""
    names = TopicNames(prefix)
    sink = f"{prefix}{OUTPUT_TOPIC}"
    sinks = [sink] + [f"{prefix}{COPIES_TOPIC}"] * (copies - 1)
    consumer = AIOKafkaConsumer(
        *[names.raw(kind) for kind in Kind],
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **aiokafka_options(security),
    )
    sender = BatchSender({"bootstrap_servers": bootstrap, **aiokafka_options(security)})
    await consumer.start()
    await sender.start()
    done: dict[TopicPartition, OffsetAndMetadata] = {}
    committed_at = time.monotonic()
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=100, max_records=MAX_RECORDS)
            records = [
                OutRecord(topic, rec.key, rec.value, rec.timestamp, rec.headers, tp.partition, tp.partition)
                for tp, recs in fetched.items()
                for rec in recs
                for topic in sinks
            ]
            if records:
                await sender.send_all(records)
                for tp, recs in fetched.items():
                    done[tp] = OffsetAndMetadata(recs[-1].offset + 1, "")
            if done and time.monotonic() - committed_at >= _COMMIT_INTERVAL_S:
                await consumer.commit(dict(done))
                done.clear()
                committed_at = time.monotonic()
    finally:
        if done:
            await consumer.commit(dict(done))
        await sender.stop()
        await consumer.stop()


def main(argv: Sequence[str]) -> None:
    args, security = parse_child_args(
        "python -m streamer.benchmark.passthrough", argv, ["--group", "--copies"]
    )
    asyncio.run(passthrough(args.bootstrap, args.prefix, args.group, security, int(args.copies)))


if __name__ == "__main__":
    main(sys.argv[1:])
