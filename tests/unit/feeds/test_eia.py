from datetime import date
from pathlib import Path

import orjson
import pytest

from streamer.errors import FeedError
from streamer.feeds.base import FeedStats
from streamer.feeds.eia import read_eia
from streamer.topics import Kind

FILE = Path(__file__).parents[3] / "data" / "eia_henry_hub" / "Henry_Hub_Natural_Gas_Spot_Price_daily.csv"


@pytest.fixture(scope="module")
def henry() -> tuple[list[dict[str, object]], FeedStats]:
    stats = FeedStats()
    messages = list(read_eia(FILE, stats))
    assert {m.key for m in messages} == {b"EIA:HENRY"} and {m.kind for m in messages} == {Kind.GAS}
    return [orjson.loads(m.value or b"") for m in messages], stats


def test_counts_and_the_blank_row(henry: tuple[list[dict[str, object]], FeedStats]) -> None:
    rows, stats = henry
    assert stats.rows_read == 7_253
    assert stats.emitted == {Kind.GAS: 7_252}
    assert stats.skipped == {"blank_value": 1}
    assert "2018-01-05" not in {r["trade_date"] for r in rows}  # "01/5/2018," is blank, never null
    assert all(isinstance(r["price"], float) for r in rows)


def test_oldest_first_with_iso_dates(henry: tuple[list[dict[str, object]], FeedStats]) -> None:
    rows, _ = henry
    assert rows[0] == {
        "market": "EIA",
        "hub": "HENRY",
        "trade_date": "1997-01-07",
        "price": 3.82,
        "unit": "USD/MMBtu",
        "version": 1,
        "source": "eia",
    }
    assert rows[-1]["trade_date"] == "2025-11-17"
    dates = [str(r["trade_date"]) for r in rows]
    assert dates == sorted(dates)


def test_winter_storm_uri_and_the_15_day_gap(henry: tuple[list[dict[str, object]], FeedStats]) -> None:
    rows, _ = henry
    by_date = {str(r["trade_date"]): r["price"] for r in rows}
    assert by_date["2021-02-17"] == 23.86
    dates = [date.fromisoformat(d) for d in by_date]
    i = dates.index(date(2005, 9, 22))
    assert dates[i + 1] == date(2005, 10, 7)


def test_timestamp_is_trade_date_midnight_utc() -> None:
    first = next(iter(read_eia(FILE)))
    assert first.timestamp_ms == 852595200000  # 1997-01-07T00:00:00Z


def test_file_without_preamble_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "gas.csv"
    path.write_text("Day,Henry Hub\n11/17/2025,3.71\n")
    with pytest.raises(FeedError, match="not an EIA"):
        list(read_eia(path))
