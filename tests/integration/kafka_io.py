"""Test-side Kafka I/O: produce inputs, read outputs back exactly, run real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from streamer.admin import existing_topics
from streamer.broker.local import free_port
from streamer.dlqtool.reader import topic_partitions

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sent:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


async def produce(
    bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
) -> list[Sent]:
    """Send (topic, key, value, headers) records with explicit timestamps; return where each landed.

    (aiokafka's RecordMetadata.timestamp for a record sent without a timestamp is taken separately
    from the one written, and may differ by a millisecond.)"""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        pending = []
        base_ms = int(time.time() * 1000)
        for i, (topic, key, value, headers) in enumerate(records):
            ts = base_ms - 1000 + i % 997
            fut = await producer.send(topic, value=value, key=key, headers=list(headers), timestamp_ms=ts)
            pending.append((topic, key, value, tuple(headers), ts, fut))
        sent = []
        for topic, key, value, headers, ts, fut in pending:
            meta = await fut
            sent.append(Sent(topic, meta.partition, meta.offset, key, value, headers, ts))
        return sent
    finally:
        await producer.stop()


async def read_all(
    bootstrap: str,
    topics: Sequence[str],
    *,
    at_least: int,
    partitions: int = 4,
    timeout_s: float = 120.0,
    workers: Sequence[subprocess.Popen[bytes]] = (),
) -> list[ConsumerRecord]:
    """Every record in ``topics`` once at least ``at_least`` exist, read up to the end offsets then."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        while True:
            ends = await consumer.end_offsets(tps)
            total = sum(ends.values())
            if total >= at_least or time.monotonic() > deadline:
                break
            dead = [w.args for w in workers if w.poll() is not None]
            assert not dead, f"worker exited early: {dead}"
            await asyncio.sleep(0.5)
        out: list[ConsumerRecord] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < ends[tp])
        return out
    finally:
        await consumer.stop()


async def topic_config(bootstrap: str, topic: str, name: str) -> str | None:
    """The broker's value of one config of ``topic`` (its own or the broker default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})
        (response,) = await admin.describe_configs([resource])
    finally:
        await admin.close()
    ((error, message, _type, _name, entries),) = response.resources
    assert error == 0, f"describe configs of {topic}: {message}"
    values = {entry[0]: entry[1] for entry in entries}
    return values.get(name)


def start_worker(bootstrap: str, prefix: str, data_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A real ``streamer worker`` process, as an SRE would run it."""
    # A 10 s session lets the group notice a SIGKILLed member that is not restarted (a hand-over to
    # another replica) in 10 s instead of the default 30 s.
    env = {
        "STREAMER_SESSION_TIMEOUT_MS": "10000",
        "STREAMER_HEARTBEAT_INTERVAL_MS": "1000",
        **os.environ,
        "PYTHONUNBUFFERED": "1",
    }
    log = open(data_dir.parent / f"{data_dir.name}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer.cli",
            "worker",
            "--bootstrap",
            bootstrap,
            "--topic-prefix",
            prefix,
            "--app-id",
            f"{prefix}app",
            "--data-dir",
            str(data_dir),
            "--web-port",
            str(free_port()),
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=60)


OUTPUT_TOPICS = ("enriched.prices", "enriched.load", "enriched.gas", "bars.prices", "bars.load")
OUTPUT_TOPICS += ("anomalies", "late", "dlq", "dlq.audit")


async def read_outputs(
    bootstrap: str, prefix: str, topics: Sequence[str] = OUTPUT_TOPICS
) -> list[ConsumerRecord]:
    """Every committed record of the output topics (``prefix`` + name; all partitions), up to the end offsets
    when called, as a downstream consumer sees them (read_committed). Missing topics are skipped."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    existing = await existing_topics(bootstrap)
    tps = [
        TopicPartition(f"{prefix}{name}", p)
        for name in topics
        if f"{prefix}{name}" in existing
        for p in await topic_partitions(bootstrap, f"{prefix}{name}")
    ]
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + 120
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            assert time.monotonic() < deadline, "reading the output topics did not reach their end offsets"
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < ends[tp])
        return out
    finally:
        await consumer.stop()
