"""The dashboard's view, fed the real outputs of the real batch step over AEMO SA1 January 2009."""

from __future__ import annotations

import orjson
import pytest

from streamer.processor import OutMessage
from streamer.topics import Kind
from streamer.web.market import MINUTE_MS, MarketView, ViewLimits
from tests.unit.web.sa1 import feed


def test_latest_is_the_newest_interval_per_series_and_kind(outputs: list[OutMessage]) -> None:
    view = MarketView()
    feed(view, outputs)
    prices = view.latest(Kind.PRICES, "AEMO:SA1")
    load = view.latest(Kind.LOAD, "AEMO:SA1")
    assert prices is not None and load is not None
    assert prices.as_json()["interval_start"] == "2009-01-31T23:30:00+10:00"
    assert prices.as_json()["lmp"] == prices.value and "mw" in load.as_json()
    assert [r.kind for r in view.latest_list(contains="sa1")] == [Kind.LOAD, Kind.PRICES]
    assert view.latest_list(kind=Kind.GAS) == []


def test_bars_show_the_heatwave_spike_at_the_cap(outputs: list[OutMessage]) -> None:
    view = MarketView()
    feed(view, outputs)
    assert view.bar_windows(Kind.PRICES, "AEMO:SA1") == ["1h", "5m"]  # 1h/5m is not kept by default
    hourly = view.bars(Kind.PRICES, "AEMO:SA1", "1h")
    assert max(b.high for b in hourly) == pytest.approx(9999.92)
    assert [b.start_ms for b in hourly] == sorted(b.start_ms for b in hourly)
    spike = max(hourly, key=lambda b: b.high).as_json()
    assert spike["window_start"].startswith("2009-01-") and spike["window_start"].endswith("+10:00")
    load = view.bars(Kind.LOAD, "AEMO:SA1", "1h")
    assert load and all(b.open == b.mean and b.low == b.min for b in load)  # load bars have no OHLC


def test_bars_are_bounded_per_series_and_window_and_filtered_by_time(outputs: list[OutMessage]) -> None:
    view = MarketView(ViewLimits(bars_per_series=100, bar_windows=None))
    feed(view, outputs)
    assert "1h/5m" in view.bar_windows(Kind.PRICES, "AEMO:SA1")
    bars = view.bars(Kind.PRICES, "AEMO:SA1", "5m")
    assert len(bars) == 100
    middle = bars[50].start_ms
    assert [b.start_ms for b in view.bars(Kind.PRICES, "AEMO:SA1", "5m", from_ms=middle)] == [
        b.start_ms for b in bars[50:]
    ]
    assert view.bars(Kind.PRICES, "AEMO:SA1", "5m", to_ms=middle) == bars[:50]


def test_anomalies_keep_a_bounded_ring_newest_first(outputs: list[OutMessage]) -> None:
    produced = [orjson.loads(o.value) for o in outputs if o.outcome == "anomaly" and o.value]
    assert len(produced) > 20
    view = MarketView(ViewLimits(anomalies=20))
    feed(view, outputs)
    recent = view.anomalies(limit=1000)
    assert len(recent) == 20
    assert [a.as_json()["event_time"] for a in recent] == [p["event_time"] for p in reversed(produced[-20:])]
    assert all(a.kind is Kind.PRICES for a in view.anomalies(kind=Kind.PRICES, type_="price_spike"))


def test_dead_letters_are_counted_by_reason_per_minute_within_the_kept_span() -> None:
    view = MarketView(ViewLimits(dlq_minutes=3))
    base = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
    for minute, reason in [(0, "not_json"), (0, "not_json"), (1, "out_of_band"), (5, "not_json")]:
        view.add_dead_letter(reason, base + minute * MINUTE_MS + 1234)
    view.add_dead_letter("too_large", base)  # older than the three minutes kept: totals only
    assert view.dlq_by_minute() == [(base + 5 * MINUTE_MS, {"not_json": 1})]
    assert view.dlq_totals() == {"not_json": 3, "out_of_band": 1, "too_large": 1}


def test_series_are_bounded_and_freshness_follows_the_newest_event(outputs: list[OutMessage]) -> None:
    view = MarketView(ViewLimits(max_series=1))
    feed(view, outputs)
    assert view.series_count() == 1
    (aemo,) = view.markets()
    assert aemo.series == 1 and aemo.offset_min == 600
    assert aemo.as_json(aemo.newest_event_ms + 60_000)["event_age_s"] == 60.0


def test_changes_are_taken_once() -> None:
    view = MarketView()
    record = {
        "key": "PJM:WESTERN HUB", "market": "PJM", "node": "WESTERN HUB", "lmp": 42.17,
        "interval_start": "2024-07-01T14:05:00-04:00", "late": False, "anomalies": [], "anomaly_score": 0.0,
    }  # fmt: skip
    assert view.add_enriched(Kind.PRICES, orjson.dumps(record), 1, 2)
    first = view.take_changes()
    assert [r.key for r in first.latest] == ["PJM:WESTERN HUB"] and first.markets
    assert view.take_changes().empty()
    older = {**record, "interval_start": "2024-07-01T14:00:00-04:00", "lmp": 1.0}
    view.add_enriched(Kind.PRICES, orjson.dumps(older), 3, 4)  # an older interval is not the latest
    assert view.latest(Kind.PRICES, "PJM:WESTERN HUB").value == 42.17  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"[1]",
        b'{"key": "X"}',
        b'{"key":"A:B","market":"A","node":"B","lmp":"1","interval_start":"2024-07-01T14:05:00-04:00"}',
    ],
)
def test_unreadable_records_are_counted_not_raised(value: bytes) -> None:
    view = MarketView()
    assert not view.add_enriched(Kind.PRICES, value, 0, 0)
    assert not view.add_bar(Kind.PRICES, value)
    assert not view.add_anomaly(value, 0)
    assert view.unreadable == {"enriched": 1, "bar": 1, "anomaly": 1}
    assert view.take_changes().empty()
