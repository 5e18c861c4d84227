"""Watching a variant work: its primary outputs (the end offsets of its output topics) and its processes' CPU
and memory, sampled together every few milliseconds.

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

__all__ = ["MemorySample", "OutputWatcher"]

_POLL_S = 0.02


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
    ``pids()`` returns. Use as ``async with``."""

    settings: Settings
    topics: Sequence[str]
    partitions: int
    pids: Callable[[], list[int]]
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
        sample = Sample(time.monotonic(), sum(by_topic), cpu_seconds(self.pids()), by_topic)
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
        next_rss = time.monotonic()
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
            await asyncio.sleep(_POLL_S)
