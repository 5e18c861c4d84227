"""The Faust-free batch step on real SA1 rows: windows, late events, anomalies, and state that is persisted
per entry, survives restarts and crashes at any point of a batch, and stays within its cache."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.chaos.audit import derived_identity
from streamer.enrichment import parse_window_specs
from streamer.feeds import read_path
from streamer.feeds.base import RawMessage
from streamer.feeds.simulate import generate, market_series
from streamer.processor import BatchResult, InMessage, Processor, processor_for
from streamer.settings import Settings
from streamer.state import MemoryBackend, StateStore
from streamer.state.keys import meta_key
from streamer.topics import Kind

SA1 = Path(__file__).resolve().parents[2] / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
NOW_MS = 4_000_000_000_000  # 2096: every 2009 row is in the past
SETTINGS = Settings()


@pytest.fixture(scope="module")
def prices() -> list[RawMessage]:
    return [m for m in read_path(SA1, "aemo") if m.kind is Kind.PRICES]


class Disk:
    """The persisted state of every partition, as the worker's RocksDB would hold it."""

    def __init__(self) -> None:
        self.backends: dict[int, MemoryBackend] = {}

    def backend(self, partition: int) -> MemoryBackend:
        return self.backends.setdefault(partition, MemoryBackend())

    def processor(
        self, series_capacity: int = 10_000, pane_capacity: int = 100_000, **kwargs: Any
    ) -> Processor:
        return Processor(
            topics=SETTINGS.topics,
            policy=SETTINGS.policy,
            clock_ms=lambda: NOW_MS,
            store=StateStore(self.backend, series_capacity, pane_capacity),
            window_specs=parse_window_specs(kwargs.pop("specs", "5m,1h,1h/5m")),
            grace_ms=kwargs.pop("grace_ms", 600_000),
            **kwargs,
        )

    def persist(self, proc: Processor, keep: int | None = None) -> int:
        """Apply what the processor hands over; ``keep`` applies only a prefix (a crash mid-changelog)."""
        written = 0
        for partition, changes in proc.take_changes().items():
            self.backend(partition).apply(changes[:keep])
            written += len(changes)
        if keep is None:
            proc.persisted()
        return written


def _in(messages: list[RawMessage], first_offset: int = 0) -> list[InMessage]:
    return [
        InMessage(f"raw.{m.kind.value}", 0, first_offset + i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]


def _bars(result: BatchResult) -> list[bytes]:
    return [o.value for o in result.derived if o.outcome == "bar" and o.value is not None]


def _distinct(bars: list[bytes]) -> list[bytes]:
    """Bars by identity, asserting that a repeat is byte-identical to the first copy."""
    seen: dict[tuple[Any, ...], bytes] = {}
    for bar in bars:
        record = orjson.loads(bar)
        ident = (record["window"], record["window_start"])
        assert seen.setdefault(ident, bar) == bar, f"a repeated bar differs: {ident}"
    return list(seen.values())


def test_bars_do_not_depend_on_batch_boundaries_or_restarts(prices: list[RawMessage]) -> None:
    batch = _in(prices[:600])
    whole = _bars(Disk().processor().process(batch))
    disk = Disk()
    chunked: list[bytes] = []
    proc = disk.processor()
    for i in range(0, len(batch), 37):
        chunked += _bars(proc.process(batch[i : i + 37]))
        disk.persist(proc)
        if i % 5 == 0:  # a restart: all memory gone, state only from the disk
            proc = disk.processor()
    assert len(whole) > 1000
    assert chunked == whole


def test_a_crash_at_any_point_of_persisting_a_batch_loses_nothing_and_counts_nothing_twice(
    prices: list[RawMessage],
) -> None:
    """The changelog may hold any prefix of a batch's changes when the worker dies; the batch is then
    consumed again. Its bars may be published twice (identical), never differently."""
    batch = _in(prices[:800])
    whole = _bars(Disk().processor().process(batch))
    rng = random.Random(7)
    disk = Disk()
    proc = disk.processor()
    bars: list[bytes] = []
    i = 0
    while i < len(batch):
        chunk = batch[i : i + 53]
        bars += _bars(proc.process(chunk))
        if rng.random() < 0.4:  # the worker dies while persisting this batch
            changes = proc.take_changes()[0]
            disk.backend(0).apply(changes[: rng.randrange(len(changes) + 1)])
            proc = disk.processor()  # restarted: the batch is consumed again from its first offset
            bars += _bars(proc.process(chunk))
        disk.persist(proc)
        i += len(chunk)
    assert _distinct(bars) == _distinct(whole)


def test_enriched_record_carries_window_statistics_and_the_robust_score(prices: list[RawMessage]) -> None:
    result = Disk().processor().process(_in(prices))
    enriched = [orjson.loads(o.value) for o in result.primary if o.value is not None]
    assert len(enriched) == len(prices) and all(o.outcome == "enriched" for o in result.primary)
    last = enriched[-1]
    assert [w["window"] for w in last["windows"]] == ["5m", "1h", "1h/5m"]
    hourly = next(w for w in last["windows"] if w["window"] == "1h")
    assert hourly["count"] in (1, 2) and hourly["min"] <= last["lmp"] <= hourly["max"]
    assert last["spike"] is not None and set(last["spike"]) == {"score", "median", "mad"}
    assert enriched[0]["spike"] is None  # no history yet
    assert last["watermark_ms"] == max(e["watermark_ms"] for e in enriched)
    spikes = [e for e in enriched if "price_spike" in e["anomalies"]]
    assert all(e["anomaly_score"] > 0 and e["spike"]["score"] >= 6 for e in spikes)
    assert any(e["lmp"] > 9000 for e in spikes), "the heatwave's cap-level prices are spikes"
    assert max(len(o.value or b"") for o in result.primary) < 1000
    anomalies = [orjson.loads(o.value) for o in result.derived if o.outcome == "anomaly" and o.value]
    triggered = [a for a in anomalies if a["origin"] is not None]
    assert triggered and all(a["origin"]["topic"] == "raw.prices" for a in triggered)
    assert all(a["windows"] for a in triggered)


def test_late_event_is_enriched_flagged_and_reported(prices: list[RawMessage]) -> None:
    proc = Disk().processor()
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
    proc = Disk().processor(stale_clock="wall")
    proc.process(_in(prices[:10]))
    last_ms = max(
        orjson.loads(o.value or b"")["watermark_ms"] for o in proc.process(_in(prices[10:11], 10)).primary
    )
    assert proc.tick(last_ms + 30 * 60_000) == []
    outputs = proc.tick(last_ms + 5 * 30 * 60_000)
    (stale,) = [orjson.loads(o.value or b"") for o in outputs]
    assert stale["type"] == "stale_feed" and stale["origin"] is None and stale["severity"] == "warning"


def test_state_is_kept_per_entry_and_closed_windows_leave_it(prices: list[RawMessage]) -> None:
    disk = Disk()
    proc = disk.processor()
    written_bytes = 0
    for i in range(0, 600, 50):
        proc.process(_in(prices[i : i + 50], i))
        before = proc.store.written_bytes
        disk.persist(proc)
        written_bytes += proc.store.written_bytes - before
    keys = list(disk.backend(0).data)
    by_type: dict[bytes, int] = {}
    for key in keys:
        by_type[key[:1]] = by_type.get(key[:1], 0) + 1
    assert by_type[b"s"] == 1 and by_type[b"m"] == 1  # one series summary, one meta entry
    # A revision entry per interval within the 7-day horizon (336 half-hours) behind the durable watermark.
    assert 336 <= by_type[b"r"] <= 336 + 50 + 1
    # Only panes that a still-open window may need: the last hour plus grace (3 half-hours), and those of
    # the last batch, which are pruned once its watermark is durable (with the next batch).
    assert 0 < by_type[b"p"] <= 3 + 50
    assert by_type[b"h"] <= 9  # the spike history's ring of chunks
    assert written_bytes / 600 < 700, "bytes of state written per event"
    meta = orjson.loads(disk.backend(0).data[meta_key(Kind.PRICES)])
    assert meta[2] == 600  # the next offset to process


def test_revisions_past_the_horizon_are_deleted(prices: list[RawMessage]) -> None:
    disk = Disk()
    proc = disk.processor(horizon_ms=24 * 3_600_000)
    for i in range(0, 480, 40):  # ten days of half-hours
        proc.process(_in(prices[i : i + 40], i))
        disk.persist(proc)
    revisions = [k for k in disk.backend(0).data if k[:1] == b"r"]
    assert 48 <= len(revisions) <= 48 + 40 + 2  # a day behind the durable watermark, plus one batch


def test_a_revision_in_an_open_window_is_reported_not_counted_twice(prices: list[RawMessage]) -> None:
    proc = Disk().processor()
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


def test_a_redelivered_revision_is_still_not_counted(prices: list[RawMessage]) -> None:
    disk = Disk()
    proc = disk.processor()
    proc.process(_in(prices[:100]))
    disk.persist(proc)
    newest = orjson.loads(prices[99].value or b"")
    newest["version"], newest["lmp"] = 2, newest["lmp"] + 1000.0
    revision = InMessage("raw.prices", 0, 100, prices[99].key, orjson.dumps(newest), [], None)
    proc.process([revision])
    changes = proc.take_changes()[0]
    disk.backend(0).apply([c for c in changes if c[0] != meta_key(Kind.PRICES)])  # crash before the meta
    again = disk.processor().process([revision])
    assert [o.outcome for o in again.primary] == ["enriched"]
    assert [orjson.loads(o.value or b"")["reason"] for o in again.derived if o.outcome == "late"] == [
        "revision"
    ]


def test_a_record_consumed_again_after_its_state_was_persisted_is_skipped(prices: list[RawMessage]) -> None:
    disk = Disk()
    proc = disk.processor()
    proc.process(_in(prices[:50]))
    disk.persist(proc)
    for again in (proc, disk.processor()):  # the same process, or restarted
        result = again.process(_in(prices[40:50], 40))
        assert result.primary == [] and result.derived == [] and result.skipped == 10


def test_a_redelivered_record_whose_meta_was_not_persisted_is_published_again(
    prices: list[RawMessage],
) -> None:
    """A crash after the batch's entries reached the changelog but before its meta entry did: the records
    are processed again, published again, and their state is not counted twice."""
    disk = Disk()
    proc = disk.processor()
    first = proc.process(_in(prices[:50]))
    changes = proc.take_changes()[0]
    disk.backend(0).apply([c for c in changes if c[0] != meta_key(Kind.PRICES)])
    again = disk.processor().process(_in(prices[:50]))
    assert [o.outcome for o in again.primary] == ["enriched"] * 50
    origins = [orjson.loads(o.value or b"")["origin"] for o in again.primary]
    assert origins == [orjson.loads(o.value or b"")["origin"] for o in first.primary]
    assert not [o for o in again.derived if o.outcome == "anomaly"]  # detectors saw these offsets already


def test_a_small_cache_gives_the_same_outputs_as_a_large_one(prices: list[RawMessage]) -> None:
    def run(series_capacity: int, pane_capacity: int) -> list[bytes]:
        disk = Disk()
        proc = disk.processor(series_capacity, pane_capacity)
        out: list[bytes] = []
        for i in range(0, 900, 30):
            result = proc.process(_in(prices[i : i + 30], i))
            out += [o.value or b"" for o in result.outputs]
            disk.persist(proc)
            assert proc.store.cached_counts()[1] <= max(pane_capacity, 30 * 3)
        return out

    assert run(1, 1) == run(10_000, 100_000)


def test_outputs_of_day_ahead_prices_are_stamped_no_later_than_the_clock() -> None:
    """A price a day ahead is valid, but a Kafka 4 broker refuses a record stamped more than an hour ahead of
    its clock: the enriched record and its bars carry the processing time instead, the event time stays in
    the value."""
    now_ms = 1_767_225_600_000  # 2026-01-01T00:00Z
    proc = Processor(
        topics=SETTINGS.topics,
        policy=SETTINGS.policy,
        clock_ms=lambda: now_ms,
        store=StateStore(lambda _p: MemoryBackend(), 100, 1000),
        window_specs=parse_window_specs("5m"),
        grace_ms=0,
    )
    messages = []
    for hour in (23, 24):  # the second one closes the first one's bar
        start = f"2026-01-01T{hour:02d}:00:00+00:00" if hour < 24 else "2026-01-02T00:00:00+00:00"
        value = {"market": "PJM", "node": "WESTERN HUB", "interval_start": start, "interval_minutes": 5}
        value |= {"lmp": 41.5, "currency": "USD", "version": 1, "source": "pjm-da"}
        messages.append(RawMessage(Kind.PRICES, b"PJM:WESTERN HUB", orjson.dumps(value), now_ms))
    result = proc.process(_in(messages))
    enriched = [o for o in result.primary if o.outcome == "enriched"]
    assert len(enriched) == 2 and len(_bars(result)) == 1
    for out in [*enriched, *(o for o in result.derived if o.outcome == "bar")]:
        assert out.timestamp_ms == now_ms
    assert orjson.loads(enriched[0].value)["interval_start_ms"] == now_ms + 23 * 3_600_000

    past = dict(orjson.loads(messages[0].value), interval_start="2025-12-31T22:00:00+00:00")
    (earlier,) = proc.process(_in([RawMessage(Kind.PRICES, b"PJM:X", orjson.dumps(past), now_ms)], 5)).primary
    assert earlier.timestamp_ms == now_ms - 2 * 3_600_000  # event time when it is not ahead


@pytest.fixture(scope="module")
def market() -> list[InMessage]:
    """200 price nodes and 20 load zones over 30 five-minute intervals, one partition: each 5-minute boundary
    closes about 440 windows at once."""
    series = market_series(200, 20)
    count = sum(1 for s in series if s.kind is not Kind.GAS) * 30
    messages = [m for m, _ in generate(3, count, 0.0, NOW_MS - 86_400_000, series)]
    return [
        InMessage(f"raw.{m.kind.value}", 0, i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]


def _keyed_bars(result: BatchResult) -> list[tuple[bytes, bytes]]:
    return [(o.key or b"", o.value or b"") for o in result.derived if o.outcome == "bar"]


def _by_series(bars: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Each series' bars in the order they came out, asserting that a repeat is byte-identical."""
    seen: dict[tuple[bytes, str, str], bytes] = {}
    out: dict[bytes, list[bytes]] = {}
    for key, bar in bars:
        record = orjson.loads(bar)
        ident = (key, record["window"], record["window_start"])
        first = seen.setdefault(ident, bar)
        assert first == bar, f"a repeated bar differs: {ident}"
        if first is bar:
            out.setdefault(key, []).append(bar)
    return out


def test_bars_spread_over_later_batches_are_the_bars_of_closing_all_at_once(market: list[InMessage]) -> None:
    whole: list[tuple[bytes, bytes]] = []
    proc = Disk().processor()
    for i in range(0, len(market), 50):
        whole += _keyed_bars(proc.process(market[i : i + 50]))
    spread: list[tuple[bytes, bytes]] = []
    proc = Disk().processor(bars_per_batch=60)
    pending_batches = 0
    for i in range(0, len(market), 50):
        result = proc.process(market[i : i + 50])
        spread += _keyed_bars(result)
        pending_batches += bool(proc.closing_inputs())
        assert bool(proc.pending_bar_count()) == bool(proc.closing_inputs())
    while proc.closing_inputs():  # the end of the input: batches without records finish the bars
        spread += _keyed_bars(proc.process([]))
    assert proc.pending_bar_count() == 0
    assert len(whole) > 10_000
    assert pending_batches > 20
    assert sorted(spread) == sorted(whole)
    assert _by_series(spread) == _by_series(whole)  # and each series' bars in the same order


def test_bars_still_to_come_survive_crashes_and_restarts(market: list[InMessage]) -> None:
    """The windows closed but not yet emitted are persisted with the batch: a worker that dies with bars
    still to compute, at any point of persisting, emits each of them later, identical, and loses none."""
    whole = _by_series(_keyed_bars(Disk().processor().process(market)))
    rng = random.Random(11)
    disk = Disk()
    proc = disk.processor(bars_per_batch=60)
    bars: list[tuple[bytes, bytes]] = []
    i = crashes = 0
    while i < len(market) or proc.closing_inputs():
        chunk = market[i : i + 40]
        bars += _keyed_bars(proc.process(chunk))
        if rng.random() < 0.3:  # the worker dies while persisting this batch
            changes = proc.take_changes().get(0, [])
            disk.backend(0).apply(changes[: rng.randrange(len(changes) + 1)])
            proc = disk.processor(bars_per_batch=60)
            crashes += 1
            bars += _keyed_bars(proc.process(chunk))  # consumed again from its first offset
        disk.persist(proc)
        i += len(chunk)
        if rng.random() < 0.2:  # a clean restart: memory gone, state from the disk
            proc = disk.processor(bars_per_batch=60)
            # The last record is consumed again (not committed while bars were to come) and skipped.
            bars += _keyed_bars(proc.process(market[i - 1 : i]))
            disk.persist(proc)
    assert crashes > 10
    assert _by_series(bars) == whole


def test_a_late_event_in_a_window_whose_bar_is_still_to_come_does_not_change_that_bar(
    market: list[InMessage],
) -> None:
    """The bars of the windows it falls into are computed before the event touches their panes."""
    starts = [i for i in range(1, len(market)) if market[i].timestamp_ms != market[i - 1].timestamp_ms]
    cut = starts[10]  # the first record of an interval
    held = market[starts[7] + 5]  # of 3 intervals before: its 5-minute window closes at cut (10 min grace)
    records = [m for m in market[: cut + 1] if m is not held] + [held] + market[cut + 1 :]
    replay = [InMessage(m.topic, 0, i, m.key, m.value, [], m.timestamp_ms) for i, m in enumerate(records)]
    expected = _by_series(_keyed_bars(Disk().processor().process(replay)))
    proc = Disk().processor(bars_per_batch=60)
    bars = _keyed_bars(proc.process(replay[: cut - 1]))
    bars += _keyed_bars(proc.process(replay[cut - 1 : cut]))  # the first record of a new interval
    assert proc.closing_inputs(), "it closed more windows than one batch computes"
    result = proc.process(replay[cut : cut + 1])
    assert orjson.loads(result.primary[0].value or b"")["late"], (
        "the held-back record is late for some window"
    )
    assert proc.closing_inputs() == set(), "the late record computed the bars still to come first"
    bars += _keyed_bars(result) + _keyed_bars(proc.process(replay[cut + 1 :]))
    while proc.closing_inputs():
        bars += _keyed_bars(proc.process([]))
    assert _by_series(bars) == expected


def test_a_record_repeated_after_a_crash_mid_changelog_is_the_first_copy_byte_for_byte() -> None:
    """At least once, the chaos audit's rule: whatever prefix of a batch's changes a crash left durable, each
    anomaly, late record and bar published again is the first copy, including the window statistics an
    anomaly carries. A batch here holds several intervals of each series, so the panes it writes are ahead
    of its first records."""
    series = market_series(40, 4)
    count = sum(1 for s in series if s.kind is not Kind.GAS) * 150  # 150 intervals: the detectors warm up
    market = [
        InMessage(f"raw.{m.kind.value}", 0, i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(m for m, _ in generate(7, count, 0.0, NOW_MS - 86_400_000, series))
    ]
    batch = 300  # about 7 intervals of each series
    rng = random.Random(5)
    disk = Disk()
    proc = disk.processor()
    first: dict[tuple[Any, ...], bytes] = {}
    repeated: dict[str, int] = {}
    for i in range(0, len(market), batch):
        chunk = market[i : i + batch]
        outs = proc.process(chunk).derived
        changes = proc.take_changes().get(0, [])
        cut = rng.randrange(len(changes) + 1)
        disk.backend(0).apply(changes[:cut])  # the worker dies while persisting this batch
        proc = disk.processor()
        outs += proc.process(chunk).derived  # consumed again from its first offset
        disk.persist(proc)
        for out in outs:
            ident = derived_identity(out.value)
            copy = first.setdefault(ident, out.value or b"")
            assert copy == out.value, f"a repeated {ident[0]} has other bytes: {ident}"
            if copy is not out.value:
                repeated[ident[0]] = repeated.get(ident[0], 0) + 1
    assert repeated.get("anomaly", 0) > 0, repeated  # the crashes did repeat anomalies


def test_processor_for_runs_what_the_settings_say() -> None:
    settings = Settings(window_specs="5m,1h", bars_per_batch=40, detectors_enabled=False, stale_clock="wall")
    store = StateStore(lambda partition: MemoryBackend())
    worker = processor_for(settings, store, lambda: 0)
    assert worker.window_specs == parse_window_specs("5m,1h")
    assert worker.bars_per_batch == 40
    assert (worker.detectors_enabled, worker.stale_clock) == (False, "wall")
    assert processor_for(settings, store, lambda: 0, spread_bars=False).bars_per_batch is None
    assert processor_for(Settings(bars_per_batch=0), store, lambda: 0).bars_per_batch is None
