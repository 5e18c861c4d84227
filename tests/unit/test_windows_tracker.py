from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.evaluation_data import AEMO_INTERVAL_MS, AemoRow, load_aemo_sa1
from streamer.topics import Kind
from streamer.windows import ClosedBar, MemoryPaneStore, Pane, WindowSpec, WindowTracker, combine, iso_ms

DATA = Path(__file__).resolve().parents[2] / "data"
KEY = "AEMO:SA1"
SPECS = (WindowSpec.parse("5m"), WindowSpec.parse("1h"), WindowSpec.parse("1h/5m"))
GRACE_MS = 2 * 3_600_000


@pytest.fixture(scope="module")
def sa1() -> list[AemoRow]:
    return load_aemo_sa1(DATA / "aemo_sa1")


@pytest.fixture(scope="module")
def sa1_month(sa1: list[AemoRow]) -> list[AemoRow]:
    # January 2009: the heatwave, with cap-level prices and the 300.00 administered-price run.
    return [r for r in sa1 if r.interval_start.startswith("2009-01")]


def _fields(row: AemoRow) -> dict[str, Any]:
    return {"market": "AEMO", "node": "SA1", "interval_start": row.interval_start, "interval_minutes": 30}


def _stream(tracker: WindowTracker, rows: list[AemoRow], key: str = KEY) -> list[dict[str, Any]]:
    bars: list[dict[str, Any]] = []
    for row in rows:
        tracker.add(key, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
        bars.extend(bar.record(Kind.PRICES) for bar in tracker.close_ready())
        tracker.prune(tracker.watermark_ms)
    return bars


def _batch(rows: list[AemoRow], specs: tuple[WindowSpec, ...]) -> list[dict[str, Any]]:
    """A plain group-by over the same rows, independent of the streaming aggregate code."""
    groups: dict[tuple[str, int, int], list[AemoRow]] = defaultdict(list)
    for row in rows:
        for spec in specs:
            for start, end in spec.windows(row.event_ms):
                groups[(spec.name, start, end)].append(row)
    bars = []
    for (name, start, end), members in groups.items():
        prices = [m.price for m in members]
        weights = [min(m.event_ms + AEMO_INTERVAL_MS, end) - m.event_ms for m in members]
        first = min(members, key=lambda m: m.event_ms)
        last = max(members, key=lambda m: m.event_ms)
        bars.append(
            {
                "key": KEY,
                "market": "AEMO",
                "node": "SA1",
                "window": name,
                "window_start": iso_ms(start, 600),
                "window_end": iso_ms(end, 600),
                "open": first.price,
                "high": max(prices),
                "low": min(prices),
                "close": last.price,
                "mean": math.fsum(prices) / len(prices),
                "min": min(prices),
                "max": max(prices),
                "count": len(prices),
                "twap": math.fsum(p * w for p, w in zip(prices, weights, strict=True)) / sum(weights),
            }
        )
    return bars


def _canon(bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(bars, key=lambda b: (b["window"], b["window_start"]))


def test_streaming_equals_batch_on_every_sa1_row(sa1: list[AemoRow]) -> None:
    specs = SPECS[:2]
    tracker = WindowTracker(specs, GRACE_MS)
    bars = _stream(tracker, sa1)
    bars.extend(bar.record(Kind.PRICES) for bar in tracker.flush())
    assert len(bars) == len(sa1) + len(sa1) // 2  # one 5m bar per row, one 1h bar per two rows
    assert _canon(bars) == _canon(_batch(sa1, specs))
    assert tracker.late_count == 0
    assert tracker.open_window_count() == 0


def test_streaming_equals_batch_with_hopping_windows(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker(SPECS, GRACE_MS)
    bars = _stream(tracker, sa1_month)
    bars.extend(bar.record(Kind.PRICES) for bar in tracker.flush())
    assert _canon(bars) == _canon(_batch(sa1_month, SPECS))


def test_shuffled_within_grace_gives_the_same_bars(sa1_month: list[AemoRow]) -> None:
    rng = random.Random(20090129)
    # Arrival order by event time plus a delay below grace: no event can arrive after its window closed.
    shuffled = sorted(sa1_month, key=lambda r: r.event_ms + rng.randrange(GRACE_MS))
    assert shuffled != sa1_month
    tracker = WindowTracker(SPECS, GRACE_MS)
    bars = _stream(tracker, shuffled)
    bars.extend(bar.record(Kind.PRICES) for bar in tracker.flush())
    assert tracker.late_count == 0
    assert _canon(bars) == _canon(_batch(sa1_month, SPECS))


def test_each_window_is_emitted_once_and_only_after_end_plus_grace(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker(SPECS, GRACE_MS)
    seen: set[tuple[str, int]] = set()
    for row in sa1_month:
        tracker.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
        for bar in tracker.close_ready():
            agg = bar.bar
            assert tracker.watermark_ms is not None
            assert agg.end_ms + GRACE_MS <= tracker.watermark_ms
            assert (agg.window, agg.start_ms) not in seen
            seen.add((agg.window, agg.start_ms))
        tracker.prune(tracker.watermark_ms)
        # Bounded state: only windows ending within grace of the watermark stay open, and only the panes they
        # hold are kept, whatever the stream length.
        assert tracker.open_window_count() <= sum((s.size_ms + GRACE_MS) // s.step_ms + 1 for s in SPECS)
        assert tracker.open_pane_count() <= (3_600_000 + GRACE_MS) // tracker.pane_ms + 1


def test_one_late_prune_deletes_every_pane_whose_windows_all_closed(sa1_month: list[AemoRow]) -> None:
    """Pruning stops at the first pane with a window still open: every later pane has one too."""
    tracker = WindowTracker(SPECS, GRACE_MS)
    for row in sa1_month[:2000]:  # a week of panes, none pruned yet
        tracker.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
        tracker.close_ready()
    before = tracker.open_pane_count()
    assert tracker.watermark_ms is not None
    deleted = tracker.prune(tracker.watermark_ms)
    assert deleted > 1000 and tracker.open_pane_count() == before - deleted
    assert tracker.open_pane_count() <= (3_600_000 + GRACE_MS) // tracker.pane_ms + 1


def test_heatwave_hour_bar_in_nem_time(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker([WindowSpec.parse("1h")], GRACE_MS)
    bars = _stream(tracker, sa1_month)
    hour = next(b for b in bars if b["window_start"] == "2009-01-29T13:00:00+10:00")
    members = [
        r for r in sa1_month if r.interval_start in ("2009-01-29T13:00:00+10:00", "2009-01-29T13:30:00+10:00")
    ]
    assert hour["window_end"] == "2009-01-29T14:00:00+10:00"
    assert hour["count"] == 2
    assert (hour["open"], hour["close"]) == (members[0].price, members[1].price)
    assert hour["twap"] == pytest.approx(hour["mean"])


def test_events_beyond_grace_are_late_counted_and_do_not_change_closed_bars(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker(SPECS[:2], GRACE_MS)
    on_time = _stream(tracker, sa1_month)
    straggler = sa1_month[10]
    result = tracker.add(KEY, straggler.event_ms, AEMO_INTERVAL_MS, 9999.0, _fields(straggler))
    assert result.is_late
    assert not result.accepted
    assert {(w.window, w.reason) for w in result.late} == {("5m", "window_closed"), ("1h", "window_closed")}
    assert all(w.end_ms + GRACE_MS <= w.watermark_ms for w in result.late)
    assert tracker.late_count == 1
    assert tracker.close_ready() == []
    flushed = [b.record(Kind.PRICES) for b in tracker.flush()]
    assert _canon(on_time + flushed) == _canon(_batch(sa1_month, SPECS[:2]))


def test_event_late_for_some_hopping_windows_is_added_to_the_open_ones(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker([WindowSpec.parse("1h/5m")], grace_ms=0)
    _stream(tracker, sa1_month[:100])
    assert tracker.watermark_ms is not None
    event_ms = tracker.watermark_ms - 30 * 60_000  # 30 min behind: half its hopping windows closed
    result = tracker.add(KEY, event_ms, AEMO_INTERVAL_MS, 50.0)
    assert result.accepted + len(result.late) == 12
    assert result.accepted and result.late
    assert tracker.late_count == 1


def test_a_tracker_restored_from_its_panes_mid_stream_gives_the_same_bars(sa1_month: list[AemoRow]) -> None:
    whole = WindowTracker(SPECS, GRACE_MS)
    expected = _stream(whole, sa1_month) + [b.record(Kind.PRICES) for b in whole.flush()]

    store = MemoryPaneStore()
    first = WindowTracker(SPECS, GRACE_MS, store)
    cut = len(sa1_month) // 3
    bars = _stream(first, sa1_month[:cut])
    assert {key for key, _ in store.panes} == {KEY}
    # A new process after a crash: only the panes and the durable watermark survive.
    restored = WindowTracker(SPECS, GRACE_MS, store, watermark_ms=first.watermark_ms)
    assert restored.open_pane_count() == first.open_pane_count()
    bars += _stream(restored, sa1_month[cut:]) + [b.record(Kind.PRICES) for b in restored.flush()]
    assert bars == expected
    assert store.panes == {}


def test_adding_the_same_offset_twice_changes_no_pane(sa1_month: list[AemoRow]) -> None:
    once, twice = WindowTracker(SPECS, GRACE_MS), WindowTracker(SPECS, GRACE_MS)
    for offset, row in enumerate(sa1_month[:200]):
        once.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row), offset)
        for _ in range(2):  # a re-delivery after a crash, whose pane update had been persisted
            twice.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row), offset)
    assert [b.record(Kind.PRICES) for b in once.flush()] == [b.record(Kind.PRICES) for b in twice.flush()]


def test_pane_round_trips_exactly_through_json(sa1_month: list[AemoRow]) -> None:
    pane = Pane(sa1_month[0].event_ms, 600)
    for offset, row in enumerate(sa1_month[:48]):
        pane.add(row.event_ms, AEMO_INTERVAL_MS, row.price, sa1_month[0].event_ms + 86_400_000, offset)
    pane.add(
        sa1_month[0].event_ms + 86_400_000 - 600_000,
        AEMO_INTERVAL_MS,
        1.5,
        sa1_month[0].event_ms + 86_400_000,
    )
    assert pane.overhang
    again = Pane.from_list(orjson.loads(orjson.dumps(pane.to_list())))
    assert again == pane


def test_twap_weights_intervals_clipped_to_the_window(sa1_month: list[AemoRow]) -> None:
    # A 30-minute AEMO interval in a 5-minute window weighs 5 minutes: twap is its price.
    start = sa1_month[0].event_ms
    pane = Pane(start)
    pane.add(start, AEMO_INTERVAL_MS, sa1_month[0].price, start + 300_000)
    bar = combine("5m", start, start + 300_000, [pane])
    assert bar.twap == sa1_month[0].price
    # In an hour it weighs its full 30 minutes against a second value's 30.
    later = Pane(start + 1_800_000)
    later.add(start + 1_800_000, AEMO_INTERVAL_MS, 10.0, start + 2_100_000)
    hour = combine("1h", start, start + 3_600_000, [pane, later])
    assert hour.twap == pytest.approx((sa1_month[0].price + 10.0) / 2)


def test_load_bar_record_carries_zone_and_mw_stats(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker([WindowSpec.parse("1h")], grace_ms=0)
    for row in sa1_month[:4]:
        tracker.add("AEMO:SA1", row.event_ms, AEMO_INTERVAL_MS, row.demand_mw, _fields(row))
    bars: list[ClosedBar] = tracker.flush()
    record = bars[0].record(Kind.LOAD)
    assert set(record) == {
        "key",
        "market",
        "zone",
        "window",
        "window_start",
        "window_end",
        "mean",
        "min",
        "max",
        "count",
    }
    assert record["count"] == 2
    assert record["mean"] == (sa1_month[0].demand_mw + sa1_month[1].demand_mw) / 2


def test_tracker_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        WindowTracker(SPECS, grace_ms=-1)
    with pytest.raises(ValueError):
        WindowTracker([WindowSpec.parse("5m"), WindowSpec.parse("5m")], grace_ms=0)


def test_interleaved_keys_keep_separate_windows(sa1_month: list[AemoRow]) -> None:
    # Price and demand of the same half-hours as two series on one partition, interleaved like a feed.
    tracker = WindowTracker(SPECS[:2], GRACE_MS)
    price_bars: list[dict[str, Any]] = []
    demand_bars: list[ClosedBar] = []
    for row in sa1_month:
        tracker.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
        tracker.add("AEMO:SA1-DEMAND", row.event_ms, AEMO_INTERVAL_MS, row.demand_mw, _fields(row))
        for bar in tracker.close_ready():
            if bar.key == KEY:
                price_bars.append(bar.record(Kind.PRICES))
            else:
                demand_bars.append(bar)
    for bar in tracker.flush():
        if bar.key == KEY:
            price_bars.append(bar.record(Kind.PRICES))
        else:
            demand_bars.append(bar)
    assert _canon(price_bars) == _canon(_batch(sa1_month, SPECS[:2]))
    demand_by_hour = {b.bar.start_ms: b.bar for b in demand_bars if b.bar.window == "1h"}
    assert len(demand_by_hour) == len(sa1_month) // 2
    first = demand_by_hour[sa1_month[0].event_ms]
    assert first.high == max(sa1_month[0].demand_mw, sa1_month[1].demand_mw)


def test_a_restored_tracker_reports_events_for_windows_its_watermark_closed_as_late() -> None:
    tracker = WindowTracker(SPECS, GRACE_MS)
    assert tracker.close_ready() == []
    tracker.add(KEY, 10_000_000, AEMO_INTERVAL_MS, 1.0)
    fresh = WindowTracker(SPECS, GRACE_MS, tracker.store, watermark_ms=tracker.watermark_ms)
    assert fresh.watermark_ms == 10_000_000
    assert fresh.add(KEY, 10_000_000 - GRACE_MS - 3_600_000, AEMO_INTERVAL_MS, 1.0).is_late
    assert not fresh.add(KEY, 10_000_000, AEMO_INTERVAL_MS, 2.0).is_late


def test_running_stats_of_the_current_windows(sa1_month: list[AemoRow]) -> None:
    tracker = WindowTracker(SPECS, GRACE_MS)
    rows = sa1_month[:4]  # two hours of half-hourly prices
    for row in rows:
        tracker.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
    stats = {s.window: s for s in tracker.current_stats(KEY, rows[-1].event_ms)}
    assert stats["5m"].count == 1 and stats["5m"].mean == rows[-1].price
    assert stats["1h"].count == 2 and stats["1h"].max == max(r.price for r in rows[2:])
    trailing = stats["1h/5m"]  # the hopping window of the last value that closes first: the trailing hour
    assert trailing.end_ms == rows[-1].event_ms + 300_000
    assert trailing.count == 2 and trailing.mean == pytest.approx((rows[2].price + rows[3].price) / 2)


def test_running_stats_from_the_recent_slots_equal_stats_gathered_from_the_panes(
    sa1_month: list[AemoRow],
) -> None:
    """current_stats reads contiguous slots kept beside the panes; they must agree with the panes."""
    rng = random.Random(7)
    rows = sa1_month[:600]
    order = sorted(range(len(rows)), key=lambda i: i + rng.uniform(-3, 3))  # out of order, within grace
    tracker = WindowTracker(SPECS, GRACE_MS)
    for n, i in enumerate(order):
        row = rows[i]
        tracker.add(KEY, row.event_ms, AEMO_INTERVAL_MS, row.price, _fields(row), offset=i)
        if n % 50 == 0:
            tracker.close_ready()
            tracker.prune(tracker.watermark_ms)  # deletes old panes under the slots
        got = tracker.current_stats(KEY, row.event_ms)
        group = dict(tracker.store.panes_of(KEY))
        assert isinstance(tracker.store, MemoryPaneStore)
        tracker.store.series[KEY].recent = None  # next call rebuilds the slots from the panes
        rebuilt = tracker.current_stats(KEY, row.event_ms)
        assert got == rebuilt
        for stats in got:
            panes = [p for start, p in group.items() if stats.start_ms <= start < stats.end_ms]
            assert stats.count == sum(p.count for p in panes)
            assert stats.min == min(p.low for p in panes) and stats.max == max(p.high for p in panes)


def _open_pairs_brute_force(tracker: WindowTracker) -> int:
    """(series, spec, window start) with a pane in the window and the window not closed, one by one."""
    snapshot = tracker.open_window_snapshot()
    pairs = set()
    for start_ms, keys in snapshot.index.items():
        for i, spec in enumerate(tracker.specs):
            for start, end in spec.windows(start_ms):
                if snapshot.closed_end is None or end > snapshot.closed_end:
                    pairs.update((key, i, start) for key in keys)
    return len(pairs)


def test_open_windows_are_counted_per_series_and_window(sa1_month: list[AemoRow]) -> None:
    """Three series with gaps (one misses every third interval, one every seventh), out of order in places."""
    tracker = WindowTracker(SPECS, 20 * 60_000)
    rng = random.Random(5)
    counts = []
    for n, row in enumerate(sa1_month[:2000]):
        for key, skip in (("A", 0), ("B", 3), ("C", 7)):
            if skip and n % skip == 0:
                continue
            event_ms = row.event_ms - (AEMO_INTERVAL_MS if rng.random() < 0.05 else 0)
            tracker.add(key, event_ms, AEMO_INTERVAL_MS, row.price, _fields(row))
        tracker.close_ready()
        if n % 97 == 0:
            tracker.prune(tracker.watermark_ms)
            counts.append(tracker.open_window_count())
            assert counts[-1] == _open_pairs_brute_force(tracker)
    assert min(counts) > 0
