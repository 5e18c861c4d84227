"""Acceptance of ``dlq replay`` with the real pipeline: fix the config, replay, and every fixed
message reaches ``enriched.prices`` exactly once; transformed payloads are validated again; the
loop guard stops a message that keeps failing.

A first worker runs with a PJM cap far too tight (``PJM=-100:50``), so valid prices land in the
DLQ as ``out_of_band``. It is replaced by a worker with the default bands (same app id, same
state), and the DLQ is replayed with the ``dlq replay`` command line.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from streamer.dlq import read_dead_letter
from streamer.dlqtool.reader import committed_offsets
from tests.integration.kafka_io import kill, produce, read_all, start_worker
from tests.integration.test_dlq_replay import PARTITIONS, end_offsets, run_cli, setup_topics

pytestmark = pytest.mark.integration

N_BAND = 30
STEP_MS = 5 * 60 * 1000
WORKER_ARGS = ("--partitions", str(PARTITIONS), "--batch-size", "50")


def fix_lmp(value: bytes) -> bytes | None:
    """The ``--transform`` under test: an lmp sent as a string becomes a number. A payload marked
    ``skip`` is dropped; one marked ``worse`` is "repaired" into a price the pipeline must reject."""
    obj = orjson.loads(value)
    if obj.get("seq", "").endswith("skip"):
        return None
    obj["lmp"] = 99999.0 if obj["seq"].endswith("worse") else float(obj["lmp"])
    return orjson.dumps(obj)


def _price(seq: str, node: str, start_ms: int, lmp: object, minutes: int = 5) -> bytes:
    start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start_ms / 1000))
    return orjson.dumps(
        {
            "market": "PJM",
            "node": node,
            "interval_start": start,
            "interval_minutes": minutes,
            "lmp": lmp,
            "currency": "USD",
            "version": 1,
            "source": "dlq-test",
            "seq": seq,
        }
    )


def _inputs(prefix: str) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    base_ms = int(time.time() * 1000) // STEP_MS * STEP_MS - 200 * STEP_MS
    topic = f"{prefix}raw.prices"
    records = []
    for i in range(N_BAND):  # valid prices above the tight cap: out_of_band, then fixed by config
        records.append((topic, b"PJM:BAND", _price(f"band-{i}", "BAND", base_ms + i * STEP_MS, 60.0 + i), []))
    for i, tag in enumerate(["t0", "t1", "t2", "t3", "worse", "skip"]):  # lmp as text: wrong_type
        value = _price(f"type-{tag}", "TYPE", base_ms + i * STEP_MS, "45.5")
        records.append((topic, b"PJM:TYPE", value, [("trace-id", f"type-{tag}".encode())]))
    # Never valid (7-minute interval): the loop guard must stop it.
    records.append((topic, b"PJM:LOOP", _price("loop", "LOOP", base_ms, 10.0, minutes=7), []))
    return records


async def _wait_dlq(
    bootstrap: str, prefix: str, at_least: int, worker: subprocess.Popen[bytes]
) -> list[ConsumerRecord]:
    return await read_all(
        bootstrap, [f"{prefix}dlq"], at_least=at_least, partitions=PARTITIONS, timeout_s=120, workers=[worker]
    )


async def _wait_committed(bootstrap: str, prefix: str, timeout_s: float = 60) -> None:
    """Until the worker's group has committed every raw price offset, so the next worker does not
    re-deliver the originals (at-least-once re-delivery is the pipeline's own, tested elsewhere)."""
    raw = f"{prefix}raw.prices"
    ends = (await end_offsets(bootstrap, [raw]))[raw]
    deadline = time.monotonic() + timeout_s
    while await committed_offsets(bootstrap, f"{prefix}app", raw, tuple(ends)) != ends:
        assert time.monotonic() < deadline, "the worker did not commit its input"
        await asyncio.sleep(0.5)


def _replay(bootstrap: str, prefix: str, *args: str) -> dict[str, Any]:
    result = run_cli("replay", "--bootstrap", bootstrap, "--topic-prefix", prefix, "--yes", "--json", *args)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


async def test_fix_config_replay_each_reaches_enriched_exactly_once(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    await setup_topics(bootstrap, topic_prefix)
    inputs = _inputs(topic_prefix)
    await produce(bootstrap, inputs)
    tight = start_worker(
        bootstrap, topic_prefix, tmp_path / "w", *WORKER_ARGS, "--price-bands", "PJM=-100:50"
    )
    try:
        dlq = await _wait_dlq(bootstrap, topic_prefix, len(inputs), tight)
        await _wait_committed(bootstrap, topic_prefix)
    finally:
        kill(tight, signal.SIGTERM)  # stopped for the config change, with its input committed
    reasons = Counter(read_dead_letter(r.headers).reason for r in dlq)
    assert reasons == {"out_of_band": N_BAND, "wrong_type": 6, "bad_interval": 1}

    worker = start_worker(bootstrap, topic_prefix, tmp_path / "w", *WORKER_ARGS)
    try:
        band = _replay(bootstrap, topic_prefix, "--reason", "out_of_band")
        assert band["counts"]["replayed"] == N_BAND
        spec = f"{__name__}:fix_lmp"
        typed = _replay(bootstrap, topic_prefix, "--reason", "wrong_type", "--transform", spec)
        assert (typed["counts"]["replayed"], typed["counts"]["transform_skip"]) == (5, 1)

        # The loop guard: a message that fails every time is replayed twice, then stopped.
        guard = ("--reason", "bad_interval", "--max-replays", "2")
        for expected_dlq in (len(inputs) + 2, len(inputs) + 3):
            assert _replay(bootstrap, topic_prefix, *guard)["counts"]["replayed"] == 1
            await _wait_dlq(bootstrap, topic_prefix, expected_dlq, worker)
        stopped = _replay(bootstrap, topic_prefix, *guard)["counts"]
        assert (stopped["replayed"], stopped["loop_guard"]) == (0, 1)

        enriched_topic = f"{topic_prefix}enriched.prices"
        await read_all(
            bootstrap, [enriched_topic], at_least=N_BAND + 4, partitions=PARTITIONS, workers=[worker]
        )
        await asyncio.sleep(3)  # let any stray extra output arrive before the final read
        enriched = await read_all(bootstrap, [enriched_topic], at_least=N_BAND + 4, partitions=PARTITIONS)
        dlq = await read_all(
            bootstrap, [f"{topic_prefix}dlq"], at_least=len(inputs) + 3, partitions=PARTITIONS
        )
    finally:
        kill(worker)

    seqs = Counter(orjson.loads(r.value)["seq"] for r in enriched)
    expected = {f"band-{i}" for i in range(N_BAND)} | {f"type-t{i}" for i in range(4)}
    assert set(seqs) == expected, f"missing {expected - set(seqs)}, unexpected {set(seqs) - expected}"
    assert max(seqs.values()) == 1, f"enriched twice: {[s for s, n in seqs.items() if n > 1]}"
    fixed = [orjson.loads(r.value) for r in enriched if orjson.loads(r.value)["seq"].startswith("type-")]
    assert all(r["lmp"] == 45.5 for r in fixed)

    letters = [(orjson.loads(r.value)["seq"], read_dead_letter(r.headers)) for r in dlq]
    again = [(seq, d.reason, d.replay_count) for seq, d in letters if d.replay_count > 0]
    # The transform's bad repair went through validation again and was rejected, not accepted.
    assert sorted(again) == [
        ("loop", "bad_interval", 1),
        ("loop", "bad_interval", 2),
        ("type-worse", "out_of_band", 1),
    ]
    assert not [d for _, d in letters if d.reason in {"duplicate", "version_conflict"}]
    print(
        f"\ndlq replay acceptance: {N_BAND} out_of_band replayed -> {N_BAND} enriched once each; "
        f"5 transformed (1 skipped) -> 4 enriched, 1 rejected again; loop guard stopped after 2 replays"
    )
