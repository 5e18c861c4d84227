"""The project's own broker tooling against the real Apache Kafka broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.broker import LocalCluster
from streamer.broker.local import free_port, port_open

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _streamer(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMER_KAFKA_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=240,
    )


def _java_commands_for(home: Path) -> dict[int, list[str]]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {
        int(line.split()[0]): line.split()[1:]
        for line in out.splitlines()
        if "kafka.Kafka" in line and str(home) in line
    }


def _java_pids_for(home: Path) -> list[int]:
    return list(_java_commands_for(home))


def test_kafka_start_is_idempotent_and_stop_leaves_no_process(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "broker"
    first = _streamer("kafka", "start", "--port", str(port), "--json", home=home)
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout.strip().splitlines()[-1]) == {"bootstrap": f"127.0.0.1:{port}"}
    try:
        assert port_open(port)
        again = _streamer("kafka", "start", "--port", str(port), home=home)
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert again.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        status = _streamer("kafka", "status", "--port", str(port), "--json", home=home)
        assert status.returncode == 0 and orjson.loads(status.stdout)["running"] is True
        (args,) = _java_commands_for(home).values()
        # The whole heap from the start, as Kafka's own script runs it (a small start heap kept G1 marking
        # constantly), and a GC log beside the broker's log.
        assert "-Xms768m" in args and "-Xmx768m" in args, args
        assert (home / "gc.log").stat().st_size > 0
    finally:
        stop = _streamer("kafka", "stop", "--port", str(port), home=home)
    assert stop.returncode == 0, stop.stderr
    assert _java_pids_for(home) == []
    assert not port_open(port)
    after = _streamer("kafka", "status", "--port", str(port), home=home)
    assert after.returncode == 1


async def test_three_node_cluster_keeps_acknowledged_records_when_a_node_dies(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "cluster", size=3, heap_mb=384)
    await asyncio.to_thread(cluster.start)
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic("replicated", 2, 3, topic_configs={"min.insync.replicas": "2"})]
            )
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            before = [
                await producer.send("replicated", f"a{i}".encode(), key=str(i).encode()) for i in range(200)
            ]
            await asyncio.gather(*before)
            await asyncio.to_thread(cluster.nodes[0].kill)  # SIGKILL one of the three nodes
            after = [
                await producer.send("replicated", f"b{i}".encode(), key=str(i).encode()) for i in range(200)
            ]
            await asyncio.gather(*after)
        finally:
            await producer.stop()
        survivors = ",".join(node.bootstrap for node in cluster.nodes[1:])
        consumer = AIOKafkaConsumer(bootstrap_servers=survivors, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tps = [TopicPartition("replicated", p) for p in range(2)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            values: list[bytes] = []
            while len(values) < 400:
                batch = await consumer.getmany(timeout_ms=2000)
                assert batch, f"only {len(values)} of 400 acknowledged records readable after losing a node"
                values += [r.value for records in batch.values() for r in records if r.value is not None]
        finally:
            await consumer.stop()
        assert sorted(values) == sorted(
            [f"a{i}".encode() for i in range(200)] + [f"b{i}".encode() for i in range(200)]
        )
    finally:
        await asyncio.to_thread(cluster.stop)
