"""Watching a variant work: its primary outputs (the end offsets of its output topics) and its processes' CPU
and memory, sampled together every 20 ms at first, then every 0.5% of the time watched (at most every 0.5 s).

Sampling costs the machine the variant runs on: at 50 samples a second the harness used 0.23 cores and the
broker answered 50 offset requests a second, while two workers had the rest of the 2 cores. Sampling in
proportion to the time watched keeps every measurement's resolution at 0.5% of its length (a passthrough's
backlog is done in a second; a worker's takes minutes) at a fraction of that cost.

End offsets count every output the broker has acknowledged, whatever its content, so the count costs the
variant nothing (no consumer of its outputs runs during the throughput phase)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.benchmark.processes import cpu_seconds, status_kib
from streamer.benchmark.stats import Sample
from streamer.errors import BenchmarkError
from streamer.kafka_security import aiokafka_options
from streamer.settings import Settings

__all__ = ["MemorySample", "OutputWatcher", "poll_pause_s"]

# A sample (end offsets of every output partition, /proc of every process) cost this harness about 2.7 ms
# of CPU, and the broker a request. At 0.5% of the time watched, the harness used 4.0-4.3 us of CPU per
# event of a streamer run (6% of a core, taken from two workers on two cores); at 2%, 1.6-2.0.
_POLL_S = 0.02  # the shortest pause between samples
_POLL_SHARE = 0.02  # ... growing to this share of the time watched so far
_POLL_MAX_S = 0.5


def poll_pause_s(watched_s: float) -> float:
    """The pause before the next sample, ``watched_s`` into a watch."""
    return min(_POLL_MAX_S, max(_POLL_S, _POLL_SHARE * watched_s))


def unstarted_reader(settings: Settings) -> AIOKafkaConsumer:
    """A group-less consumer of the bench's output topics, with large fetches; the caller starts it."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **aiokafka_options(settings.kafka_security),
    )


@dataclass(frozen=True, slots=True)
class MemorySample:
    t_s: float
    outputs: int
    rss_kib: int


@dataclass(slots=True)
class OutputWatcher:
    """Counts the outputs of ``topics`` (with ``partitions`` each) and samples the CPU of the processes
    ``pids()`` returns, and of the broker's (``broker_pids()``, none if the broker is not ours). Use as
    ``async with``."""

    settings: Settings
    topics: Sequence[str]
    partitions: int
    pids: Callable[[], list[int]]
    broker_pids: Callable[[], list[int]] = list
    base: dict[TopicPartition, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> OutputWatcher:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            enable_auto_commit=False,
            **aiokafka_options(self.settings.kafka_security),
        )
        await self._consumer.start()
        self.base = await self._ends()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _ends(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        tps = [TopicPartition(t, p) for t in self.topics for p in range(self.partitions)]
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(tps)
        return ends

    async def count_by_topic(self) -> tuple[int, ...]:
        """Outputs written since the watcher started, per topic (in the order of ``topics``)."""
        ends = await self._ends()
        written = dict.fromkeys(self.topics, 0)
        for tp, end in ends.items():
            written[tp.topic] += end - self.base.get(tp, 0)
        return tuple(written.values())

    async def sample(self) -> Sample:
        by_topic = await self.count_by_topic()
        worker_cpu_s, broker_cpu_s = cpu_seconds(self.pids()), cpu_seconds(self.broker_pids())
        sample = Sample(time.monotonic(), sum(by_topic), worker_cpu_s, by_topic, broker_cpu_s)
        self.samples.append(sample)
        return sample

    async def until(
        self,
        total: int,
        timeout_s: float,
        alive: Callable[[], str | None],
        rss_every_s: float | None = None,
    ) -> Sample:
        """Sample until ``total`` outputs were written. ``alive`` returns why the variant stopped, or None
        while it runs. With ``rss_every_s``, the processes' RSS is recorded that often.

        Gives up after ``timeout_s`` without a new output, not after ``timeout_s`` in all: a long run on a
        slow machine (100k series x 48 intervals took over 50 minutes on 2 cores) is not a hung one."""
        started = next_rss = time.monotonic()
        seen, deadline = -1, math.inf  # the first sample is progress and sets the deadline
        while True:
            sample = await self.sample()
            if rss_every_s is not None and sample.t_s >= next_rss:
                self.memory.append(MemorySample(sample.t_s, sample.outputs, status_kib(self.pids(), "VmRSS")))
                next_rss = sample.t_s + rss_every_s
            if sample.outputs >= total:
                return sample
            if sample.outputs > seen:
                seen, deadline = sample.outputs, sample.t_s + timeout_s
            elif sample.t_s > deadline:
                raise BenchmarkError(
                    f"no new output for {timeout_s:g}s ({sample.outputs} of {total} outputs)"
                )
            stopped = alive()
            if stopped is not None:
                raise BenchmarkError(f"{stopped} ({sample.outputs} of {total} outputs)")
            await asyncio.sleep(poll_pause_s(sample.t_s - started))
