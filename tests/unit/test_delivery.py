"""The order a batch is delivered in, driven with fakes of the broker side and the real processor on SA1.

At least once: nothing is persisted before every output is acknowledged, and a failed send persists nothing.
Exactly once: each partition commits on its own; a partition whose transaction was fenced (another worker
took it over) is left to its new owner without stopping the others, and its uncommitted state is dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from aiokafka.errors import IllegalOperation, KafkaConnectionError, KafkaError, ProducerFenced
from aiokafka.producer.transaction_manager import TransactionManager

from streamer import transactions as transactions_module
from streamer.delivery import BatchDelivery, ExactlyOnceDelivery, PersistFailed
from streamer.enrichment import parse_window_specs
from streamer.feeds import read_path
from streamer.feeds.base import RawMessage
from streamer.processor import InMessage, OutMessage, Processor
from streamer.settings import Settings
from streamer.state import MemoryBackend, StateStore
from streamer.state.store import Change
from streamer.topics import Kind
from streamer.transactions import PartitionTransactions

SA1 = Path(__file__).resolve().parents[2] / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
NOW_MS = 4_000_000_000_000  # every 2009 row is in the past
SETTINGS = Settings()
CHANGELOG = "streamer-state-changelog"


@pytest.fixture(scope="module")
def batch() -> list[InMessage]:
    """A day of SA1 prices on partition 0 and the same day's load on partition 1."""
    rows = list(read_path(SA1, "aemo"))
    prices = [m for m in rows if m.kind is Kind.PRICES][:288]
    load = [m for m in rows if m.kind is Kind.LOAD][:288]
    return _on(prices, 0) + _on(load, 1)


def _on(messages: list[RawMessage], partition: int) -> list[InMessage]:
    return [
        InMessage(f"raw.{m.kind.value}", partition, i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]


class Disk:
    """Each partition's local store."""

    def __init__(self) -> None:
        self.backends: dict[int, MemoryBackend] = {}
        self.changelog_offsets: dict[int, int] = {}

    def backend(self, partition: int) -> MemoryBackend:
        return self.backends.setdefault(partition, MemoryBackend())

    def processor(self) -> Processor:
        return Processor(
            topics=SETTINGS.topics,
            policy=SETTINGS.policy,
            clock_ms=lambda: NOW_MS,
            store=StateStore(self.backend, 10_000, 100_000),
            window_specs=parse_window_specs("5m,1h,1h/5m"),
        )

    # LocalState
    @property
    def changelog_topic(self) -> str:
        return CHANGELOG

    def write(self, partition: int, changes: Sequence[Change], changelog_offset: int) -> None:
        self.backend(partition).apply(changes)
        self.changelog_offsets[partition] = changelog_offset

    # StateWriter (at least once)
    async def write_all(self, changes: dict[int, list[Change]]) -> None:
        for partition, entries in changes.items():
            self.backend(partition).apply(entries)


class Transactions:
    """Commits in memory; partitions in ``fenced`` raise ProducerFenced, in ``failing`` a broker error."""

    def __init__(self, fenced: frozenset[int] = frozenset(), failing: frozenset[int] = frozenset()) -> None:
        self.fenced = set(fenced)
        self.failing = set(failing)
        self.committed: dict[int, list[OutMessage]] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self._next: dict[tuple[str, int], int] = {}

    async def commit(
        self, partition: int, records: Sequence[OutMessage], offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        if partition in self.fenced:
            raise ProducerFenced()
        if partition in self.failing:
            raise KafkaConnectionError("broker gone")
        last: dict[tuple[str, int], int] = {}
        for record in records:
            tp = (record.topic, partition)
            last[tp] = self._next.get(tp, 0)
            self._next[tp] = last[tp] + 1
        self.committed.setdefault(partition, []).extend(records)
        self.offsets.update(offsets)
        return last


def _primary(records: Sequence[OutMessage]) -> list[OutMessage]:
    return [r for r in records if r.outcome != "state" and r.source_topic]


async def test_a_fenced_partition_is_left_to_its_new_owner_and_the_others_commit(
    batch: list[InMessage],
) -> None:
    disk = Disk()
    transactions = Transactions(fenced=frozenset({1}))
    delivery = ExactlyOnceDelivery(disk.processor(), transactions, disk)

    result = await delivery.deliver(batch)

    assert {out.source_partition for out in result.outputs} == {0}, "a fenced partition's outputs aren't ours"
    assert len(result.primary) == 288
    assert [r.outcome for r in _primary(transactions.committed[0])] == ["enriched"] * 288
    assert transactions.offsets == {("raw.prices", 0): 288}
    assert 1 not in transactions.committed and 1 not in disk.changelog_offsets
    assert disk.backend(0).data and not disk.backend(1).data

    # The partition comes back (a rebalance): its batch is processed from its committed state, as new.
    transactions.fenced.clear()
    again = await delivery.deliver([m for m in batch if m.partition == 1])
    fresh = Disk()
    control = await ExactlyOnceDelivery(fresh.processor(), Transactions(), fresh).deliver(
        [m for m in batch if m.partition == 1]
    )
    assert again.skipped == 0
    assert [(o.topic, o.key, o.value) for o in again.outputs] == [
        (o.topic, o.key, o.value) for o in control.outputs
    ]
    assert disk.backend(1).data == fresh.backend(1).data


async def test_a_failed_commit_raises_after_the_committed_partitions_are_stored(
    batch: list[InMessage],
) -> None:
    disk = Disk()
    transactions = Transactions(failing=frozenset({1}))
    delivery = ExactlyOnceDelivery(disk.processor(), transactions, disk)

    with pytest.raises(KafkaConnectionError):
        await delivery.deliver(batch)

    assert disk.backend(0).data and not disk.backend(1).data
    # Retried after the failure: partition 0 was done and is skipped; partition 1 is processed as new.
    transactions.failing.clear()
    retried = await delivery.deliver(batch)
    assert retried.skipped == 288
    assert [o.outcome for o in retried.primary] == ["enriched"] * 288
    assert {o.source_partition for o in retried.primary} == {1}


async def test_at_least_once_persists_only_after_every_output_is_acknowledged(batch: list[InMessage]) -> None:
    disk = Disk()
    events: list[str] = []

    class Sender:
        fail = True

        async def send_all(self, records: Sequence[OutMessage]) -> dict[tuple[str, int], int]:
            events.append(f"send {len(records)}")
            if self.fail:
                raise KafkaConnectionError("broker gone")
            return {}

    class Writer:
        async def write(self, changes: dict[int, list[Change]]) -> None:
            events.append("persist")
            await disk.write_all(changes)

    sender = Sender()
    delivery = BatchDelivery(disk.processor(), sender, Writer())
    with pytest.raises(KafkaConnectionError):
        await delivery.deliver(batch)
    assert events == [events[0]] and events[0].startswith("send ")
    assert not disk.backend(0).data and not disk.backend(1).data, "state persisted before its outputs"

    sender.fail = False  # the worker restarts: a new processor on the same disk
    result = await BatchDelivery(disk.processor(), sender, Writer()).deliver(batch)
    assert events[1:] == [events[0], "persist"]
    assert len(result.primary) == 576 and result.skipped == 0
    assert disk.backend(0).data and disk.backend(1).data


class FakeProducer:
    """A transactional producer whose transactions are fenced while ``FakeProducer.fencing`` is set.

    With ``FakeProducer.failing_underneath`` set, its background sender fails with that error while the
    offsets are added to the transaction: aiokafka's own transaction state records it, and the call raises
    only ``IllegalOperation``, as aiokafka's does."""

    fencing = False
    failing_underneath: Exception | None = None
    started: list[FakeProducer] = []

    def __init__(self, **options: object) -> None:
        self.transactional_id = options["transactional_id"]
        self.stopped = False
        self.committed = 0
        self.aborted = 0
        self._txn_manager = TransactionManager(self.transactional_id, 60_000)
        self._txn_manager.set_pid_and_epoch(1, 0)

    async def start(self) -> None:
        FakeProducer.started.append(self)
        await asyncio.sleep(0.01)  # init_transactions: a round trip to the transaction coordinator

    async def stop(self) -> None:
        self.stopped = True

    async def begin_transaction(self) -> None:
        if FakeProducer.fencing:
            raise ProducerFenced()
        self._txn_manager.begin_transaction()

    async def send_offsets_to_transaction(self, offsets: object, group_id: str) -> None:
        failure = FakeProducer.failing_underneath
        if failure is not None:
            FakeProducer.failing_underneath = None
            self._txn_manager.fatal_error(failure)
            raise IllegalOperation("Not in the middle of a transaction")

    async def abort_transaction(self) -> None:
        self.aborted += 1

    async def commit_transaction(self) -> None:
        self._txn_manager.committing_transaction()
        self._txn_manager.complete_transaction()
        self.committed += 1


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> PartitionTransactions:
    """Partition transactions over :class:`FakeProducer` (its class-level switches reset)."""
    monkeypatch.setattr(transactions_module, "AIOKafkaProducer", FakeProducer)
    FakeProducer.started = []
    FakeProducer.fencing = False
    FakeProducer.failing_underneath = None
    return PartitionTransactions({"bootstrap_servers": "kafka:9092"}, id_prefix="app-tx", group_id="app")


async def test_a_fenced_worker_does_not_fence_the_new_owner_back_until_it_is_given_the_partition(
    monkeypatch: pytest.MonkeyPatch, transactions: PartitionTransactions
) -> None:
    await transactions.claim({3})
    first = FakeProducer.started[0]

    FakeProducer.fencing = True  # another worker's producer with id app-tx-3 started
    with pytest.raises(ProducerFenced):
        await transactions.commit(3, [], {})
    assert first.stopped and transactions.fenced == {3}
    FakeProducer.fencing = False
    with pytest.raises(ProducerFenced):  # a later batch of the lost partition: no new producer, no retry
        await transactions.commit(3, [], {})
    assert FakeProducer.started == [first], "a new producer would fence the partition's rightful owner"

    assert transactions.fenced_since(0) == {3} and transactions.fenced_since(3600) == set()
    later = time.monotonic() + 3600
    monkeypatch.setattr(transactions_module.time, "monotonic", lambda: later)
    assert transactions.fenced_since(3600) == {3}, "still fenced an hour later: the worker stops (pipeline)"
    monkeypatch.undo()
    monkeypatch.setattr(transactions_module, "AIOKafkaProducer", FakeProducer)

    await transactions.claim({3})  # the rebalance gives it back
    assert transactions.fenced == set() and len(FakeProducer.started) == 2
    assert await transactions.commit(3, [], {}) == {}
    assert FakeProducer.started[1].committed == 1 and FakeProducer.started[1].transactional_id == "app-tx-3"


async def test_a_fence_the_sender_learns_of_first_loses_the_partition_instead_of_stopping_the_worker(
    transactions: PartitionTransactions,
) -> None:
    """aiokafka reports it as IllegalOperation (not a KafkaError), which stopped a worker in a chaos run."""
    await transactions.claim({2})
    FakeProducer.failing_underneath = ProducerFenced()
    with pytest.raises(ProducerFenced):
        await transactions.commit(2, [], {("raw", 2): 10})
    assert transactions.fenced == {2} and len(FakeProducer.started) == 1 and FakeProducer.started[0].stopped


async def test_another_failure_underneath_a_transaction_is_retried_with_a_new_producer(
    monkeypatch: pytest.MonkeyPatch, transactions: PartitionTransactions
) -> None:
    monkeypatch.setattr(transactions_module, "_RETRY_PAUSE_S", 0.0)
    await transactions.claim({2})
    FakeProducer.failing_underneath = KafkaConnectionError()
    assert await transactions.commit(2, [], {("raw", 2): 10}) == {}
    first, second = FakeProducer.started
    assert first.stopped and first.committed == 0 and first.aborted == 0  # its transaction is dead: dropped
    assert second.committed == 1 and transactions.retries == 1 and transactions.fenced == set()


async def test_a_batch_committed_while_the_assignment_is_claimed_starts_no_second_producer_of_its_partition(
    transactions: PartitionTransactions,
) -> None:
    """Two producers of one transactional id fence each other: the worker took its own partition for lost
    and, the group being stable, stopped itself after a session timeout (a chaos run, at startup)."""
    claiming = asyncio.create_task(transactions.claim({0, 2}))
    await asyncio.sleep(0)  # the claim is starting partition 0's producer; a batch of partition 2 arrives
    assert await transactions.commit(2, [], {("raw", 2): 5}) == {}
    await claiming
    assert sorted(p.transactional_id for p in FakeProducer.started) == ["app-tx-0", "app-tx-2"]
    assert transactions.fenced == set()


async def test_a_partition_no_longer_assigned_is_not_committed_by_a_new_producer(
    transactions: PartitionTransactions,
) -> None:
    """A batch in flight across a rebalance that took its partition away must not start a producer for it:
    that would fence the new owner's."""
    await transactions.claim({1, 3})
    await transactions.claim({1})
    with pytest.raises(ProducerFenced):
        await transactions.commit(3, [], {("raw", 3): 9})
    assert [p.transactional_id for p in FakeProducer.started] == ["app-tx-1", "app-tx-3"]
    assert FakeProducer.started[1].stopped and transactions.fenced == set()


def _with_repeats(batch: list[InMessage]) -> list[InMessage]:
    """Prices and load interleaved, with every 10th price sent again right after (a duplicate whose revision
    entry the previous batch wrote), offsets renumbered per partition."""
    prices = [m for m in batch if m.partition == 0]
    load = [m for m in batch if m.partition == 1]
    mixed: list[InMessage] = []
    for i, (price, zone) in enumerate(zip(prices, load, strict=True)):
        mixed += [price, zone] + ([prices[i - 1]] if i % 10 == 9 else [])
    offsets = {0: 0, 1: 0}
    out = []
    for m in mixed:
        out.append(InMessage(m.topic, m.partition, offsets[m.partition], m.key, m.value, [], m.timestamp_ms))
        offsets[m.partition] += 1
    return out


class GatedWriter:
    """Writes a batch's state only once the next batch's outputs are being sent (or on :meth:`open`), so the
    next batch is processed while it is still landing; ungated, at once."""

    def __init__(self, disk: Disk, gated: bool = True) -> None:
        self.disk = disk
        self.gated = gated
        self.gate = asyncio.Event()
        self.writes = 0

    async def write(self, changes: dict[int, list[Change]]) -> None:
        if self.gated:
            await self.gate.wait()
            self.gate.clear()
        await self.disk.write_all(changes)
        self.writes += 1

    def open(self) -> None:
        self.gate.set()


class RecordingSender:
    def __init__(self, on_send: Callable[[], None] = lambda: None) -> None:
        self.sent: list[OutMessage] = []
        self.on_send = on_send

    async def send_all(self, records: Sequence[OutMessage]) -> dict[tuple[str, int], int]:
        self.on_send()
        await asyncio.sleep(0)  # the broker's round trip: the landing write runs meanwhile
        self.sent.extend(records)
        return {}


def _small_cache_processor(disk: Disk) -> Processor:
    """Caches of one series and eight panes: every batch evicts what the previous one wrote."""
    return Processor(
        topics=SETTINGS.topics,
        policy=SETTINGS.policy,
        clock_ms=lambda: NOW_MS,
        store=StateStore(disk.backend, series_capacity=1, pane_capacity=8),
        window_specs=parse_window_specs("5m,1h,1h/5m"),
    )


async def _deliver_in_batches_of_16(
    inputs: list[InMessage], overlapped: bool
) -> tuple[list[OutMessage], dict[int, dict[bytes, bytes]]]:
    """Every output sent and the state written; overlapped, each batch's state lands only while the next
    batch's outputs are sent."""
    disk = Disk()
    writer = GatedWriter(disk, gated=overlapped)
    sender = RecordingSender(writer.open)
    durable: list[int] = []
    delivery = BatchDelivery(
        _small_cache_processor(disk),
        sender,
        writer,
        on_durable=lambda messages, closing: durable.extend(m.offset for m in messages),
        max_unsettled=10_000 if overlapped else None,
    )
    for i in range(0, len(inputs), 16):
        await delivery.deliver(inputs[i : i + 16])
        if overlapped:
            assert writer.writes == i // 16, "a batch's state was written before the next batch came"
    writer.open()
    await delivery.settle()
    assert durable == [m.offset for m in inputs], "inputs reported durable out of order or not at all"
    return sender.sent, {p: dict(b.data) for p, b in disk.backends.items()}


async def test_persisting_while_the_next_batch_is_processed_gives_the_outputs_and_state_of_one_at_a_time(
    batch: list[InMessage],
) -> None:
    inputs = _with_repeats(batch)
    sent, state = await _deliver_in_batches_of_16(inputs, overlapped=False)
    sent_overlapped, state_overlapped = await _deliver_in_batches_of_16(inputs, overlapped=True)
    assert sum(o.outcome == "duplicate" for o in sent) == len(inputs) - 576
    assert [(o.topic, o.key, o.value) for o in sent_overlapped] == [(o.topic, o.key, o.value) for o in sent]
    assert state_overlapped == state


async def test_a_batch_waits_for_the_previous_ones_state_when_both_would_exceed_what_a_crash_may_repeat(
    batch: list[InMessage],
) -> None:
    disk = Disk()
    writer = GatedWriter(disk)
    sender = RecordingSender()
    durable: list[int] = []
    delivery = BatchDelivery(
        disk.processor(),
        sender,
        writer,
        on_durable=lambda messages, closing: durable.append(len(messages)),
        max_unsettled=300,
    )
    first = await delivery.deliver(batch[:150])
    second = asyncio.ensure_future(delivery.deliver(batch[150:300]))  # 300 unsettled at most: it may overlap
    await asyncio.sleep(0.01)
    assert len(sender.sent) > len(first.outputs), "the second batch waited for the first one's state"
    assert durable == [], "inputs reported durable before their state was written"
    writer.open()
    await second
    assert durable == [150]
    sent = len(sender.sent)
    third = asyncio.ensure_future(delivery.deliver(batch[300:460]))  # 150 landing + 160: over 300
    await asyncio.sleep(0.01)
    assert len(sender.sent) == sent, "outputs sent while 150 inputs before them were not yet durable"
    writer.open()  # the second batch's state lands; then the third goes
    await third
    assert durable == [150, 150] and len(sender.sent) > sent
    writer.open()
    await delivery.settle()
    assert durable == [150, 150, 160]


class FailingWriter:
    """The changelog refuses every write."""

    async def write(self, changes: dict[int, list[Change]]) -> None:
        raise KafkaError("changelog write refused")


async def test_after_a_failed_persist_nothing_more_is_processed_or_sent(batch: list[InMessage]) -> None:
    disk = Disk()
    sender = RecordingSender()
    heard: list[BaseException] = []
    durable: list[int] = []
    delivery = BatchDelivery(
        disk.processor(),
        sender,
        FailingWriter(),
        on_durable=lambda messages, closing: durable.append(len(messages)),
        max_unsettled=10_000,
        on_failure=heard.append,
    )
    await delivery.deliver(batch[:100])  # its state is persisted in the background, and that fails
    await asyncio.sleep(0)
    assert len(heard) == 1 and "changelog write refused" in str(heard[0])
    sent = len(sender.sent)
    with pytest.raises(PersistFailed) as refused:
        await delivery.deliver(batch[100:200])
    assert isinstance(refused.value.__cause__, KafkaError)
    with pytest.raises(PersistFailed):
        await delivery.tick(NOW_MS)
    assert len(sender.sent) == sent, "outputs sent from state that was never persisted"
    assert durable == [], "inputs reported durable although their state was not persisted"
