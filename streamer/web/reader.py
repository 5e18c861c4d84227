"""Reads the output topics into a :class:`MarketView`: recent history first, then live.

The reader assigns itself every partition of the output topics (no consumer group, no commits, so it
changes nothing on the broker), starts each partition at the lookback, and follows it. Topics or partitions
that appear later (the dashboard started before ``streamer topics create``) are found by a periodic
metadata check and read from their lookback as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord

from streamer.errors import BrokerError
from streamer.topics import TopicNames
from streamer.web.lookback import Lookback
from streamer.web.market import MarketView
from streamer.web.routing import apply_output, output_topics

__all__ = ["OutputReader", "ReaderStatus"]

log = logging.getLogger(__name__)

_MAX_FETCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    topics: tuple[str, ...]
    partitions: int
    history_pending: int  # partitions not yet read up to their end offset as of when they were assigned
    lookback: str

    @property
    def live(self) -> bool:
        return self.partitions > 0 and self.history_pending == 0


class OutputReader:
    def __init__(
        self,
        bootstrap: str,
        names: TopicNames,
        view: MarketView,
        lookback: Lookback,
        *,
        discover_every_s: float = 5.0,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self._client_options = dict(client_options or {})  # security settings; never logged
        self.view = view
        self.lookback = lookback
        self.routes = output_topics(names)
        self.discover_every_s = discover_every_s
        self._clock_ms = clock_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._assigned: set[TopicPartition] = set()
        self._targets: dict[TopicPartition, int] = {}  # end offsets to reach before the history is read
        self.changed = asyncio.Event()  # set whenever records were applied to the view

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **self._client_options,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=_MAX_FETCH_BYTES,
            fetch_max_bytes=2 * _MAX_FETCH_BYTES,
        )
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, request_timeout_ms=30_000, **self._client_options
        )
        try:
            await consumer.start()
            await admin.start()
        except KafkaConnectionError as exc:
            await consumer.stop()
            await admin.close()
            raise BrokerError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from None
        self._consumer, self._admin = consumer, admin

    async def stop(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    def status(self) -> ReaderStatus:
        return ReaderStatus(
            topics=tuple(sorted({tp.topic for tp in self._assigned})),
            partitions=len(self._assigned),
            history_pending=len(self._targets),
            lookback=self.lookback.describe(),
        )

    async def run(self) -> None:
        """Read until cancelled."""
        consumer = self._started()
        next_discovery = 0.0
        while True:
            if time.monotonic() >= next_discovery:
                try:
                    await self.discover()
                except KafkaError as exc:
                    log.warning("listing the output topics failed, retrying: %s", exc)
                next_discovery = time.monotonic() + self.discover_every_s
            if not self._assigned:
                await asyncio.sleep(min(1.0, self.discover_every_s))
                continue
            batch = await consumer.getmany(timeout_ms=500, max_records=5_000)
            seen_ms = self._clock_ms()
            for records in batch.values():
                for record in records:
                    self._apply(record, seen_ms)
            if batch:
                self.changed.set()
            await self._check_history()

    async def discover(self) -> None:
        """Assign the output partitions that exist now and were not assigned yet, at their lookback."""
        admin, consumer = self._admin, self._started()
        assert admin is not None
        present = set(await admin.list_topics()) & set(self.routes)
        if not present:
            return
        found: set[TopicPartition] = set()
        for described in await admin.describe_topics(sorted(present)):
            if described.get("error_code", 0) == 0:
                found |= {TopicPartition(described["topic"], p["partition"]) for p in described["partitions"]}
        new = found - self._assigned
        if not new:
            return
        kept = {tp: await consumer.position(tp) for tp in self._assigned}
        consumer.assign(sorted(self._assigned | new))  # assign() replaces the set and forgets positions
        for tp, position in kept.items():
            consumer.seek(tp, position)
        starts = await self._start_offsets(sorted(new))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(sorted(new))
        self._targets |= {tp: end for tp, end in ends.items() if end > starts[tp]}
        self._assigned |= new
        log.info("reading %d more output partitions (%s)", len(new), self.lookback.describe())

    async def _start_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = self._started()
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        at_time: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        since_ms = self.lookback.since_ms(self._clock_ms())
        if since_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, since_ms)))
            at_time = {tp: (meta.offset if meta is not None else None) for tp, meta in found.items()}
        return {tp: self.lookback.start_offset(beginnings[tp], ends[tp], at_time[tp]) for tp in tps}

    async def _check_history(self) -> None:
        if not self._targets:
            return
        consumer = self._started()
        for tp, end in list(self._targets.items()):
            with contextlib.suppress(KafkaError):
                if await consumer.position(tp) >= end:
                    del self._targets[tp]
        if not self._targets:
            log.info("history read; following the output topics live")
            self.changed.set()

    def _apply(self, record: ConsumerRecord, seen_ms: int) -> None:
        apply_output(
            self.view, self.routes[record.topic], record.value, record.headers, record.timestamp, seen_ms
        )

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("OutputReader used before start()")
        return self._consumer
