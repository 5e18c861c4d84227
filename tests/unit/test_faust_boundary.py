"""The Faust boundary fails loudly when the installed Faust or aiokafka is not the one it patches."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import ProducerFenced
from faust.types import TP

from streamer import faust_boundary
from streamer.faust_boundary import (
    AIOKAFKA_CONSUMER_ATTRS,
    AIOKAFKA_COORDINATOR_ATTRS,
    AIOKAFKA_FETCHER_ATTRS,
    AIOKAFKA_PRODUCER_ATTRS,
    MAX_PARTITION_FETCH_BYTES,
    MIN_PARTITION_FETCH_BYTES,
    FaustVersionError,
    RawBatches,
    check_faust,
    partition_fetch_bytes,
    transaction_failure,
)
from streamer.pipeline import create_app
from streamer.settings import load_settings
from streamer.topics import Kind


def test_the_pinned_faust_has_every_private_name_the_boundary_uses() -> None:
    check_faust()


def test_another_faust_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(FaustVersionError, match=r"faust-streaming==0\.15\.3"):
        check_faust()


def test_a_missing_private_name_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_boundary, "_RELIED_ON", ((faust.Stream, "_no_such_method"),))
    with pytest.raises(FaustVersionError, match=r"Stream\._no_such_method"):
        check_faust()


async def test_aiokafka_has_the_consumer_attributes_the_boundary_sets_and_reads() -> None:
    consumer = AIOKafkaConsumer(group_id="g", group_instance_id="i", bootstrap_servers="127.0.0.1:1")
    for name in AIOKAFKA_CONSUMER_ATTRS:
        assert hasattr(consumer, name), name
    assert consumer._isolation_level == "read_uncommitted"  # noqa: SLF001
    assert consumer._group_instance_id == "i"  # noqa: SLF001
    for name in AIOKAFKA_COORDINATOR_ATTRS:
        assert name in dir(GroupCoordinator) or name in GroupCoordinator.__init__.__code__.co_names, name


async def test_aiokafka_keeps_a_failed_transactions_cause_where_the_boundary_reads_it() -> None:
    producer = AIOKafkaProducer(transactional_id="app-tx-0", bootstrap_servers="127.0.0.1:1")
    for name in AIOKAFKA_PRODUCER_ATTRS:
        assert hasattr(producer, name), name
    assert transaction_failure(producer) is None  # no transaction yet
    manager = producer._txn_manager  # noqa: SLF001
    manager.set_pid_and_epoch(1, 0)
    manager.begin_transaction()
    assert transaction_failure(producer) is None
    manager.fatal_error(ProducerFenced())  # what aiokafka's sender does when its task fails
    assert isinstance(transaction_failure(producer), ProducerFenced)


def test_aiokafka_builds_its_fetch_requests_from_the_per_partition_size_the_boundary_sets() -> None:
    for name in AIOKAFKA_FETCHER_ATTRS:
        assert name in Fetcher.__init__.__code__.co_names, name
        assert name in Fetcher._get_actions_per_node.__code__.co_names, name  # noqa: SLF001


MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("budget", "partitions", "expected"),
    [
        (96 * MIB, 12, 8 * MIB),  # 4 partitions of the 3 raw topics: the size before the budget existed
        (96 * MIB, 48, 2 * MIB),  # 16 partitions: the fetched records stay within the budget
        (96 * MIB, 4, MAX_PARTITION_FETCH_BYTES),  # a bigger share than one fetch needs
        (4 * MIB, 48, MIN_PARTITION_FETCH_BYTES),  # too small a share would leave the worker waiting
        (96 * MIB, 0, MAX_PARTITION_FETCH_BYTES),  # no raw partition assigned (only standbys)
    ],
)
def test_the_fetch_budget_is_shared_by_the_assigned_raw_partitions(
    budget: int, partitions: int, expected: int
) -> None:
    assert partition_fetch_bytes(budget, partitions) == expected


async def test_the_worker_consumer_reads_committed_and_waits_as_the_settings_say(
    tmp_path: Path,
) -> None:
    app = create_app(load_settings({"data_dir": tmp_path, "fetch_max_wait_ms": 37}))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # noqa: SLF001
    try:
        assert consumer._isolation_level == "read_committed"  # noqa: SLF001
        assert consumer._fetch_max_wait_ms == 37  # noqa: SLF001 - Faust would have set 1500
    finally:
        await consumer.stop()


async def test_raw_records_handed_to_the_pipeline_count_as_stream_input_for_fausts_event_path_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust logs "Stream has not started processing" for a partition with a backlog whose stream never took
    a record; the raw topics bypass the streams, so their hand-over must be what it sees."""
    settings = load_settings({"data_dir": tmp_path})
    app = create_app(settings)
    consumer = app.consumer
    raw = settings.topics.raw(Kind.PRICES)
    tp, other = TP(raw, 3), TP(raw, 1)
    record = ConsumerRecord(raw, 3, 7, 0, 0, b"k", b"v", None, 1, 1, ())
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    fetches = [({tp: [record]}, None)]

    async def next_records(_timeout_s: float) -> tuple[Any, Any]:
        if not fetches:
            fetcher._stopped.set()  # noqa: SLF001
            return None, None
        return fetches.pop()

    monkeypatch.setattr(consumer, "_wait_next_records", next_records)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 100)
    before = time.monotonic()
    await consumer._drain_messages(fetcher)  # noqa: SLF001
    assert await app.raw_batches.get() == [record]
    inbound = app.monitor.stream_inbound_time
    assert inbound[tp] >= before
    assert other not in inbound


async def test_queued_fetches_are_handed_over_together_up_to_the_batch_size() -> None:
    """A steady feed makes many small fetches: taken one at a time they queued up for good."""
    batches = RawBatches(maxsize=4, max_records=5)
    for fetch in ([1, 2], [3], [4, 5], [6, 7]):
        await batches.put(fetch)
    assert await batches.get() == [1, 2, 3, 4, 5]  # [6, 7] would make 7
    batches.done()
    assert await batches.get() == [6, 7]
    batches.done()
    await batches.put(list(range(9)))  # a fetch bigger than the batch size stays whole
    assert await batches.get() == list(range(9))
    batches.done()


async def test_fetches_queued_before_a_rebalance_are_not_merged_into_a_batch() -> None:
    batches = RawBatches(maxsize=4, max_records=100)
    await batches.put([1])
    await batches.quiesce()  # nothing in flight: returns at once, dropping [1]
    await batches.put([2])
    await batches.put([3])
    assert await batches.get() == [2, 3]
    assert not batches.waiting()
