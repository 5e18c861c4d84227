"""Recovery on the real broker: bars after a crash, a lost disk and a hand-over equal an uninterrupted run.

Every test feeds AEMO SA1 January 2009 (prices and load; both series have the key ``AEMO:SA1``, so all
the data is on one partition) and compares the DISTINCT bars read back with the core's in-memory
computation over the whole month, by the rule of ``test_windows_bars``: only windows whose
``end + grace`` is at or below the last event time. Bars are at-least-once after a crash, so a repeat
is allowed but must be byte-identical to the first copy (``distinct_bars`` asserts that).

The workers run with a 10 s Kafka session timeout, so the group notices a SIGKILLed member that is not
restarted in 10 s instead of the default 30 s.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from tests.integration.kafka_io import kill, produce, read_all, start_worker, topic_config
from tests.integration.test_windows_bars import (
    PARTITIONS,
    bar_identity,
    bar_topics,
    canon,
    distinct_bars,
    expected_bars,
    sa1_messages,
    setup_topics,
)

pytestmark = pytest.mark.integration

WORKER_ARGS = ("--partitions", str(PARTITIONS), "--loglevel", "info")


@pytest.fixture(autouse=True)
def short_session_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMER_SESSION_TIMEOUT_MS", "10000")
    monkeypatch.setenv("STREAMER_HEARTBEAT_INTERVAL_MS", "1000")


async def feed(bootstrap: str, prefix: str, messages: Sequence[Any]) -> set[int]:
    """Produce ``messages`` to the raw topics; return the partitions they landed on."""
    sent = await produce(bootstrap, [(f"{prefix}raw.{m.kind.value}", m.key, m.value, []) for m in messages])
    return {s.partition for s in sent}


async def await_bars(
    bootstrap: str,
    prefix: str,
    expected: Sequence[dict[str, Any]],
    workers: Sequence[subprocess.Popen[bytes]],
    timeout_s: float = 120.0,
) -> list[ConsumerRecord]:
    """Every bar record once each expected bar is there, read again after a pause for stray extras."""
    wanted = {bar_identity(b) for b in expected}
    deadline = time.monotonic() + timeout_s
    while True:
        records = await read_all(
            bootstrap,
            bar_topics(prefix),
            at_least=len(expected),
            partitions=PARTITIONS,
            timeout_s=max(1.0, deadline - time.monotonic()),
            workers=workers,
        )
        got, _ = distinct_bars(records)
        if wanted <= {bar_identity(b) for b in got} or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(3)  # the still-open windows or a different repeat would show up now
    return await read_all(bootstrap, bar_topics(prefix), at_least=len(records), partitions=PARTITIONS)


def assert_same_bars(records: Sequence[ConsumerRecord], expected: Sequence[dict[str, Any]]) -> int:
    """Distinct bars equal ``expected`` exactly; returns how many byte-identical repeats there were."""
    got, repeats = distinct_bars(records)
    missing = {bar_identity(b) for b in expected} - {bar_identity(b) for b in got}
    extra = {bar_identity(b) for b in got} - {bar_identity(b) for b in expected}
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    assert canon(got) == canon(expected)
    return repeats


def log_of(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.log"


async def wait_for_log(
    data_dir: Path, pattern: str, worker: subprocess.Popen[bytes], timeout_s: float
) -> str:
    """The worker's log once ``pattern`` (a regex) occurs in it."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = log_of(data_dir).read_text(errors="replace")
        if re.search(pattern, text, re.DOTALL):
            return text
        assert worker.poll() is None, f"worker exited early; log tail: {text[-2000:]}"
        assert time.monotonic() < deadline, f"{pattern!r} not in the log after {timeout_s}s: {text[-2000:]}"
        await asyncio.sleep(0.5)


def _tables(log: str, title: str) -> list[list[list[str]]]:
    """The rows of every Faust log table whose title line contains ``title``, oldest first."""
    tables: list[list[list[str]]] = []
    for chunk in log.split(title)[1:]:
        rows: list[list[str]] = []
        for line in chunk.splitlines()[1:]:
            if line.startswith("["):  # the next log record
                break
            if line.startswith("|"):
                rows.append([cell.strip() for cell in line.strip("| ").split("|")])
        tables.append(rows[1:])  # without the header row
    return tables


def assigned_partitions(log: str, topic: str) -> set[int]:
    """The partitions of ``topic`` in the worker's latest assignment (Faust's "{0-1}" / "{1}" notation)."""
    tables = _tables(log, "Setting newly assigned partitions")
    for name, partitions in tables[-1] if tables else []:
        if name == topic:
            out: set[int] = set()
            for part in partitions.strip("{}").split(","):
                low, _, high = part.partition("-")
                out.update(range(int(low), int(high or low) + 1))
            return out
    return set()


def changelog_offsets(log: str, title: str, changelog: str, partition: int) -> list[int]:
    """Offsets of ``changelog[partition]`` in each Faust recovery table ``title`` listing it, oldest first.

    (Faust writes a ditto mark for a topic name repeated from the row above.)"""
    out: list[int] = []
    for rows in _tables(log, title):
        topic = ""
        for name, part, offset in rows:
            topic = topic if name == "〃" else name
            if topic == changelog and int(part) == partition:
                out.append(int(offset))
    return out


async def test_sigkilled_worker_restarted_on_its_data_dir_emits_the_same_bars(
    bootstrap: str, topic_prefix: str, tmp_path: Path
):
    # Four months, so that the kill lands mid-backlog on a fast machine too: one month (about 3,000 inputs,
    # 22,300 bars) was all processed before the kill on a machine that ran the worker at 11k events/s.
    messages = sa1_messages("200901", "200902", "200903", "200904")
    expected = expected_bars(messages)
    await setup_topics(bootstrap, topic_prefix)
    await feed(bootstrap, topic_prefix, messages)
    data_dir = tmp_path / "w1"
    args = (*WORKER_ARGS, "--batch-size", "20")
    first = start_worker(bootstrap, topic_prefix, data_dir, *args)
    try:
        await read_all(
            bootstrap,
            bar_topics(topic_prefix),
            at_least=len(expected) // 4,
            partitions=PARTITIONS,
            workers=[first],
        )
    finally:
        kill(first)  # SIGKILL mid-backlog: no shutdown, no final commit
    partial, _ = distinct_bars(
        await read_all(bootstrap, bar_topics(topic_prefix), at_least=0, partitions=PARTITIONS)
    )
    assert len(partial) < len(expected), "the worker finished before it could be killed; feed more"
    second = start_worker(bootstrap, topic_prefix, data_dir, *args)
    try:
        records = await await_bars(bootstrap, topic_prefix, expected, [second])
    finally:
        kill(second)
    enriched = await read_all(
        bootstrap,
        [f"{topic_prefix}enriched.prices", f"{topic_prefix}enriched.load"],
        at_least=0,
        partitions=PARTITIONS,
    )
    for kind in ("prices", "load"):
        seen = {orjson.loads(r.value)["origin"]["offset"] for r in enriched if r.topic.endswith(f".{kind}")}
        sent = sum(1 for m in messages if m.kind.value == kind)
        lost = sorted(set(range(sent)) - seen)
        assert not lost, f"raw.{kind} offsets never processed after the restart: {lost[:10]}... ({len(lost)})"
    repeats = assert_same_bars(records, expected)
    print(
        f"\nrecovery/kill -9: killed after {len(partial)} of {len(expected)} bars;",
        f"restart on the same data dir -> equal bars, {repeats} byte-identical repeats",
    )


async def create_compacting_changelog(bootstrap: str, topic: str) -> None:
    """The state changelog, made before the worker would: segments that roll every 100 ms of writes and a log
    cleaner that takes any dirty share, so the broker compacts it within the test (not at 16 MiB)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}
        response = await admin.create_topics([NewTopic(topic, PARTITIONS, 1, topic_configs=config)])
    finally:
        await admin.close()
    assert all(error == 0 for _, error, *_ in response.topic_errors), response


async def changelog_span(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    """(records, offsets) of one changelog partition: fewer records than offsets once it is compacted. The
    last record sits in the active segment, which the cleaner never touches, so its offset + 1 is the end."""
    records = await read_all(bootstrap, [topic], at_least=0, partitions=PARTITIONS)
    offsets = [r.offset for r in records if r.partition == partition]
    return len(offsets), max(offsets, default=-1) + 1


async def await_compaction(bootstrap: str, topic: str, partition: int, timeout_s: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        records, offsets = await changelog_span(bootstrap, topic, partition)
        if records < offsets:
            return records, offsets
        assert time.monotonic() < deadline, f"{topic}[{partition}] not compacted in {timeout_s}s"
        await asyncio.sleep(2)  # the log cleaner looks every 15 s


@pytest.mark.parametrize("compacted", [False, True], ids=["as-written", "compacted"])
async def test_worker_on_an_empty_data_dir_rebuilds_state_from_the_changelog(
    bootstrap: str, topic_prefix: str, tmp_path: Path, compacted: bool
):
    messages = sa1_messages("200901")
    cut = len(messages) // 2 + 7  # mid-day: hopping and hourly windows are open across the cut
    first_part, rest = messages[:cut], messages[cut:]
    expected = expected_bars(messages)
    # Fresh state at the cut gives other bars: without the changelog this test fails.
    assert canon(expected_bars(first_part) + expected_bars(rest)) != canon(expected)
    await setup_topics(bootstrap, topic_prefix)
    changelog = f"{topic_prefix}app-state-changelog"
    if compacted:
        await create_compacting_changelog(bootstrap, changelog)
    segment = 1024 * 1024  # Kafka's smallest; the worker's default is 16 MiB
    first = start_worker(
        bootstrap, topic_prefix, tmp_path / "w1", *WORKER_ARGS, "--changelog-segment-bytes", str(segment)
    )
    try:
        partitions: set[int] = set()
        for n in range(4):  # in parts, so the changelog's segments roll between batches
            partitions |= await feed(bootstrap, topic_prefix, first_part[n * cut // 4 : (n + 1) * cut // 4])
            await asyncio.sleep(1)
        (partition,) = partitions
        await await_bars(bootstrap, topic_prefix, expected_bars(first_part), [first])
        await asyncio.sleep(2)  # a commit interval, so the kill is not mid-batch
    finally:
        kill(first)
    if compacted:
        # Overwritten summaries, panes and meta gone from the log, tombstones of closed panes kept.
        kept, offsets = await await_compaction(bootstrap, changelog, partition, timeout_s=90)
    else:
        # Created by the first worker, with segments small enough for Kafka to compact (closed segments only)
        assert await topic_config(bootstrap, changelog, "segment.bytes") == str(segment)
        assert await topic_config(bootstrap, changelog, "cleanup.policy") == "compact"
    fresh_dir = tmp_path / "w2"
    second = start_worker(bootstrap, topic_prefix, fresh_dir, *WORKER_ARGS)
    try:
        await feed(bootstrap, topic_prefix, rest)
        records = await await_bars(bootstrap, topic_prefix, expected, [second])
        log = log_of(fresh_dir).read_text(errors="replace")
    finally:
        kill(second)
    enriched = await read_all(
        bootstrap,
        [f"{topic_prefix}enriched.prices", f"{topic_prefix}enriched.load"],
        at_least=0,
        partitions=PARTITIONS,
    )
    for kind in ("prices", "load"):
        seen = {orjson.loads(r.value)["origin"]["offset"] for r in enriched if r.topic.endswith(f".{kind}")}
        sent = sum(1 for m in messages if m.kind.value == kind)
        lost = sorted(set(range(sent)) - seen)
        assert not lost, f"raw.{kind} offsets never processed after the restart: {lost[:10]}... ({len(lost)})"
    repeats = assert_same_bars(records, expected)
    # The empty data dir reads the partition's changelog from the start, in bulk (streamer.changelog_restore),
    # and Faust's own recovery then starts where the bulk reader stopped: at the last record.
    bulk = re.search(rf"bulk restore of {re.escape(changelog)}\[{partition}\]: offsets (\d+) to (\d+)", log)
    assert bulk is not None, "the changelog was not restored in bulk"
    start, end = int(bulk[1]), int(bulk[2])
    highwater = changelog_offsets(log, "Highwater for active changelog", changelog, partition)[0]
    started = changelog_offsets(log, "active offsets at start of reading", changelog, partition)[0]
    assert start == 0, "an empty data dir must restore from the start of the changelog"
    assert end > 0, "nothing was restored from the changelog"
    assert started == highwater == end - 1, "Faust's recovery should find the bulk restore complete"
    restored = re.search(rf"restored (\d+) changelog records of {re.escape(changelog)}", log)
    assert restored is not None
    if compacted:
        assert end >= offsets and int(restored[1]) < end, "the restore did not read a compacted changelog"
        print(f"\nrecovery/compacted changelog: the cleaner left {kept} records of {offsets} offsets")
    print(
        f"\nrecovery/empty data dir: restored {restored[1]} records of {changelog}[{partition}], offsets "
        f"0..{end - 1}, in bulk; equal bars, {repeats} byte-identical repeats",
    )


async def test_standby_replica_takes_over_without_a_full_replay(
    bootstrap: str, topic_prefix: str, tmp_path: Path
):
    messages = sa1_messages("200901")
    cut = len(messages) // 2 + 7
    first_part, rest = messages[:cut], messages[cut:]
    expected = expected_bars(messages)
    await setup_topics(bootstrap, topic_prefix)
    args = (*WORKER_ARGS, "--standby-replicas", "1")
    dirs = [tmp_path / "w1", tmp_path / "w2"]
    workers = [start_worker(bootstrap, topic_prefix, dirs[0], *args)]
    try:
        await wait_for_log(dirs[0], r"Worker ready", workers[0], 60)
        workers.append(start_worker(bootstrap, topic_prefix, dirs[1], *args))
        # After the two-member rebalance each worker has one active partition and the other as standby.
        logs = [
            await wait_for_log(d, r"Starting standby partitions.*Worker ready", w, 90)
            for d, w in zip(dirs, workers, strict=True)
        ]
        (partition,) = await feed(bootstrap, topic_prefix, first_part)
        raw = f"{topic_prefix}raw.prices"
        owners = [i for i, log in enumerate(logs) if partition in assigned_partitions(log, raw)]
        assert len(owners) == 1, f"partition {partition} is active on workers {owners}"
        active, survivor = owners[0], 1 - owners[0]
        await await_bars(bootstrap, topic_prefix, expected_bars(first_part), workers)
        await asyncio.sleep(2)  # the standby reads the changelog as it is written
        kill(workers[active])
        log_before = log_of(dirs[survivor]).read_text(errors="replace")
        await feed(bootstrap, topic_prefix, rest)
        records = await await_bars(bootstrap, topic_prefix, expected, [workers[survivor]], timeout_s=150)
        log = log_of(dirs[survivor]).read_text(errors="replace")
    finally:
        for worker in workers:
            kill(worker)
    repeats = assert_same_bars(records, expected)
    takeover = log[len(log_before) :]
    assert partition in assigned_partitions(takeover, raw), "the survivor never took the partition over"
    changelog = f"{topic_prefix}app-state-changelog"
    highwater = changelog_offsets(takeover, "Highwater for active changelog", changelog, partition)[0]
    started = changelog_offsets(takeover, "active offsets at start of reading", changelog, partition)[0]
    assert highwater > 0
    assert started > 0, f"the survivor replayed {changelog}[{partition}] from the start"
    print(
        f"\nrecovery/standby: survivor restored {changelog}[{partition}] from offset {started}",
        f"to {highwater} ({highwater - started} records, not {highwater + 1});",
        f"equal bars, {repeats} byte-identical repeats",
    )
