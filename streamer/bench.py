"""Events/s through the full pipeline on a real broker, against two baselines on the same broker, in one run.

Each mode gets its own fresh topics and consumer group and the same N simulated valid price messages,
produced before the mode starts:

- ``passthrough``: raw aiokafka, consume ``raw.prices`` and produce the bytes to an output topic in
  batches (acks=all), committing after each batch's sends are acknowledged;
- ``faust_agent``: a plain Faust agent that forwards each event (run as ``python -m streamer.bench``);
- ``pipeline``: a real ``streamer worker`` process (validation, revisions, windows, detectors, state).

A watcher polls the output topic's end offsets (every acknowledged output counts). ``events_per_s`` is
the steady rate, from the first output seen to the N-th, so process start-up and group joins do not
count; ``wall_s`` is from the start of the mode (process launch) to the N-th output.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.broker.local import free_port
from streamer.errors import BrokerError
from streamer.feeds.base import RawMessage
from streamer.feeds.produce import produce
from streamer.feeds.simulate import generate
from streamer.kafka_security import aiokafka_options, cli_args, faust_options
from streamer.settings import Settings, load_settings
from streamer.topics import Kind

__all__ = ["MODES", "run_benchmark"]

log = logging.getLogger(__name__)

MODES = ("passthrough", "faust_agent", "pipeline")
_POLL_S = 0.05
_LINGER_MS = 10


def _price_messages(count: int, seed: int) -> list[RawMessage]:
    """``count`` valid simulated price messages (the simulator interleaves kinds; keep the prices)."""
    now_ms = int(time.time() * 1000)
    out: list[RawMessage] = []
    batch = count * 2
    while len(out) < count:
        out = [m for m, _ in generate(seed, batch, 0.0, now_ms) if m.kind is Kind.PRICES][:count]
        batch *= 2
    return out


async def _watch_outputs(
    settings: Settings, topic: str, want: int, timeout_s: float, alive: Callable[[], bool]
) -> tuple[float, int, float]:
    """(time of the first output seen, outputs then, time the ``want``-th output was seen)."""
    partitions = settings.partitions
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        **aiokafka_options(settings.kafka_security),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        first_t: float | None = None
        first_n = 0
        deadline = time.monotonic() + timeout_s
        while True:
            total = sum((await consumer.end_offsets(tps)).values())
            now = time.monotonic()
            if total and first_t is None:
                first_t, first_n = now, total
            if total >= want:
                return first_t if first_t is not None else now, first_n, now
            if now > deadline:
                raise BrokerError(f"only {total} of {want} outputs in {topic} after {timeout_s:.0f}s")
            if not alive():
                raise BrokerError(f"the {topic} producer process exited with {total} of {want} outputs")
            await asyncio.sleep(_POLL_S)
    finally:
        await consumer.stop()


async def _passthrough(settings: Settings, source: str, sink: str, group: str, count: int) -> None:
    """Consume ``source``, produce the same key/value bytes to ``sink``; commit once a batch is acked."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_options(settings.kafka_security),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        linger_ms=_LINGER_MS,
        **aiokafka_options(settings.kafka_security),
    )
    await consumer.start()
    await producer.start()
    try:
        done = 0
        while done < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            futures = [
                await producer.send(sink, value=rec.value, key=rec.key, timestamp_ms=rec.timestamp)
                for records in batch.values()
                for rec in records
            ]
            await asyncio.gather(*futures)
            if futures:
                await consumer.commit()
            done += len(futures)
    finally:
        await producer.stop()
        await consumer.stop()


def _plain_agent_main(argv: Sequence[str]) -> None:
    """A plain per-event Faust agent: every event of ``raw.prices`` forwarded to ``<prefix>bench.out``."""
    import faust

    parser = argparse.ArgumentParser(prog="python -m streamer.bench")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    for flag in ("--security-protocol", "--sasl-mechanism", "--sasl-username", "--sasl-password-file"):
        parser.add_argument(flag)
    for flag in ("--ssl-cafile", "--ssl-certfile", "--ssl-keyfile"):
        parser.add_argument(flag, type=Path)
    args = parser.parse_args(argv)
    security = load_settings(
        {
            "security_protocol": args.security_protocol,
            "sasl_mechanism": args.sasl_mechanism,
            "sasl_username": args.sasl_username,
            "sasl_password_file": args.sasl_password_file and Path(args.sasl_password_file),
            "ssl_cafile": args.ssl_cafile,
            "ssl_certfile": args.ssl_certfile,
            "ssl_keyfile": args.ssl_keyfile,
        }
    ).kafka_security
    app = faust.App(
        f"{args.prefix}agent",
        broker=[f"kafka://{args.bootstrap}"],
        datadir=args.data_dir,
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=_LINGER_MS,
        web_enabled=False,
        **faust_options(security),
    )
    source = app.topic(f"{args.prefix}raw.prices", key_serializer="raw", value_serializer="raw")
    sink = app.topic(f"{args.prefix}bench.out", key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


def _start(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The password reaches the child as a file (cli_args): a variable too would be both.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "STREAMER_SASL_PASSWORD": ""},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


async def _run_mode(
    mode: str, base: Settings, messages: Sequence[RawMessage], work: Path, timeout_s: float
) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}.{mode}."
    settings = replace(base, topic_prefix=prefix, app_id=f"{prefix}app", data_dir=work / mode)
    names = settings.topics
    out_topic = names.enriched(Kind.PRICES) if mode == "pipeline" else f"{prefix}bench.out"
    await create_topics(settings)
    await create_topics(settings, [(f"{prefix}bench.out", settings.partitions, {})])
    await produce(messages, settings.bootstrap, names, security=settings.kafka_security)
    count = len(messages)
    started = time.monotonic()
    proc: subprocess.Popen[bytes] | None = None
    task: asyncio.Task[None] | None = None
    if mode == "passthrough":
        task = asyncio.create_task(
            _passthrough(settings, names.raw(Kind.PRICES), out_topic, f"{prefix}group", count)
        )
    elif mode == "faust_agent":
        args = ["streamer.bench", "--bootstrap", settings.bootstrap, "--prefix", prefix]
        args += ["--data-dir", str(settings.data_dir), "--partitions", str(settings.partitions)]
        args += cli_args(settings.kafka_security, work)
        proc = _start(args, work / f"{mode}.log")
    else:
        args = ["streamer.cli", "worker", "--bootstrap", settings.bootstrap, "--topic-prefix", prefix]
        args += [
            "--app-id",
            settings.app_id,
            "--data-dir",
            str(settings.data_dir),
            "--web-port",
            str(free_port()),
        ]
        args += ["--partitions", str(settings.partitions), *cli_args(settings.kafka_security, work)]
        proc = _start(args, work / f"{mode}.log")

    def alive() -> bool:
        if task is not None:
            return not task.done() or task.exception() is None
        return proc is not None and proc.poll() is None

    try:
        first_t, first_n, last_t = await _watch_outputs(settings, out_topic, count, timeout_s, alive)
        if task is not None:
            await task
    finally:
        if proc is not None:
            _stop(proc)
        if task is not None and not task.done():
            task.cancel()
    steady_s = last_t - first_t
    rate = (count - first_n) / steady_s if steady_s > 0 and count > first_n else None
    return {
        "mode": mode,
        "events": count,
        "wall_s": round(last_t - started, 3),
        "steady_s": round(steady_s, 3),
        "events_per_s": round(rate) if rate is not None else None,
    }


async def _run_all(
    base: Settings, messages: int, modes: Sequence[str], work: Path, timeout_s: float
) -> dict[str, Any]:
    bootstrap, partitions = base.bootstrap, base.partitions
    batch = _price_messages(messages, seed=2024)
    results = [await _run_mode(mode, base, batch, work, timeout_s) for mode in modes]
    by_mode = {r["mode"]: r for r in results}
    pipeline = by_mode.get("pipeline", {}).get("events_per_s")
    ratios = {
        f"pipeline/{mode}": round(pipeline / r["events_per_s"], 3)
        for mode, r in by_mode.items()
        if mode != "pipeline" and pipeline and r["events_per_s"]
    }
    return {"bootstrap": bootstrap, "messages": messages, "partitions": partitions, "results": results,
            "ratios": ratios}  # fmt: skip


def run_benchmark(
    bootstrap: str | None,
    messages: int = 50_000,
    *,
    partitions: int = 2,
    modes: Sequence[str] = MODES,
    timeout_s: float = 300.0,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run each mode over ``messages`` price messages; return per-mode rates and the pipeline's ratios.

    With ``bootstrap`` None, a :class:`LocalBroker` is started in a temporary directory and stopped after
    (PLAINTEXT); otherwise every client connects with the security of ``settings``.
    """
    base = settings if settings is not None else load_settings()
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown benchmark modes {unknown}; choose from {', '.join(MODES)}")
    if messages < 1:
        raise ValueError("messages must be at least 1")
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp:
        work = Path(tmp)
        broker: LocalBroker | None = None
        if bootstrap is None:
            broker = LocalBroker(work / "kafka")
            broker.start(timeout_s=180)
            bootstrap = broker.bootstrap
            base = base.without_security()
        base = replace(base, bootstrap=bootstrap, partitions=partitions)
        try:
            return asyncio.run(_run_all(base, messages, modes, work, timeout_s))
        finally:
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    _plain_agent_main(sys.argv[1:])
