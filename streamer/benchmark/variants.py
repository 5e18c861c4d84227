"""The variants of the comparison: their topics, their processes, their primary outputs, their readiness.

Each variant gets fresh topics under its own prefix. Its primary outputs (one per input) go to topics created
with ``message.timestamp.type=LogAppendTime`` (see :mod:`streamer.benchmark.latency`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

import streamer
from streamer.admin import TopicPlan, plan_topics
from streamer.benchmark.passthrough import COPIES_TOPIC, OUTPUT_TOPIC
from streamer.benchmark.processes import Child
from streamer.broker.local import free_port
from streamer.errors import BenchmarkError, ConfigError
from streamer.kafka_security import cli_args
from streamer.sender import MAX_REQUEST_BYTES
from streamer.settings import Settings
from streamer.topics import Kind

__all__ = ["QUIX_PEER", "VARIANTS", "Variant", "variant"]

QUIX_PEER = Path(streamer.__file__).resolve().parent.parent / "bench" / "peers" / "quix_pipeline.py"
_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True, slots=True)
class Variant:
    """``kind`` is ``passthrough``, ``faust-naive``, ``quix`` or ``streamer``; ``workers`` processes;
    ``copies``: records a passthrough writes per input."""

    name: str
    kind: str
    workers: int = 1
    copies: int = 1

    def output_topics(self, settings: Settings) -> list[str]:
        names = settings.topics
        if self.kind in ("passthrough", "faust-naive"):
            return [f"{settings.topic_prefix}{OUTPUT_TOPIC}"]
        return [*(names.enriched(kind) for kind in Kind), names.dlq]

    def topic_plan(self, settings: Settings) -> list[TopicPlan]:
        outputs = set(self.output_topics(settings))
        if self.kind in ("passthrough", "faust-naive"):
            big = {"max.message.bytes": str(MAX_REQUEST_BYTES)}  # a copy of every raw message
            plan: list[TopicPlan] = [(settings.topics.raw(kind), settings.partitions, big) for kind in Kind]
            plan.append((f"{settings.topic_prefix}{OUTPUT_TOPIC}", settings.partitions, big))
            if self.copies > 1:
                plan.append((f"{settings.topic_prefix}{COPIES_TOPIC}", settings.partitions, big))
        else:
            plan = plan_topics(settings)
        return [
            (name, n, {**config, **(_APPEND_TIME if name in outputs else {})}) for name, n, config in plan
        ]

    def children(self, settings: Settings, work: Path) -> list[Child]:
        """The processes to start (not yet started)."""
        prefix = settings.topic_prefix
        common = ["--bootstrap", settings.bootstrap, *cli_args(settings.kafka_security, work)]
        # The password reaches a child as a file (cli_args): a variable as well would be both.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "STREAMER_SASL_PASSWORD": ""}
        python = [sys.executable]
        child_args = [*common, "--prefix", prefix, "--partitions", str(settings.partitions)]
        if self.kind == "passthrough":
            argv = [*python, "-m", "streamer.benchmark.passthrough", *child_args, "--group", f"{prefix}group"]
            argv += ["--copies", str(self.copies)]
            return [Child(self.name, argv, work / f"{self.name}.log", env)]
        if self.kind == "faust-naive":
            argv = [*python, "-m", "streamer.benchmark.faust_naive", *child_args]
            argv += ["--app-id", f"{prefix}naive", "--data-dir", str(work / self.name)]
            return [Child(self.name, argv, work / f"{self.name}.log", env)]
        if self.kind == "quix":
            if not QUIX_PEER.is_file():
                raise ConfigError(f"the Quix peer {QUIX_PEER} is missing: run from a source checkout")
            argv = [*python, str(QUIX_PEER), *child_args, "--group", f"{prefix}quix"]
            argv += ["--state-dir", str(work / self.name)]
            return [Child(self.name, argv, work / f"{self.name}.log", env)]
        return [
            Child(
                f"{self.name}.w{i}",
                worker_argv(settings, work / f"{self.name}.w{i}", common),
                work / f"{self.name}.w{i}.log",
                env,
            )
            for i in range(self.workers)
        ]

    async def wait_ready(self, children: Sequence[Child], timeout_s: float) -> None:
        """Streamer workers: until every one answers 200 on ``/readyz`` (partitions assigned, state
        recovered). The others are ready once started: their first output starts the clock."""
        if self.kind == "streamer":
            await wait_ready(children, timeout_s)


def worker_argv(
    settings: Settings, data_dir: Path, common: Sequence[str], web_port: int | None = None
) -> list[str]:
    """A ``streamer worker`` command line for ``settings`` (prefix, app id, partitions) and ``data_dir``."""
    port = web_port if web_port is not None else free_port()
    return [
        sys.executable,
        "-m",
        "streamer.cli",
        "worker",
        *common,
        "--topic-prefix",
        settings.topic_prefix,
        "--app-id",
        settings.app_id,
        "--partitions",
        str(settings.partitions),
        "--data-dir",
        str(data_dir),
        "--web-port",
        str(port),
        "--instance-id",
        settings.instance_id,
    ]


def web_port_of(child: Child) -> int:
    return int(child.argv[child.argv.index("--web-port") + 1])


async def wait_ready(children: Sequence[Child], timeout_s: float) -> float:
    """Poll every worker's ``/readyz`` until all answer 200; returns the monotonic time they did."""
    deadline = time.monotonic() + timeout_s
    pending = list(children)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while pending:
            for child in list(pending):
                if not child.alive:
                    raise BenchmarkError(child.exit_reason())
                try:
                    async with session.get(f"http://127.0.0.1:{web_port_of(child)}/readyz") as response:
                        if response.status == 200:
                            pending.remove(child)
                except (TimeoutError, aiohttp.ClientError):
                    pass  # not serving yet
            if pending:
                if time.monotonic() > deadline:
                    names = ", ".join(child.name for child in pending)
                    raise BenchmarkError(f"{names} not ready after {timeout_s:.0f}s")
                await asyncio.sleep(0.05)
    return time.monotonic()


VARIANTS: tuple[Variant, ...] = (
    Variant("passthrough", "passthrough"),
    Variant("passthrough-x6", "passthrough", copies=6),  # the records the worker writes per input, copied
    Variant("faust-naive", "faust-naive"),
    Variant("quix", "quix"),
    Variant("streamer-1", "streamer", 1),
    Variant("streamer-2", "streamer", 2),
)


def variant(name: str) -> Variant:
    for known in VARIANTS:
        if known.name == name:
            return known
    raise ConfigError(f"unknown variant {name!r}; choose from {', '.join(v.name for v in VARIANTS)}")
