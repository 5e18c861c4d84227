"""What every variant is fed: a simulated market of price nodes and load zones at 5-minute intervals."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka.partitioner import murmur2

from streamer.feeds.base import RawMessage
from streamer.feeds.simulate import SimSeries, generate, market_series
from streamer.processor import InMessage
from streamer.topics import Kind, TopicNames

__all__ = ["Workload", "as_consumed"]


def as_consumed(messages: Iterable[RawMessage], topics: TopicNames, partitions: int) -> list[InMessage]:
    """``messages`` as a worker would consume them, without Kafka: each on the partition the Java client's
    default partitioner picks for its key, at the next offset of that partition."""
    offsets = [0] * partitions
    out: list[InMessage] = []
    for m in messages:
        p = (murmur2(m.key) & 0x7FFFFFFF) % partitions
        out.append(InMessage(topics.raw(m.kind), p, offsets[p], m.key, m.value, [], m.timestamp_ms))
        offsets[p] += 1
    return out


@dataclass(frozen=True, slots=True)
class Workload:
    """``nodes`` price nodes and ``zones`` load zones over four markets (plus two daily gas hubs), a share
    ``corrupt_rate`` of corrupt messages, on ``partitions`` partitions per raw topic.

    Messages come in event-time order, one round of every 5-minute series per interval, as a live feed
    delivers them, ending at the last complete interval before ``now_ms``; the same seed and ``now_ms``
    give the same bytes, so every variant of a run gets the same messages."""

    nodes: int = 2_000
    zones: int = 50
    partitions: int = 4
    corrupt_rate: float = 0.02
    seed: int = 2024
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.zones < 0:
            raise ValueError("need at least one price node and no negative zone count")
        if self.partitions < 1:
            raise ValueError("partitions must be at least 1")
        if not 0.0 <= self.corrupt_rate <= 1.0:
            raise ValueError("corrupt_rate must be within [0, 1]")

    @property
    def series(self) -> tuple[SimSeries, ...]:
        return market_series(self.nodes, self.zones)

    @property
    def five_minute_series(self) -> int:
        return self.nodes + self.zones

    def count_for_intervals(self, intervals: int) -> int:
        """Messages for ``intervals`` 5-minute intervals of every price node and load zone."""
        return intervals * self.five_minute_series

    def messages(self, count: int) -> Iterator[RawMessage]:
        """The first ``count`` messages of the feed (a lazy stream: large runs never hold them all)."""
        for message, _ in generate(self.seed, count, self.corrupt_rate, self.now_ms, self.series):
            yield message

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["series"] = self.five_minute_series + sum(1 for s in self.series if s.kind is Kind.GAS)
        return out
