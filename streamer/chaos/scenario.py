"""A chaos run: real workers and a real broker, SIGKILLs and broker restarts at chosen moments, then an
offset-level audit of what came out.

The run produces a backlog of simulated market data (with a share of corrupt messages), starts the workers,
and triggers each step when the share of inputs already published reaches the step's ``at``:

- ``kill_worker``: SIGKILL one worker and start it again at once on the same data dir;
- ``restart_broker``: stop the broker (or one node of a cluster) cleanly and start it again;
- ``kill_broker``: the same with SIGKILL.

While it runs it samples, every ``sample_s``, the group's committed offsets next to the highest input
offset already published for each raw partition: their difference is the work a crash would redo.

A worker may also stop by itself (exit 1 when it finds its partitions taken over and not reassigned, or a
pipeline failure). The run restarts it, as Kubernetes or ``restart: unless-stopped`` would, and reports each
such exit (:class:`SelfExit`), so that a run cannot stall with every worker gone and a caller can judge them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.broker.cluster import LocalCluster
from streamer.chaos.audit import Audit
from streamer.chaos.probe import OutputTail, committed_offsets
from streamer.chaos.reference import reference_bars
from streamer.chaos.workers import WorkerProcess
from streamer.dlq import Origin
from streamer.errors import BrokerError
from streamer.feeds.base import RawMessage
from streamer.feeds.simulate import generate, market_series
from streamer.settings import load_settings
from streamer.topics import Kind, TopicNames

__all__ = ["ChaosConfig", "ChaosReport", "SelfExit", "Step", "random_steps", "run_chaos"]

log = logging.getLogger(__name__)

ACTIONS = ("kill_worker", "restart_broker", "kill_broker")


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # share of inputs published (0..1) that triggers the step
    action: str
    target: int = 0  # worker index, or broker node index

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown chaos action {self.action!r}; one of {', '.join(ACTIONS)}")
        if not 0.0 <= self.at < 1.0:
            raise ValueError("a step's 'at' is a share of the inputs, in [0, 1)")


def random_steps(kills: int, broker_kills: int, workers: int, brokers: int, seed: int) -> tuple[Step, ...]:
    """SIGKILLs of random workers, and of random broker nodes (restarted), at random moments of the run."""
    rng = random.Random(seed)
    steps = [
        Step(round(rng.uniform(0.1, 0.9), 3), "kill_worker", rng.randrange(workers)) for _ in range(kills)
    ]
    steps += [
        Step(round(rng.uniform(0.2, 0.8), 3), "kill_broker", rng.randrange(brokers))
        for _ in range(broker_kills)
    ]
    return tuple(sorted(steps, key=lambda s: s.at))


ISSUE_SEQUENCE = (
    Step(0.25, "kill_worker"),
    Step(0.50, "restart_broker"),
    Step(0.75, "kill_worker"),
)


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    messages: int = 40_000
    corrupt_rate: float = 0.05
    nodes: int = 400
    zones: int = 0
    partitions: int = 4
    workers: int = 1
    brokers: int = 1  # 1: a single local broker; 3: a replicated cluster (min.insync.replicas=2)
    steps: tuple[Step, ...] = ISSUE_SEQUENCE
    preload: float = 1.0  # share of the inputs produced before the workers start; the rest during the run
    feed_rate: float = 2_000.0  # messages/s for the rest
    worker_args: tuple[str, ...] = ()
    worker_env: tuple[tuple[str, str], ...] = ()
    sample_s: float = 2.0
    settle_s: float = 5.0  # after the last input is published, wait this long for stray repeats
    compare_bars: bool = False  # compare the bars with an uninterrupted run's (computed in this process)
    timeout_s: float = 900.0
    seed: int = 1
    bootstrap: str | None = None  # an existing broker (then no broker steps); None starts one


@dataclass(slots=True)
class StepOutcome:
    step: Step
    at_s: float  # seconds since the workers started
    restarted_s: float = 0.0  # how long the step itself took (a broker restart takes a while)
    first_output_s: float | None = None  # from the step to the next output
    at_monotonic: float = 0.0
    processed_max: dict[tuple[str, int], int] = field(default_factory=dict)  # at the step
    all_partitions_resumed_s: float | None = None  # until every partition with inputs left published again

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.step.at,
            "action": self.step.action,
            "target": self.step.target,
            "at_s": round(self.at_s, 2),
            "restarted_s": round(self.restarted_s, 2),
            "first_output_after_s": None if self.first_output_s is None else round(self.first_output_s, 2),
            "all_partitions_resumed_s": (
                None if self.all_partitions_resumed_s is None else round(self.all_partitions_resumed_s, 2)
            ),
        }


@dataclass(frozen=True, slots=True)
class SelfExit:
    worker: int
    at_s: float  # seconds since the workers started
    exit_code: int
    reason: str  # the last CRITICAL line of the worker's log, if any

    def as_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "at_s": round(self.at_s, 2),
            "exit_code": self.exit_code,
            "reason": self.reason,
        }


@dataclass(slots=True)
class CommitSample:
    t_s: float
    committed: dict[tuple[str, int], int]
    processed_max: dict[tuple[str, int], int]

    def lag(self) -> dict[tuple[str, int], int]:
        """Records published but not yet covered by a commit, per raw partition."""
        return {
            tp: max(0, self.processed_max.get(tp, -1) + 1 - self.committed.get(tp, 0))
            for tp in sorted(set(self.processed_max) | set(self.committed))
        }


@dataclass(slots=True)
class ChaosReport:
    config: ChaosConfig
    audit: Audit
    steps: list[StepOutcome] = field(default_factory=list)
    samples: list[CommitSample] = field(default_factory=list)
    self_exits: list[SelfExit] = field(default_factory=list)
    elapsed_s: float = 0.0
    workdir: str = ""

    def commits_falling_behind(self, behind_s: float, settle_s: float) -> list[str]:
        """Samples whose committed offset is below what was already published ``behind_s`` earlier.

        Only steady stretches count: from ``settle_s`` after a step (a restarted worker first re-reads
        what it had processed but not committed) to the next step.
        """
        steps_s = [s.at_s for s in self.steps]
        problems: list[str] = []
        for sample in self.samples:
            since_step = [sample.t_s - t for t in steps_s if t <= sample.t_s]
            earlier = [e for e in self.samples if e.t_s <= sample.t_s - behind_s]
            if not earlier or (since_step and min(since_step) < settle_s + behind_s):
                continue
            reference = earlier[-1]
            for tp, processed in reference.processed_max.items():
                committed = sample.committed.get(tp, 0)
                if committed < processed + 1:
                    problems.append(
                        f"t={sample.t_s:.0f}s {tp[0]}[{tp[1]}]: committed {committed}, "
                        f"but offset {processed} was published by t={reference.t_s:.0f}s"
                    )
        return problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.config.messages,
            "partitions": self.config.partitions,
            "workers": self.config.workers,
            "brokers": self.config.brokers,
            "elapsed_s": round(self.elapsed_s, 1),
            "audit": self.audit.as_dict(),
            "steps": [s.as_dict() for s in self.steps],
            "self_exits": [e.as_dict() for e in self.self_exits],
            "commit_lag": [
                {"t_s": round(s.t_s, 1), "lag": {f"{t}[{p}]": n for (t, p), n in s.lag().items()}}
                for s in self.samples
            ],
            "workdir": self.workdir,
        }


def _inputs(config: ChaosConfig) -> list[RawMessage]:
    series = market_series(config.nodes, config.zones)
    now_ms = int(time.time() * 1000)
    return [m for m, _ in generate(config.seed, config.messages, config.corrupt_rate, now_ms, series)]


async def _produce(bootstrap: str, topics: TopicNames, messages: Sequence[RawMessage]) -> list[Origin]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topics.raw(m.kind), m.value, key=m.key, timestamp_ms=m.timestamp_ms)
            for m in messages
        ]
        return [Origin(meta.topic, meta.partition, meta.offset) for meta in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


async def _feed_slowly(
    bootstrap: str, topics: TopicNames, messages: Sequence[RawMessage], rate: float, into: list[Origin]
) -> None:
    chunk = max(1, int(rate / 10))
    for i in range(0, len(messages), chunk):
        started = time.monotonic()
        into.extend(await _produce(bootstrap, topics, messages[i : i + chunk]))
        await asyncio.sleep(max(0.0, chunk / rate - (time.monotonic() - started)))


class _Brokers:
    """The run's own broker or cluster, so that a step can restart it."""

    def __init__(self, home: Path, size: int) -> None:
        self.cluster = LocalCluster(home, size) if size > 1 else None
        self.nodes = self.cluster.nodes if self.cluster else [LocalBroker(home / "node-1", heap_mb=1024)]

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap if self.cluster else self.nodes[0].bootstrap

    def start(self) -> None:
        if self.cluster:
            self.cluster.start()
        else:
            self.nodes[0].start(timeout_s=180)

    def stop(self) -> None:
        if self.cluster:
            self.cluster.stop()
        else:
            self.nodes[0].stop()

    def restart(self, index: int, *, kill: bool) -> None:
        node = self.nodes[index % len(self.nodes)]
        if kill:
            node.kill()
        else:
            node.stop()
        node.start(timeout_s=180)


async def run_chaos(config: ChaosConfig, workdir: Path | None = None) -> ChaosReport:
    """Run the sequence and audit it. Raises BrokerError when the run cannot finish in time."""
    root = Path(workdir or tempfile.mkdtemp(prefix="streamer-chaos-"))
    brokers = None if config.bootstrap else _Brokers(root / "kafka", config.brokers)
    if brokers is None and any(s.action != "kill_worker" for s in config.steps):
        raise ValueError("broker steps need the run's own broker (no --bootstrap)")
    if brokers is not None:
        await asyncio.to_thread(brokers.start)
    bootstrap = config.bootstrap or (brokers.bootstrap if brokers else "")
    try:
        return await _run(config, bootstrap, brokers, root)
    finally:
        if brokers is not None:
            await asyncio.to_thread(brokers.stop)


async def _run(config: ChaosConfig, bootstrap: str, brokers: _Brokers | None, root: Path) -> ChaosReport:
    prefix = f"chaos{uuid.uuid4().hex[:8]}."
    settings = load_settings(
        {
            "bootstrap": bootstrap,
            "topic_prefix": prefix,
            "partitions": config.partitions,
            "replication_factor": min(3, config.brokers),
        }
    )
    topics = settings.topics
    await create_topics(settings)
    messages = _inputs(config)
    preload = int(len(messages) * config.preload)
    origins = await _produce(bootstrap, topics, messages[:preload])
    sent_origins = origins  # the feeder appends the rest
    primary = frozenset([*(topics.enriched(k) for k in Kind), topics.dlq])
    outputs = [*primary, topics.bars(Kind.PRICES), topics.bars(Kind.LOAD), topics.anomalies, topics.late]
    tail = OutputTail(bootstrap, outputs, config.partitions, primary_topics=primary, dlq_topic=topics.dlq)
    await tail.start()
    app_id = f"{prefix}app"
    workers = [
        WorkerProcess(
            bootstrap,
            prefix,
            app_id,
            root / f"worker-{i}",
            ("--partitions", str(config.partitions), *config.worker_args),
            dict(config.worker_env),
        )
        for i in range(config.workers)
    ]
    report = ChaosReport(config, Audit(), workdir=str(root))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    feeder: asyncio.Task[None] | None = None
    started = time.monotonic()
    try:
        for worker in workers:
            worker.start()
        if preload < len(messages):
            feeder = asyncio.create_task(
                _feed_slowly(bootstrap, topics, messages[preload:], config.feed_rate, origins)
            )
        await _drive(config, tail, workers, brokers, admin, app_id, set(topics.raw(k) for k in Kind), report)
        if feeder is not None:
            await feeder
        await _wait_all_published(tail, len(messages), started + config.timeout_s, workers, report, started)
        await asyncio.sleep(config.settle_s)
        await tail.caught_up()
        report.elapsed_s = time.monotonic() - started
    finally:
        if feeder is not None and not feeder.done():
            feeder.cancel()
        for worker in workers:
            await asyncio.to_thread(worker.terminate)
        await tail.stop()
        await admin.close()
    report.audit = tail.ledger.audit(origins)
    _time_restarts(report, tail, origins)
    if config.compare_bars:
        expected = await asyncio.to_thread(
            reference_bars, settings, list(zip(sent_origins, messages, strict=True))
        )
        got = tail.ledger.bars()
        report.audit.bars_missing = len(set(expected) - set(got))
        report.audit.bars_extra = len(set(got) - set(expected))
        report.audit.bars_differing = sum(
            1 for ident, digest in got.items() if expected.get(ident, digest) != digest
        )
    return report


def _time_restarts(report: ChaosReport, tail: OutputTail, origins: Sequence[Origin]) -> None:
    """Per step, the time until every raw partition that still had inputs to publish published again."""
    last_input: dict[tuple[str, int], int] = {}
    for origin in origins:
        tp = (origin.topic, origin.partition)
        last_input[tp] = max(origin.offset, last_input.get(tp, -1))
    for outcome in report.steps:
        pending = [tp for tp, last in last_input.items() if outcome.processed_max.get(tp, -1) < last]
        resumed = tail.partition_resumed_after(outcome.at_monotonic)
        waits = [resumed[tp] - outcome.at_monotonic for tp in pending if tp in resumed]
        outcome.all_partitions_resumed_s = max(waits) if waits else None


async def _wait_all_published(
    tail: OutputTail,
    total: int,
    deadline: float,
    workers: Sequence[WorkerProcess],
    report: ChaosReport,
    started: float,
) -> None:
    while len(tail.primary_seen) < total:
        if time.monotonic() > deadline:
            raise BrokerError(f"only {len(tail.primary_seen)} of {total} inputs published before the timeout")
        _restart_exited(workers, report, started)
        await asyncio.sleep(0.2)


def _restart_exited(workers: Sequence[WorkerProcess], report: ChaosReport, started: float) -> None:
    """Start again every worker that stopped by itself, and record why it stopped."""
    for index, worker in enumerate(workers):
        code = worker.exit_code
        if code is None:
            continue
        exit = SelfExit(index, time.monotonic() - started, code, _last_critical(worker.log_path))
        log.warning("chaos: worker %d exited by itself (%d: %s); restarting it", index, code, exit.reason)
        report.self_exits.append(exit)
        worker.start()


def _last_critical(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if "[CRITICAL]" in line), "")


async def _drive(
    config: ChaosConfig,
    tail: OutputTail,
    workers: list[WorkerProcess],
    brokers: _Brokers | None,
    admin: AIOKafkaAdminClient,
    group: str,
    raw_topics: set[str],
    report: ChaosReport,
) -> None:
    """Trigger each step at its share of inputs published; sample commits meanwhile."""
    pending = sorted(config.steps, key=lambda s: s.at)
    started = time.monotonic()
    deadline = started + config.timeout_s
    next_sample = started
    while pending or len(tail.primary_seen) < config.messages:
        now = time.monotonic()
        if now > deadline:
            raise BrokerError(
                f"chaos run timed out with {len(tail.primary_seen)} of {config.messages} published"
            )
        if now >= next_sample:
            committed = await committed_offsets(admin, group, raw_topics)
            if committed is not None:  # None: the broker could not answer (a restart, a rebalance)
                report.samples.append(CommitSample(now - started, committed, dict(tail.processed_max)))
            next_sample = now + config.sample_s
        _restart_exited(workers, report, started)
        share = len(tail.primary_seen) / config.messages
        if pending and share >= pending[0].at:
            step = pending.pop(0)
            await _apply(step, workers, brokers, tail, report, started)
        await asyncio.sleep(0.1)


async def _apply(
    step: Step,
    workers: list[WorkerProcess],
    brokers: _Brokers | None,
    tail: OutputTail,
    report: ChaosReport,
    started: float,
) -> None:
    """Apply ``step``; time from it to the next output that only the restarted part can have written."""
    log.warning("chaos: %s %d", step.action, step.target)
    at = time.monotonic()
    outcome = StepOutcome(step, at - started, at_monotonic=at, processed_max=dict(tail.processed_max))
    report.steps.append(outcome)
    if step.action == "kill_worker":
        worker = workers[step.target % len(workers)]
        worker.kill()  # returns once the process is gone: every later output is the new process's
        before = await tail.end_total()
        worker.start()
    else:
        assert brokers is not None
        await asyncio.to_thread(brokers.restart, step.target, kill=step.action == "kill_broker")
        before = await tail.end_total()
    outcome.restarted_s = time.monotonic() - at
    asyncio.get_running_loop().create_task(_time_first_output(tail, at, before, outcome))


async def _time_first_output(tail: OutputTail, at: float, before: int, outcome: StepOutcome) -> None:
    deadline = at + 300.0
    while time.monotonic() < deadline:
        first = tail.first_output_after(at, before)
        if first is not None:
            outcome.first_output_s = first - at
            return
        await asyncio.sleep(0.2)
