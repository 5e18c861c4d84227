"""The Faust-free batch step: windows, late events, anomalies and persisted state, on real SA1 rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.enrichment import parse_window_specs
from streamer.feeds import read_path
from streamer.feeds.base import RawMessage
from streamer.processor import InMessage, Processor, partition_state_key
from streamer.settings import Settings
from streamer.topics import Kind

SA1 = Path(__file__).resolve().parents[2] / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
NOW_MS = 4_000_000_000_000  # 2096: every 2009 row is in the past
SETTINGS = Settings()


@pytest.fixture(scope="module")
def prices() -> list[RawMessage]:
    return [m for m in read_path(SA1, "aemo") if m.kind is Kind.PRICES]


def _processor(store: dict[str, bytes] | None = None, **kwargs: Any) -> Processor:
    return Processor(
        topics=SETTINGS.topics,
        policy=SETTINGS.policy,
        clock_ms=lambda: NOW_MS,
        load_state=None if store is None else store.get,
        window_specs=parse_window_specs(kwargs.pop("specs", "5m,1h,1h/5m")),
        grace_ms=kwargs.pop("grace_ms", 600_000),
        **kwargs,
    )


def _in(messages: list[RawMessage], first_offset: int = 0) -> list[InMessage]:
    return [
        InMessage(f"raw.{m.kind.value}", 0, first_offset + i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]


def _bars(proc: Processor, batch: list[InMessage]) -> list[bytes]:
    return [o.value for o in proc.process(batch).derived if o.outcome == "bar" and o.value is not None]


def test_bars_do_not_depend_on_batch_boundaries_or_restarts(prices: list[RawMessage]) -> None:
    batch = _in(prices[:600])
    whole = _bars(_processor(), batch)
    store: dict[str, bytes] = {}
    chunked: list[bytes] = []
    proc = _processor(store)
    for i in range(0, len(batch), 37):
        chunked += _bars(proc, batch[i : i + 37])
        store.update((key, state) for key, _, state in proc.take_dirty_state())
        if i % 5 == 0:  # a restart: all memory gone, state only from the table
            proc = _processor(store)
    assert len(whole) > 1000
    assert chunked == whole


def test_enriched_record_carries_window_context_and_anomaly_flags(prices: list[RawMessage]) -> None:
    result = _processor().process(_in(prices))
    enriched = [orjson.loads(o.value) for o in result.primary if o.value is not None]
    assert len(enriched) == len(prices) and all(o.outcome == "enriched" for o in result.primary)
    assert {w["window"] for w in enriched[0]["windows"]} == {"5m", "1h", "1h/5m"}
    assert len(enriched[0]["windows"]) == 14
    assert enriched[-1]["watermark_ms"] == max(e["watermark_ms"] for e in enriched)
    spikes = [e for e in enriched if "price_spike" in e["anomalies"]]
    assert all(e["anomaly_score"] > 0 for e in spikes)
    assert any(e["lmp"] > 9000 for e in spikes), "the heatwave's cap-level prices are spikes"
    anomalies = [orjson.loads(o.value) for o in result.derived if o.outcome == "anomaly" and o.value]
    triggered = [a for a in anomalies if a["origin"] is not None]
    assert triggered and all(a["origin"]["topic"] == "raw.prices" for a in triggered)
    assert all(a["windows"] for a in triggered)


def test_late_event_is_enriched_flagged_and_reported(prices: list[RawMessage]) -> None:
    proc = _processor()
    proc.process(_in(prices[:100]))
    # Re-send an early interval as a new version: valid, but its windows closed long ago.
    old = orjson.loads(prices[3].value or b"")
    old["version"] = 2
    late_msg = InMessage("raw.prices", 0, 100, prices[3].key, orjson.dumps(old), [("h", b"1")], None)
    result = proc.process([late_msg])
    (enriched,) = result.primary
    assert enriched.outcome == "enriched" and orjson.loads(enriched.value or b"")["late"] is True
    late = [orjson.loads(o.value or b"") for o in result.derived if o.outcome == "late"]
    assert len(late) == 1
    assert late[0]["reason"] == "window_closed" and late[0]["grace_ms"] == 600_000
    assert {w["window"] for w in late[0]["windows"]} == {"5m", "1h", "1h/5m"}
    assert late[0]["origin"] == {"topic": "raw.prices", "partition": 0, "offset": 100}


def test_stale_feed_comes_from_the_timer_with_no_origin(prices: list[RawMessage]) -> None:
    proc = _processor(stale_clock="wall")
    proc.process(_in(prices[:10]))
    last_ms = max(
        orjson.loads(o.value or b"")["watermark_ms"] for o in proc.process(_in(prices[10:11], 10)).primary
    )
    assert proc.tick(last_ms + 30 * 60_000) == []
    outputs = proc.tick(last_ms + 5 * 30 * 60_000)
    (stale,) = [orjson.loads(o.value or b"") for o in outputs]
    assert stale["type"] == "stale_feed" and stale["origin"] is None and stale["severity"] == "warning"


def test_state_is_one_entry_per_series_and_partition_and_windows_leave_it(prices: list[RawMessage]) -> None:
    proc = _processor()
    proc.process(_in(prices[:200]))
    state = {key: value for key, _, value in proc.take_dirty_state()}
    assert set(state) == {"prices/AEMO:SA1", partition_state_key(Kind.PRICES, 0)}
    entry = orjson.loads(state["prices/AEMO:SA1"])
    # Only windows that can still take events are kept: 12 of 1h/5m, at most 3 of 5m and 1h.
    assert 0 < len(entry["w"]) <= 12 + 3 + 3
    assert proc.take_dirty_state() == []
    assert orjson.loads(state[partition_state_key(Kind.PRICES, 0)])["keys"] == ["AEMO:SA1"]


def test_dirty_state_waits_for_a_batch_of_its_partition(prices: list[RawMessage]) -> None:
    proc = _processor()
    proc.process(_in(prices[:5]))
    assert proc.take_dirty_state({1}) == []
    assert len(proc.take_dirty_state({0})) == 2


def test_a_revision_in_an_open_window_is_reported_not_counted_twice(prices: list[RawMessage]) -> None:
    proc = _processor()
    proc.process(_in(prices[:100]))
    newest = orjson.loads(prices[99].value or b"")
    newest["version"] = 2
    newest["lmp"] = newest["lmp"] + 1000.0
    revision = InMessage("raw.prices", 0, 100, prices[99].key, orjson.dumps(newest), [], None)
    result = proc.process([revision])
    (enriched,) = result.primary
    assert enriched.outcome == "enriched" and orjson.loads(enriched.value or b"")["late"] is False
    (late,) = [orjson.loads(o.value or b"") for o in result.derived if o.outcome == "late"]
    assert late["reason"] == "revision" and late["version"] == 2
    assert {w["window"] for w in late["windows"]} == {"5m", "1h", "1h/5m"}
    # The open windows still hold only version 1: the max of no bar can include the revised price.
    bars = [
        orjson.loads(o.value or b"")
        for o in proc.process(_in(prices[100:200], 101)).derived
        if o.outcome == "bar"
    ]
    assert bars and all(bar["max"] < newest["lmp"] for bar in bars)


def test_a_record_consumed_again_after_its_state_was_persisted_is_skipped(prices: list[RawMessage]) -> None:
    proc = _processor()
    proc.process(_in(prices[:50]))
    proc.take_dirty_state()
    again = proc.process(_in(prices[40:50], 40))  # the same offsets again, as after a crash before commit
    assert again.primary == [] and again.derived == [] and again.skipped == 10
    assert proc.take_dirty_state() == []


def test_a_redelivered_record_whose_offset_was_not_persisted_is_published_again(
    prices: list[RawMessage],
) -> None:
    """A crash between persisting a series and persisting the partition's offset: the series knows the
    record (same origin), so it is published again and changes no state."""
    proc = _processor()
    first = proc.process(_in(prices[:50]))
    proc.take_dirty_state()
    for part in proc._partitions.values():
        part.next_offset = 40
    again = proc.process(_in(prices[40:50], 40))
    assert [o.outcome for o in again.primary] == ["enriched"] * 10
    origins = [orjson.loads(o.value or b"")["origin"] for o in again.primary]
    assert origins == [orjson.loads(o.value or b"")["origin"] for o in first.primary[40:50]]
    assert again.derived == []
