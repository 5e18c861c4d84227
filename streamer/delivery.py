"""The order a batch is delivered in, which is what the at-least-once guarantee rests on. No Faust.

1. **process**: the processor decides every record's outputs and state changes (no I/O);
2. **send** every output and **wait** until the broker acknowledged all of them;
3. **persist** the state changes: written to the changelog and acknowledged, then to the local store;
4. only then are the inputs reported durable (``on_durable``), which lets their offsets be committed.

A crash before 2 completes re-processes the batch from unchanged state; between 2 and 3, its outputs are
published a second time; after 3, the persisted state says the records are done and they are skipped when
consumed again. The stale-feed timer goes through the same steps, under the same lock, so a timer tick never
interleaves with a batch.

Step 3 runs in the background while the next batch goes through 1 and 2, when both batches together hold at
most ``max_unsettled`` inputs: a crash then publishes both again, so that bound is still what a crash repeats
at most. Under a backlog (full batches) the next batch waits for it instead. The changelog's round trip was
a third of a small batch's time at half load, and the records behind it waited for it. Batches are persisted
one after the other (the next one's changes are taken only once the previous ones landed), so the changelog
keeps every prefix consistent, and the store serves the landing changes to the batch processed meanwhile.

A persist that failed leaves the in-memory state ahead of what is durable, so nothing more is delivered:
every later batch and tick raises :class:`PersistFailed` before it processes anything, and the worker stops
and restarts from its commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from aiokafka.errors import ProducerFenced

from streamer.processor import BatchResult, InMessage, OutMessage, Processor
from streamer.state.store import Change

__all__ = [
    "BatchDelivery",
    "ExactlyOnceDelivery",
    "LocalState",
    "PersistFailed",
    "Sender",
    "StateWriter",
    "Transactions",
]


class Sender(Protocol):
    async def send_all(self, records: Sequence[OutMessage]) -> dict[tuple[str, int], int]:
        """Return once every record is acknowledged (the last offset per topic-partition)."""
        ...


class StateWriter(Protocol):
    async def write(self, changes: dict[int, list[Change]]) -> None:
        """Make ``changes`` (per partition, in order) durable."""
        ...


class Transactions(Protocol):
    async def commit(
        self, partition: int, records: Sequence[OutMessage], offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """Write ``records`` and commit the consumed ``offsets`` atomically (last offsets written)."""
        ...


class LocalState(Protocol):
    @property
    def changelog_topic(self) -> str: ...

    def write(self, partition: int, changes: Sequence[Change], changelog_offset: int) -> None:
        """Apply committed ``changes`` to the local store, with the changelog offset they reached."""
        ...


OnDurable = Callable[[Sequence[InMessage], set[tuple[str, int]]], None]


def _ignore(messages: Sequence[InMessage], closing: set[tuple[str, int]]) -> None:
    return None


def _unreported(exc: BaseException) -> None:
    return None  # the next batch, tick or settle raises it


class PersistFailed(RuntimeError):
    """A batch's state could not be persisted: the in-memory state is ahead of the durable one."""


class BatchDelivery:
    """Runs :class:`Processor` batches and timer ticks through process -> send -> persist, one at a time.

    ``on_durable(inputs, closing)`` is called, in batch order, once a batch's state is persisted; ``closing``
    is :meth:`Processor.closing_inputs` as of that batch. With ``max_unsettled`` (inputs) the persisting of a
    batch overlaps the next batch (module docstring); without it every batch is persisted before
    :meth:`deliver` returns. ``on_failure`` hears at once of a persist that failed in the background (with
    no batch to deliver, nothing else would until the next timer tick)."""

    def __init__(
        self,
        processor: Processor,
        sender: Sender,
        state: StateWriter,
        *,
        on_durable: OnDurable = _ignore,
        max_unsettled: int | None = None,
        on_failure: Callable[[BaseException], None] = _unreported,
    ) -> None:
        self.processor = processor
        self._sender = sender
        self._state = state
        self._on_durable = on_durable
        self._max_unsettled = max_unsettled
        self._on_failure = on_failure
        self._lock = asyncio.Lock()
        self._landing: asyncio.Future[None] | None = None
        self._landing_inputs = 0
        self._failed: BaseException | None = None

    async def deliver(self, batch: Sequence[InMessage]) -> BatchResult:
        """Process ``batch`` and return once its outputs are acknowledged and its state is durable, or (with
        ``max_unsettled``) being persisted."""
        async with self._lock:
            self._refuse_after_failure()
            limit = self._max_unsettled
            if limit is not None and self._landing_inputs + len(batch) > limit:
                await self._settled()  # else a crash could publish more than ``limit`` inputs again
            result = self.processor.process(batch)
            if result.primary or result.derived:
                await self._sender.send_all(result.outputs)
            await self._settled()  # the previous batch's changes first: the changelog is written in order
            self._persist(batch)
            if limit is None:
                await self._settled()
            return result

    async def tick(self, wall_ms: int | None = None) -> list[OutMessage]:
        """Tick the stale-feed detectors; return their anomalies once sent and their state persisted."""
        async with self._lock:
            self._refuse_after_failure()
            await self._settled()
            outputs = self.processor.tick(wall_ms)
            if outputs:
                await self._sender.send_all(outputs)
            self._persist(())
            await self._settled()
            return outputs

    async def settle(self) -> None:
        """Return once every delivered batch's state is persisted (before a rebalance or a shutdown)."""
        async with self._lock:
            await self._settled()

    def _refuse_after_failure(self) -> None:
        if self._failed is not None:
            if self._landing is not None and self._landing.done():  # its exception is the cause below
                self._landing.exception()
                self._landing = None
                self._landing_inputs = 0
            raise PersistFailed("an earlier batch's state was not persisted") from self._failed

    async def _settled(self) -> None:
        landing = self._landing
        if landing is not None:
            try:
                await landing
            finally:
                self._landing = None
                self._landing_inputs = 0

    def _persist(self, batch: Sequence[InMessage]) -> None:
        """Start persisting the batch's state changes (the previous batch's have landed)."""
        changes = self.processor.take_changes()
        closing = self.processor.closing_inputs()
        if not changes:
            self.processor.persisted()
            self._on_durable(batch, closing)
            return
        self.processor.landing(changes)
        self.processor.persisted()  # the next changes are taken only once these landed: see the docstring
        self._landing = asyncio.ensure_future(self._land(changes, batch, closing))
        self._landing_inputs = len(batch)

    async def _land(
        self, changes: dict[int, list[Change]], batch: Sequence[InMessage], closing: set[tuple[str, int]]
    ) -> None:
        try:
            await self._state.write(changes)
        except Exception as exc:
            self._failed = exc
            self._on_failure(exc)
            raise
        self.processor.landed()
        self._on_durable(batch, closing)


class ExactlyOnceDelivery:
    """process -> one transaction per partition (outputs, state changes and consumed offsets) -> local store.

    A crash at any point leaves each partition's batch committed entirely or not at all: read_committed
    readers see every output exactly once, and the offsets need no separate commit. A partition whose
    transaction was fenced (another worker owns it now) is left to that worker: the other partitions of the
    batch still commit, and the in-memory state, which ran ahead of what was committed, is reloaded.
    """

    def __init__(self, processor: Processor, transactions: Transactions, local: LocalState) -> None:
        self.processor = processor
        self._transactions = transactions
        self._local = local
        self._lock = asyncio.Lock()

    async def deliver(self, batch: Sequence[InMessage]) -> BatchResult:
        """Process ``batch``; return what was committed (nothing of a fenced partition's records)."""
        async with self._lock:
            result = self.processor.process(batch)
            offsets: dict[int, dict[tuple[str, int], int]] = {}
            for msg in batch:
                consumed = offsets.setdefault(msg.partition, {})
                if msg.offset >= consumed.get((msg.topic, msg.partition), 0):
                    consumed[(msg.topic, msg.partition)] = msg.offset + 1
            fenced = await self._commit(result.outputs, offsets)
            if not fenced:
                return result
            return BatchResult(
                [out for out in result.primary if out.source_partition not in fenced],
                [out for out in result.derived if out.source_partition not in fenced],
                result.skipped,
            )

    async def tick(self, wall_ms: int | None = None) -> list[OutMessage]:
        async with self._lock:
            outputs = self.processor.tick(wall_ms)
            fenced = await self._commit(outputs, {})
            return [out for out in outputs if out.source_partition not in fenced]

    async def _commit(
        self, outputs: Sequence[OutMessage], offsets: dict[int, dict[tuple[str, int], int]]
    ) -> set[int]:
        """Commit per partition; return the partitions whose transaction was fenced."""
        changes = self.processor.take_changes()
        topic = self._local.changelog_topic
        records: dict[int, list[OutMessage]] = {}
        for out in outputs:
            records.setdefault(out.source_partition, []).append(out)
        for partition, entries in changes.items():
            records.setdefault(partition, []).extend(
                OutMessage(topic, key, value, (), None, partition, outcome="state", partition=partition)
                for key, value in entries
            )
        partitions = sorted(set(records) | set(offsets))
        results = await asyncio.gather(
            *(self._transactions.commit(p, records.get(p, []), offsets.get(p, {})) for p in partitions),
            return_exceptions=True,
        )
        fenced = {p for p, r in zip(partitions, results, strict=True) if isinstance(r, ProducerFenced)}
        failure = next(
            (r for r in results if isinstance(r, BaseException) and not isinstance(r, ProducerFenced)), None
        )
        last = {tp: offset for r in results if isinstance(r, dict) for tp, offset in r.items()}
        for partition, entries in changes.items():
            if (topic, partition) in last:  # committed: its changes are the partition's state now
                self._local.write(partition, entries, last[(topic, partition)])
        if failure is not None or fenced:
            self.processor.forget_keys()  # the uncommitted partitions' state ran ahead: reload it
            if failure is not None:
                raise failure
        else:
            self.processor.persisted()
        return fenced
