"""Every input ends in enriched or dlq, on the real broker, with real worker processes.

N valid and M corrupt messages (every kind of bad input from the corrupt catalogue) go to
several partitions; the test then reads back every output and accounts for each input by its
origin (topic, partition, offset).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streamer.admin import create_topics
from streamer.dlq import H_REASON, header_value, read_dead_letter
from streamer.feeds.corrupt import CORRUPT, TOLERATED
from streamer.feeds.simulate import generate
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.contracts import ContractChecker
from tests.integration.kafka_io import Sent, kill, produce, read_all, read_outputs, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 4


async def _setup(bootstrap: str, prefix: str) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": PARTITIONS})
    await create_topics(settings)


def _inputs(prefix: str, valid: int, seed: int) -> tuple[list, dict[int, str | None]]:
    """Valid simulated messages plus every corrupt case and the tolerated BOM case, in order."""
    now_ms = int(time.time() * 1000)
    records: list = []
    expected: dict[int, str | None] = {}
    messages = list(generate(seed, valid, 0.0, now_ms))
    for i, (msg, _) in enumerate(messages):
        headers = [("trace-id", f"t-{i}".encode())]
        records.append((f"{prefix}raw.{msg.kind.value}", msg.key, msg.value, headers))
        expected[len(records) - 1] = None
    template = next(m for m, _ in messages if m.kind is Kind.PRICES and b'"energy"' in (m.value or b""))
    import random

    rng = random.Random(seed)
    for case in CORRUPT:
        for copy in range(2):
            value = case.make(rng, template.value)
            headers = [("case", case.name.encode()), ("copy", str(copy).encode()), ("bin", b"\x00\xff")]
            records.append((f"{prefix}raw.{case.kind.value}", template.key, value, headers))
            expected[len(records) - 1] = case.expected_reason
    for case in TOLERATED:
        # The BOM copy of a message repeats an accepted one exactly: it must be a `duplicate`.
        records.append((f"{prefix}raw.prices", template.key, case.make(rng, template.value), []))
        expected[len(records) - 1] = "duplicate"
    return records, expected


async def check_contracts(bootstrap: str, prefix: str) -> dict[str, int]:
    """Every record of every output topic keeps its published contract."""
    checked = ContractChecker(prefix).check_all(await read_outputs(bootstrap, prefix))
    assert {"enriched.prices", "enriched.load", "dlq", "bars.prices"} <= set(checked), checked
    return dict(checked)


def _account(sent: list[Sent], expected: dict[int, str | None], enriched: list, dlq: list) -> Counter:
    by_origin = {(s.topic, s.partition, s.offset): (i, s) for i, s in enumerate(sent)}
    seen: Counter = Counter()
    for rec in enriched:
        origin = orjson.loads(rec.value)["origin"]
        i, s = by_origin[(origin["topic"], origin["partition"], origin["offset"])]
        assert expected[i] is None, f"input {i} expected {expected[i]} but was enriched"
        seen[i] += 1
    for rec in dlq:
        letter = read_dead_letter(rec.headers)
        assert letter.origin is not None
        i, s = by_origin[(letter.origin.topic, letter.origin.partition, letter.origin.offset)]
        assert rec.value == s.value, f"DLQ value of input {i} is not byte-identical"
        assert rec.key == s.key
        assert rec.timestamp == s.timestamp_ms
        assert list(rec.headers)[: len(s.headers)] == list(s.headers), "original headers not kept first"
        reason = header_value(rec.headers, H_REASON)
        assert reason is not None
        if expected[i] is not None:
            assert reason.decode() == expected[i], f"input {i}: {letter.detail}"
        else:
            # Only a re-delivery after a crash may dead-letter a valid input, as a duplicate.
            assert reason.decode() == "duplicate", f"valid input {i} dead-lettered: {letter.detail}"
        seen[i] += 1
    return seen


async def test_every_input_lands_in_enriched_or_dlq_exactly_once(
    bootstrap: str, topic_prefix: str, tmp_path: Path
):
    await _setup(bootstrap, topic_prefix)
    records, expected = _inputs(topic_prefix, valid=600, seed=7)
    sent = await produce(bootstrap, records)
    assert len({s.partition for s in sent}) == PARTITIONS
    n_valid = sum(1 for v in expected.values() if v is None)
    n_bad = len(expected) - n_valid
    worker = start_worker(bootstrap, topic_prefix, tmp_path / "w1")
    try:
        outputs = await read_all(
            bootstrap,
            [f"{topic_prefix}enriched.{k.value}" for k in Kind] + [f"{topic_prefix}dlq"],
            at_least=len(records),
            timeout_s=180,
            workers=[worker],
        )
        await asyncio.sleep(3)  # let any stray extra output arrive before the final read
        outputs = await read_all(
            bootstrap,
            [f"{topic_prefix}enriched.{k.value}" for k in Kind] + [f"{topic_prefix}dlq"],
            at_least=len(records),
        )
    finally:
        kill(worker)
    enriched = [r for r in outputs if r.topic != f"{topic_prefix}dlq"]
    dlq = [r for r in outputs if r.topic == f"{topic_prefix}dlq"]
    seen = _account(sent, expected, enriched, dlq)
    missing = [(i, sent[i], expected[i]) for i in range(len(records)) if i not in seen]
    assert not missing, f"{len(missing)} inputs in neither enriched nor dlq, first: {missing[:3]}"
    assert len(enriched) == n_valid
    assert len(dlq) == n_bad
    assert set(seen) == set(range(len(records)))
    assert max(seen.values()) == 1
    reasons = Counter(read_dead_letter(r.headers).reason for r in dlq)
    checked = await check_contracts(bootstrap, topic_prefix)
    print(f"\naccounting: {n_valid} valid -> {len(enriched)} enriched; {n_bad} bad -> {len(dlq)} dlq")
    print(f"accounting: records that keep their contract, by topic {checked}")
    print(f"accounting: dead letters by reason {dict(reasons)}")


async def test_worker_killed_midway_loses_nothing(bootstrap: str, topic_prefix: str, tmp_path: Path):
    """SIGKILL a worker while it is working through the backlog, restart it: every input is in
    enriched or dlq. Re-deliveries after the kill are allowed; they are counted and reported."""
    await _setup(bootstrap, topic_prefix)
    records, expected = _inputs(topic_prefix, valid=20000, seed=11)
    sent = await produce(bootstrap, records)
    outputs_topics = [f"{topic_prefix}enriched.{k.value}" for k in Kind] + [f"{topic_prefix}dlq"]
    first = start_worker(bootstrap, topic_prefix, tmp_path / "w1", "--batch-size", "200")
    try:
        partial = await read_all(bootstrap, outputs_topics, at_least=len(records) // 4, workers=[first])
    finally:
        kill(first)  # SIGKILL: no shutdown, no final commit
    assert len(partial) < len(records), "the worker finished before it could be killed; feed more"
    second = start_worker(bootstrap, topic_prefix, tmp_path / "w1", "--batch-size", "200")
    try:
        # Re-deliveries inflate the output count, so wait until every input is accounted for.
        deadline = time.monotonic() + 240
        while True:
            outputs = await read_all(bootstrap, outputs_topics, at_least=len(records), workers=[second])
            enriched = [r for r in outputs if r.topic != f"{topic_prefix}dlq"]
            dlq = [r for r in outputs if r.topic == f"{topic_prefix}dlq"]
            seen = _account(sent, expected, enriched, dlq)
            missing = [i for i in range(len(records)) if i not in seen]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    finally:
        kill(second)
    assert not missing, f"{len(missing)} inputs lost after SIGKILL, first: {missing[:5]}"
    checked = await check_contracts(bootstrap, topic_prefix)
    duplicates = sum(count - 1 for count in seen.values())
    dead_lettered_duplicates = sum(1 for r in dlq if read_dead_letter(r.headers).reason == "duplicate")
    print(
        f"\nkill -9 accounting: {len(records)} inputs, killed after {len(partial)} outputs; "
        f"{len(enriched)} enriched + {len(dlq)} dlq; {duplicates} inputs output more than once; "
        f"keep their contract: {checked}"
    )
    # Re-deliveries are recognised by their origin and published again, never dead-lettered as
    # `duplicate`: the one `duplicate` is the BOM copy the test sends on purpose.
    assert dead_lettered_duplicates == 1
