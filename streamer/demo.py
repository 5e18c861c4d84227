"""``streamer demo``: everything on one machine, on a real embedded Kafka broker.

Starts the broker, creates the topics, starts the live dashboard (unless ``once``), starts a real worker
process, feeds real AEMO SA1 data (the January 2009 heatwave) plus a synthetic feed with a known share of
corrupt messages, and watches every output topic until each input is accounted for. With the dashboard it
then keeps serving until SIGINT or SIGTERM; ``once`` stops after the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.broker.local import free_port
from streamer.dlq import H_REASON, header_value
from streamer.errors import StreamerError
from streamer.feeds import read_path
from streamer.feeds.base import FeedStats, RawMessage
from streamer.feeds.produce import produce
from streamer.feeds.simulate import generate
from streamer.kafka_security import aiokafka_options, cli_args
from streamer.settings import Settings
from streamer.web.dashboard import Dashboard, DashboardOptions

__all__ = ["DemoStatus", "Serving", "default_demo_data", "run_demo"]

log = logging.getLogger(__name__)


def default_demo_data() -> Path:
    """The AEMO SA1 month shipped in the repository's ``data/`` folder."""
    return Path(__file__).resolve().parent.parent / "data" / "aemo_sa1" / "DATA200901_SA1.csv"


@dataclass
class DemoStatus:
    """What went in and what came out, by topic; updated while the demo runs."""

    bootstrap: str = ""
    sent: Counter[str] = field(default_factory=Counter)
    expected_corrupt: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    anomaly_types: Counter[str] = field(default_factory=Counter)
    feed: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    done: bool = False

    @property
    def inputs(self) -> int:
        return sum(self.sent.values())

    def accounted(self, topics: Settings) -> int:
        names = topics.topics
        return sum(
            n for t, n in self.outputs.items() if t.startswith(f"{names.prefix}enriched.") or t == names.dlq
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bootstrap": self.bootstrap,
            "sent": dict(self.sent),
            "expected_corrupt_by_reason": dict(self.expected_corrupt),
            "outputs": dict(self.outputs),
            "dlq_by_reason": dict(self.dlq_reasons),
            "anomalies_by_type": dict(self.anomaly_types),
            "feed": self.feed,
            "elapsed_s": round(self.elapsed_s, 2),
        }


def _synthetic(count: int, corrupt_rate: float, status: DemoStatus) -> Iterator[RawMessage]:
    for message, reason in generate(
        seed=2009, count=count, corrupt_rate=corrupt_rate, now_ms=int(time.time() * 1000)
    ):
        if reason is not None:
            status.expected_corrupt[reason] += 1
        yield message


def _start_worker(settings: Settings, data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable, "-m", "streamer.cli", "worker",
        "--bootstrap", settings.bootstrap,
        "--data-dir", str(data_dir),
        "--web-port", str(free_port()),
        "--partitions", str(settings.partitions),
        # Explicit, so that the worker's own STREAMER_* variables cannot make it disagree with the demo.
        "--topic-prefix", settings.topic_prefix,
        "--app-id", settings.app_id,
    ]  # fmt: skip
    args += cli_args(settings.kafka_security, log_path.parent)
    env = {name: value for name, value in os.environ.items() if name != "STREAMER_SASL_PASSWORD"}
    with log_path.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


async def _watch(settings: Settings, status: DemoStatus, stop: asyncio.Event) -> None:
    names = settings.topics
    outputs = [t for t in names.all() if not t.startswith(f"{names.prefix}raw.")]
    consumer = AIOKafkaConsumer(
        *outputs,
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **aiokafka_options(settings.kafka_security),
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=250)
            for records in batch.values():
                for record in records:
                    status.outputs[record.topic] += 1
                    if record.topic == names.dlq:
                        reason = header_value(record.headers, H_REASON) or b"unknown"
                        status.dlq_reasons[reason.decode()] += 1
                    elif record.topic == names.anomalies and record.value:
                        status.anomaly_types[_anomaly_type(record.value)] += 1
    finally:
        await consumer.stop()


def _anomaly_type(value: bytes) -> str:
    try:
        kind = orjson.loads(value).get("type")
    except (orjson.JSONDecodeError, AttributeError):
        return "unreadable"
    return str(kind)


@dataclass(frozen=True, slots=True)
class Serving:
    """Serve the dashboard: ``on_url`` gets its address first, ``on_serving`` the summary once every input
    is accounted for; it then serves until SIGINT or SIGTERM."""

    options: DashboardOptions
    on_url: Callable[[str], None]
    on_serving: Callable[[DemoStatus], None]


async def _run(
    settings: Settings,
    status: DemoStatus,
    data: Path,
    synthetic: int,
    corrupt_rate: float,
    timeout_s: float,
    on_update: Callable[[DemoStatus], None],
    worker: subprocess.Popen[bytes],
    serving: Serving | None,
) -> None:
    await create_topics(settings)
    if serving is None:
        await _feed_and_watch(settings, status, data, synthetic, corrupt_rate, timeout_s, on_update, worker)
        return
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    async with Dashboard(settings.bootstrap, settings.topics, serving.options) as dashboard:
        serving.on_url(dashboard.url)
        feeding = asyncio.create_task(
            _feed_and_watch(settings, status, data, synthetic, corrupt_rate, timeout_s, on_update, worker)
        )
        waiting = asyncio.create_task(stopped.wait())
        await asyncio.wait({feeding, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if feeding.done():
            feeding.result()
            serving.on_serving(status)
            while not stopped.is_set():
                if worker.poll() is not None:
                    raise StreamerError(f"the demo worker exited with code {worker.returncode}")
                error = dashboard.failed()
                if error is not None:
                    raise StreamerError(f"the dashboard stopped: {error}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiting), timeout=1.0)
        for task in (feeding, waiting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _feed_and_watch(
    settings: Settings,
    status: DemoStatus,
    data: Path,
    synthetic: int,
    corrupt_rate: float,
    timeout_s: float,
    on_update: Callable[[DemoStatus], None],
    worker: subprocess.Popen[bytes],
) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(settings, status, stop))
    started = time.monotonic()
    stats = FeedStats()
    security = settings.kafka_security
    real = await produce(
        read_path(data, "aemo", stats), settings.bootstrap, settings.topics, security=security
    )
    fake = await produce(
        _synthetic(synthetic, corrupt_rate, status), settings.bootstrap, settings.topics, security=security
    )
    status.sent.update(real.sent)
    status.sent.update(fake.sent)
    status.feed = {"file": str(data), **stats.as_dict()}
    settle_until: float | None = None
    try:
        while time.monotonic() - started < timeout_s:
            status.elapsed_s = time.monotonic() - started
            on_update(status)
            if worker.poll() is not None:
                raise StreamerError(f"the demo worker exited with code {worker.returncode}")
            if status.accounted(settings) >= status.inputs:
                # Give bars and anomalies emitted by the last batches a moment to arrive.
                settle_until = settle_until or time.monotonic() + 3.0
                if time.monotonic() >= settle_until:
                    break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await watcher
    status.elapsed_s = time.monotonic() - started
    status.done = True
    on_update(status)


def run_demo(
    settings: Settings,
    *,
    data: Path,
    synthetic: int = 5000,
    corrupt_rate: float = 0.05,
    timeout_s: float = 300.0,
    keep_running: bool = False,
    on_update: Callable[[DemoStatus], None] = lambda _status: None,
    use_external_broker: bool = False,
    serving: Serving | None = None,
) -> DemoStatus:
    """Run the whole demo; returns the final counts. Stops what it started unless ``keep_running``.

    With ``serving`` the dashboard runs too, and the demo returns only once SIGINT or SIGTERM stops it."""
    workdir = Path(tempfile.mkdtemp(prefix="streamer-demo-"))
    broker: LocalBroker | None = None
    if not use_external_broker:
        broker = LocalBroker(workdir / "kafka")
        broker.start()
        settings = replace(settings.without_security(), bootstrap=broker.bootstrap)
    status = DemoStatus(bootstrap=settings.bootstrap)
    worker = _start_worker(settings, workdir / "worker", workdir / "worker.log")
    try:
        asyncio.run(
            _run(settings, status, data, synthetic, corrupt_rate, timeout_s, on_update, worker, serving)
        )
    finally:
        if not keep_running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            if broker is not None:
                broker.stop()
    return status
