from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from streamer.errors import FeedError
from streamer.feeds.aemo import read_aemo
from streamer.feeds.base import FeedStats
from streamer.topics import Kind

DATA = Path(__file__).parents[3] / "data" / "aemo_sa1"
JAN_2008 = DATA / "DATA200801_SA1.csv"


def test_first_row_is_shifted_from_interval_end_to_start_in_nem_time() -> None:
    # Row 1: SA1,"2008/01/01 00:30:00",1882.33,44.77 -> interval 00:00-00:30 +10:00.
    price, load = list(read_aemo(JAN_2008))[:2]
    assert price.kind is Kind.PRICES and load.kind is Kind.LOAD
    assert price.key == load.key == b"AEMO:SA1"
    assert orjson.loads(price.value or b"") == {
        "market": "AEMO",
        "node": "SA1",
        "interval_start": "2008-01-01T00:00:00+10:00",
        "interval_minutes": 30,
        "lmp": 44.77,
        "currency": "AUD",
        "version": 1,
        "source": "aemo-dispatch",
    }
    assert orjson.loads(load.value or b"") == {
        "market": "AEMO",
        "zone": "SA1",
        "interval_start": "2008-01-01T00:00:00+10:00",
        "interval_minutes": 30,
        "mw": 1882.33,
        "version": 1,
        "source": "aemo-dispatch",
    }
    # 2007-12-31T14:00:00Z
    assert price.timestamp_ms == load.timestamp_ms == 1199109600000


def test_price_has_no_components() -> None:
    price = next(iter(read_aemo(JAN_2008)))
    assert not {"energy", "congestion", "loss"} & set(orjson.loads(price.value or b""))


def test_month_yields_a_price_and_a_load_per_row_every_30_minutes() -> None:
    stats = FeedStats()
    messages = list(read_aemo(JAN_2008, stats))
    assert stats.rows_read == 31 * 48
    assert stats.emitted == {Kind.PRICES: 31 * 48, Kind.LOAD: 31 * 48}
    assert not stats.skipped
    starts = [m.timestamp_ms for m in messages if m.kind is Kind.PRICES]
    assert {b - a for a, b in pairwise(starts)} == {30 * 60_000}
    last = orjson.loads(messages[-1].value or b"")
    assert last["interval_start"] == "2008-01-31T23:30:00+10:00"  # the row stamped 2008/02/01 00:00:00


def test_floor_price_row_is_kept_as_is() -> None:
    # data/README.md: the -1,000.00 floor on 2008-11-07 03:30 (interval end).
    prices = [
        orjson.loads(m.value or b"") for m in read_aemo(DATA / "DATA200811_SA1.csv") if m.kind is Kind.PRICES
    ]
    floor = [p for p in prices if p["interval_start"] == "2008-11-07T03:00:00+10:00"]
    assert floor and floor[0]["lmp"] == -1000.0


def test_blank_price_is_skipped_and_counted(tmp_path: Path) -> None:
    lines = JAN_2008.read_text().splitlines()
    region, end, demand, _rrp, period = lines[1].split(",")
    path = tmp_path / "blank.csv"
    path.write_text("\n".join([lines[0], f"{region},{end},{demand},,{period}", lines[2]]) + "\n")
    stats = FeedStats()
    kinds = [m.kind for m in read_aemo(path, stats)]
    assert kinds == [Kind.LOAD, Kind.PRICES, Kind.LOAD]
    assert stats.skipped == {"blank_value": 1}


def test_wrong_header_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("Datetime,EKPC_MW\n31-12-2013 01:00,1861\n")
    with pytest.raises(FeedError, match="not an AEMO"):
        list(read_aemo(path))
