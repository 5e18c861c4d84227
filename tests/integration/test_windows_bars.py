"""Bars from real workers on the real broker equal the core's in-memory computation over the same file.

AEMO SA1 January 2009 (prices and load, 30-minute intervals, the heatwave's cap-level prices) is fed to the
raw topics; the expected bars come from a plain :class:`WindowTracker` fed the validated rows in file order,
which is the order each series has on its partition.

The end of a replay leaves the last windows open: no later event moves the watermark past them. Both sides
therefore hold only the windows whose ``end + grace`` is at or below the last event time; the test asserts
that the open remainder was not emitted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from streamer.admin import create_topics
from streamer.enrichment import VALUE_FIELD, parse_window_specs
from streamer.feeds import read_path
from streamer.feeds.base import RawMessage
from streamer.policy import ValidationPolicy
from streamer.settings import Settings, load_settings
from streamer.topics import Kind
from streamer.validation import Accepted, validate
from streamer.windows import WindowTracker
from tests.contracts import ContractChecker
from tests.integration.kafka_io import kill, produce, read_all, read_outputs, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 2
REPO = Path(__file__).resolve().parents[2]
SA1 = REPO / "data" / "aemo_sa1"
WORKER_ARGS = ("--partitions", str(PARTITIONS))


def sa1_messages(*months: str) -> list[RawMessage]:
    return [m for month in months for m in read_path(SA1 / f"DATA{month}_SA1.csv", "aemo")]


def expected_bars(messages: Sequence[RawMessage], settings: Settings | None = None) -> list[dict[str, Any]]:
    """The core's bars over ``messages`` in order: one tracker per kind (each series is on one partition)."""
    settings = settings or Settings()
    specs = parse_window_specs(settings.window_specs)
    trackers = {kind: WindowTracker(specs, settings.grace_ms) for kind in (Kind.PRICES, Kind.LOAD)}
    bars: list[dict[str, Any]] = []
    for msg in messages:
        verdict = validate(msg.value, msg.kind, ValidationPolicy(), 2**62)
        assert isinstance(verdict, Accepted), verdict
        tracker = trackers[msg.kind]
        value = float(verdict.record[VALUE_FIELD[msg.kind]])
        tracker.add(verdict.key, verdict.event_time_ms, verdict.interval_ms, value, verdict.record)
        bars.extend(bar.record(msg.kind) for bar in tracker.close_ready())
        tracker.prune(tracker.watermark_ms)  # as the worker does: closed panes go, so each add stays cheap
    return bars


def canon(bars: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(bars, key=lambda b: (b["key"], "zone" in b, b["window"], b["window_start"]))


def bar_identity(bar: dict[str, Any]) -> tuple[str, bool, str, str]:
    return bar["key"], "zone" in bar, bar["window"], bar["window_start"]


def distinct_bars(records: Sequence[ConsumerRecord]) -> tuple[list[dict[str, Any]], int]:
    """The bars read back, each (key, kind, window, start) once, and how many copies were repeats.

    A repeat must be byte-identical to the first copy; anything else fails here."""
    first: dict[tuple[str, bool, str, str], bytes] = {}
    repeats = 0
    for rec in records:
        bar = orjson.loads(rec.value)
        ident = bar_identity(bar)
        if ident in first:
            assert rec.value == first[ident], f"two different bars for {ident}"
            repeats += 1
        else:
            first[ident] = rec.value
    return [orjson.loads(v) for v in first.values()], repeats


async def setup_topics(bootstrap: str, prefix: str) -> None:
    await create_topics(
        load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": PARTITIONS})
    )


async def feed(bootstrap: str, prefix: str, messages: Sequence[RawMessage]) -> None:
    await produce(bootstrap, [(f"{prefix}raw.{m.kind.value}", m.key, m.value, []) for m in messages])


def bar_topics(prefix: str) -> list[str]:
    return [f"{prefix}bars.prices", f"{prefix}bars.load"]


async def test_bars_from_workers_equal_the_in_memory_computation(
    bootstrap: str, topic_prefix: str, tmp_path: Path
):
    messages = sa1_messages("200901")
    expected = expected_bars(messages)
    assert Counter(b["window"] for b in expected)["1h/5m"] > 8000
    await setup_topics(bootstrap, topic_prefix)
    await feed(bootstrap, topic_prefix, messages)
    worker = start_worker(bootstrap, topic_prefix, tmp_path / "w1", *WORKER_ARGS)
    try:
        await read_all(
            bootstrap,
            bar_topics(topic_prefix),
            at_least=len(expected),
            partitions=PARTITIONS,
            timeout_s=180,
            workers=[worker],
        )
        await asyncio.sleep(3)  # anything extra (the still-open windows, repeats) would show up now
        records = await read_all(
            bootstrap, bar_topics(topic_prefix), at_least=len(expected), partitions=PARTITIONS
        )
        enriched = await read_all(
            bootstrap, [f"{topic_prefix}enriched.prices"], at_least=len(messages) // 2, partitions=PARTITIONS
        )
    finally:
        kill(worker)
    checked = ContractChecker(topic_prefix).check_all(await read_outputs(bootstrap, topic_prefix))
    assert checked["bars.prices"] + checked["bars.load"] == len(records), checked
    assert checked["enriched.prices"] == len(enriched) and checked["anomalies"] > 0, checked
    got, repeats = distinct_bars(records)
    missing = {bar_identity(b) for b in expected} - {bar_identity(b) for b in got}
    extra = {bar_identity(b) for b in got} - {bar_identity(b) for b in expected}
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    assert len(records) == len(expected), "a bar was emitted twice"
    assert repeats == 0
    assert canon(got) == canon(expected)
    # Enriched records carry the running statistics of their windows, the robust score and the anomaly
    # flags; the heatwave has spikes.
    enriched_values = [orjson.loads(r.value) for r in enriched]
    assert all(
        [w["window"] for w in e["windows"]] == ["5m", "1h", "1h/5m"] and e["late"] is False
        for e in enriched_values
    )
    assert all(w["min"] <= e["lmp"] <= w["max"] for e in enriched_values for w in e["windows"])
    flagged = [e for e in enriched_values if e["anomalies"]]
    assert flagged and all(e["anomaly_score"] > 0 for e in flagged)
    print(
        f"\nwindows: {len(messages)} SA1 rows -> {len(records)} bars equal to the core's;",
        f"{len(flagged)} enriched records flagged; records that keep their contract: {dict(checked)}",
    )
