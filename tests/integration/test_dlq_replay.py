"""``streamer dlq replay`` on the real broker, without the pipeline: exactly once across SIGKILL,
nothing replayed twice, the loop guard, dry run changes nothing, refusals, audit records.

DLQ records are written here the way the pipeline writes them (:func:`dead_letter_headers`), each
with a unique value so every re-published record can be traced to its dead letter.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streamer.admin import create_topics
from streamer.dlq import (
    H_REPLAY_COUNT,
    H_REPLAY_ID,
    Origin,
    dead_letter_headers,
    header_value,
)
from streamer.dlqtool.filters import Filters, replay_group_id
from streamer.dlqtool.reader import DlqReader, committed_offsets
from streamer.dlqtool.record import DlqRecord
from streamer.settings import load_settings
from tests.contracts import ContractChecker
from tests.integration.kafka_io import REPO, Sent, produce, read_all, read_outputs

pytestmark = pytest.mark.integration

PARTITIONS = 2


def dlq_cli(*args: str) -> list[str]:
    """``streamer dlq ...`` as a user runs it."""
    return [sys.executable, "-m", "streamer.cli", "dlq", *args]


def start_cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(dlq_cli(*args), cwd=REPO, stdin=subprocess.DEVNULL, start_new_session=True)


def run_cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dlq_cli(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False
    )


async def setup_topics(bootstrap: str, prefix: str) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": PARTITIONS})
    await create_topics(settings)


async def feed_dlq(
    bootstrap: str,
    prefix: str,
    n: int,
    *,
    reason: str = "out_of_band",
    replay_count: int = 0,
    tag: str = "m",
    origin: str = "raw.prices",
) -> list[Sent]:
    """``n`` dead letters from ``raw.prices`` with unique values ``{tag}-{i}``."""
    records = []
    for i in range(n):
        original = [("trace-id", f"{tag}-{i}".encode())]
        if replay_count:
            original.append((H_REPLAY_COUNT, str(replay_count).encode()))
        headers = dead_letter_headers(
            original, reason=reason, detail="test", origin=Origin(f"{prefix}{origin}", i % 4, i)
        )
        records.append((f"{prefix}dlq", f"K{i % 7}".encode(), f"{tag}-{i}".encode(), headers))
    return await produce(bootstrap, records)


async def check_contracts(bootstrap: str, prefix: str) -> dict[str, int]:
    """Every DLQ and audit record keeps its published contract (this test runs no pipeline)."""
    checked = ContractChecker(prefix).check_all(await read_outputs(bootstrap, prefix))
    return dict(checked)


async def read_topic(bootstrap: str, topic: str) -> list[DlqRecord]:
    """Every committed record of ``topic`` (read_committed: aborted transactions are invisible)."""
    async with DlqReader(bootstrap, topic) as reader:
        return [r async for batch in reader.batches({}) for r in batch]


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[str, dict[int, int]]:
    out = {}
    for topic in topics:
        async with DlqReader(bootstrap, topic) as reader:
            out[topic] = await reader.end_offsets()
    return out


async def test_sigkill_midway_then_rerun_replays_each_record_exactly_once(
    bootstrap: str, topic_prefix: str
) -> None:
    await setup_topics(bootstrap, topic_prefix)
    n = 3000
    sent = await feed_dlq(bootstrap, topic_prefix, n)
    raw = f"{topic_prefix}raw.prices"
    args = (
        "replay",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topic_prefix,
        "--reason",
        "out_of_band",
        "--yes",
    )
    proc = start_cli(*args, "--rate", "600")
    try:
        deadline = time.monotonic() + 90
        while True:  # wait until a good part is committed (read_committed end offsets move)
            done = sum((await end_offsets(bootstrap, [raw]))[raw].values())
            if done >= n // 3 or time.monotonic() > deadline:
                break
            assert proc.poll() is None, "replay exited before it could be killed"
            await asyncio.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the replay finished before it was killed; feed more"
    partial = len(await read_topic(bootstrap, raw))
    assert 0 < partial < n

    second = run_cli(*args, "--json")
    assert second.returncode == 0, second.stderr
    report = orjson.loads(second.stdout)
    assert report["counts"]["replayed"] == n - partial

    replayed = await read_topic(bootstrap, raw)
    by_value = Counter(r.value for r in replayed)
    missing = [s.value for s in sent if s.value not in by_value]
    assert not missing, f"{len(missing)} dead letters never replayed, first {missing[:3]}"
    assert max(by_value.values()) == 1, "a dead letter was replayed twice"
    assert len(replayed) == n

    # Key, value, timestamp and original headers kept; envelope gone; count 1; one replay id per run.
    sent_by_value = {s.value: s for s in sent}
    for record in replayed:
        original = sent_by_value[record.value]
        assert record.key == original.key and record.timestamp_ms == original.timestamp_ms
        assert record.headers[0] == original.headers[0]  # the trace-id header
        assert header_value(record.headers, H_REPLAY_COUNT) == b"1"
        assert not any(k.startswith("__streams.errors.") or k == "streamer.reason" for k, _ in record.headers)
    run_ids = {header_value(r.headers, H_REPLAY_ID) for r in replayed}
    assert len(run_ids) == 2 and report["replay_id"].encode() in run_ids

    # The group's offsets are at the end of the DLQ; a third run finds nothing to do.
    group = replay_group_id(f"{topic_prefix}dlq", Filters(reasons=frozenset({"out_of_band"})), None)
    ends = (await end_offsets(bootstrap, [f"{topic_prefix}dlq"]))[f"{topic_prefix}dlq"]
    assert await committed_offsets(bootstrap, group, f"{topic_prefix}dlq", tuple(ends)) == ends
    third = run_cli(*args, "--json")
    assert third.returncode == 0, third.stderr
    assert orjson.loads(third.stdout)["counts"]["examined"] == 0
    assert len(await read_topic(bootstrap, raw)) == n

    # Aborted records of the killed run stay in the log, invisible to read_committed readers only.
    log_end = sum((await end_offsets(bootstrap, [raw]))[raw].values())
    uncommitted = await read_all(bootstrap, [raw], at_least=0, partitions=PARTITIONS)
    audits = [orjson.loads(r.value or b"") for r in await read_topic(bootstrap, f"{topic_prefix}dlq.audit")]
    assert [a["counts"]["replayed"] for a in audits] == [n - partial, 0]
    assert await check_contracts(bootstrap, topic_prefix) == {"dlq": n, "dlq.audit": 2}
    print(
        f"\nreplay kill -9: {n} dead letters, {partial} committed before SIGKILL, "
        f"second run replayed {n - partial}; {len(replayed)} committed in raw, each once; "
        f"a read_uncommitted reader sees {len(uncommitted)} ({len(uncommitted) - n} aborted); "
        f"log offsets used {log_end}"
    )


async def test_loop_guard_reports_and_commits_records_replayed_too_often(
    bootstrap: str, topic_prefix: str
) -> None:
    await setup_topics(bootstrap, topic_prefix)
    await feed_dlq(bootstrap, topic_prefix, 5, replay_count=0, tag="fresh")
    await feed_dlq(bootstrap, topic_prefix, 3, replay_count=2, tag="tired")
    args = ("replay", "--bootstrap", bootstrap, "--topic-prefix", topic_prefix, "--max-replays", "2")
    args = (*args, "--yes", "--json")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    counts = orjson.loads(first.stdout)["counts"]
    assert (counts["replayed"], counts["loop_guard"]) == (5, 3)
    assert len(counts["loop_guard_records"]) == 3
    replayed = await read_topic(bootstrap, f"{topic_prefix}raw.prices")
    assert sorted(r.value for r in replayed) == sorted(f"fresh-{i}".encode() for i in range(5))
    again = orjson.loads(run_cli(*args).stdout)["counts"]
    assert (again["examined"], again["loop_guard"]) == (0, 0)  # guarded records were committed
    audits = [orjson.loads(r.value or b"") for r in await read_topic(bootstrap, f"{topic_prefix}dlq.audit")]
    assert [(a["action"], a["status"], a["counts"]["loop_guard"]) for a in audits] == [
        ("replay", "completed", 3),
        ("replay", "completed", 0),
    ]
    assert all(a["user"] and a["host"] and a["options"]["max_replays"] == 2 for a in audits)
    assert await check_contracts(bootstrap, topic_prefix) == {"dlq": 8, "dlq.audit": 2}


async def test_dry_run_changes_nothing_on_the_broker(bootstrap: str, topic_prefix: str) -> None:
    await setup_topics(bootstrap, topic_prefix)
    await feed_dlq(bootstrap, topic_prefix, 30, reason="out_of_band")
    await feed_dlq(bootstrap, topic_prefix, 10, reason="not_json", tag="nj")
    topics = load_settings({"topic_prefix": topic_prefix}).topics.all()
    before = await end_offsets(bootstrap, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups_before = await admin.list_consumer_groups()
        result = run_cli(
            "replay", "--bootstrap", bootstrap, "--topic-prefix", topic_prefix, "--dry-run", "--json"
        )
        assert result.returncode == 0, result.stderr
        groups_after = await admin.list_consumer_groups()
    finally:
        await admin.close()
    report = orjson.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["counts"]["replayed"] == 40
    assert report["counts"]["replayed_by_reason"] == {"out_of_band": 30, "not_json": 10}
    assert len(report["would_replay"]) == 40
    assert await end_offsets(bootstrap, topics) == before
    assert groups_after == groups_before
    group = replay_group_id(f"{topic_prefix}dlq", Filters(), None)
    assert await committed_offsets(bootstrap, group, f"{topic_prefix}dlq", (0, 1)) == {0: 0, 1: 0}


async def test_refusals_and_read_commands(bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    await setup_topics(bootstrap, topic_prefix)
    await feed_dlq(bootstrap, topic_prefix, 4)
    base = ("--bootstrap", bootstrap, "--topic-prefix", topic_prefix)
    missing = run_cli("replay", *base, "--to", f"{topic_prefix}nope", "--yes")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "nope" in missing.stderr
    no_yes = run_cli("replay", *base)
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    assert len(await read_topic(bootstrap, f"{topic_prefix}raw.prices")) == 0

    # A record whose origin topic is gone: the dry run names it, a real run refuses it.
    await feed_dlq(bootstrap, topic_prefix, 1, reason="not_json", origin="raw.gone", tag="gone")
    gone = ("--reason", "not_json")
    dry = orjson.loads(run_cli("replay", *base, *gone, "--dry-run", "--json").stdout)
    assert dry["missing_target_topics"] == [f"{topic_prefix}raw.gone"]
    real = run_cli("replay", *base, *gone, "--yes")
    assert real.returncode == 1 and f"{topic_prefix}raw.gone" in real.stderr
    group = replay_group_id(f"{topic_prefix}dlq", Filters(reasons=frozenset({"not_json"})), None)
    assert await committed_offsets(bootstrap, group, f"{topic_prefix}dlq", (0, 1)) == {0: 0, 1: 0}

    shown = run_cli("show", *base, "--offset", "0", "--limit", "3", "--reason", "out_of_band", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = orjson.loads(shown.stdout)
    assert len(rows) == 3 and all(r["reason"] == "out_of_band" for r in rows)
    assert rows[0]["value_encoding"] == "utf-8" and rows[0]["value"].startswith("m-")
    stats = run_cli("stats", *base, "--json")
    assert stats.returncode == 0, stats.stderr
    s = orjson.loads(stats.stdout)
    assert s["total"] == 5 and s["by_reason"] == {"out_of_band": 4, "not_json": 1}
    assert s["by_topic"] == {f"{topic_prefix}raw.prices": 4, f"{topic_prefix}raw.gone": 1}
    assert s["audit"]["replay_runs"] == 1 and s["audit"]["records_replayed"] == 0  # the refused run
    assert await check_contracts(bootstrap, topic_prefix) == {"dlq": 5, "dlq.audit": 1}


def _on_terminal(args: list[str], answer: bytes, timeout_s: float = 60) -> tuple[int, str]:
    """Run ``args`` with a pseudo-terminal as stdin/stdout; answer the confirmation prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=REPO, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"now? [y/N]" in seen:
                os.write(master, answer)
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


async def test_a_real_replay_asks_on_a_terminal(bootstrap: str, topic_prefix: str) -> None:
    await setup_topics(bootstrap, topic_prefix)
    await feed_dlq(bootstrap, topic_prefix, 3)
    args = dlq_cli("replay", "--bootstrap", bootstrap, "--topic-prefix", topic_prefix)
    code, output = _on_terminal(args, b"n\n")
    assert code == 1 and "Replay 3 records now?" in output and "aborted" in output
    assert len(await read_topic(bootstrap, f"{topic_prefix}raw.prices")) == 0
    code, output = _on_terminal(args, b"y\n")
    assert code == 0, output
    assert len(await read_topic(bootstrap, f"{topic_prefix}raw.prices")) == 3
    dry, _ = _on_terminal([*args, "--dry-run"], b"")
    assert dry == 0


async def test_max_stops_early_and_the_next_run_continues(bootstrap: str, topic_prefix: str) -> None:
    await setup_topics(bootstrap, topic_prefix)
    sent = await feed_dlq(bootstrap, topic_prefix, 10)
    args = (
        "replay",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topic_prefix,
        "--yes",
        "--json",
        "--max",
        "4",
    )
    runs = [orjson.loads(run_cli(*args).stdout) for _ in range(4)]
    assert [r["counts"]["replayed"] for r in runs] == [4, 4, 2, 0]
    assert [r["stopped_early"] for r in runs] == [True, True, False, False]
    assert len({r["group_id"] for r in runs}) == 1  # --max does not change the group
    replayed = await read_topic(bootstrap, f"{topic_prefix}raw.prices")
    assert sorted(r.value for r in replayed) == sorted(s.value for s in sent)
    assert await check_contracts(bootstrap, topic_prefix) == {"dlq": 10, "dlq.audit": 4}
