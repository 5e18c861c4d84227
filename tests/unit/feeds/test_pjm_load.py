from pathlib import Path

import orjson
import pytest

from streamer.errors import FeedError
from streamer.feeds.base import FeedStats
from streamer.feeds.pjm_load import read_pjm_load
from streamer.topics import Kind

DATA = Path(__file__).parents[3] / "data" / "pjm_hourly_kaggle"


Ekpc = tuple[list[dict[str, object]], list[int], FeedStats]


@pytest.fixture(scope="module")
def ekpc() -> Ekpc:
    stats = FeedStats()
    messages = list(read_pjm_load(DATA / "EKPC_hourly.csv", stats))
    assert {m.key for m in messages} == {b"PJM:EKPC"} and {m.kind for m in messages} == {Kind.LOAD}
    return [orjson.loads(m.value or b"") for m in messages], [m.timestamp_ms or 0 for m in messages], stats


def _by_start(rows: list[dict[str, object]], prefix: str) -> list[tuple[object, object]]:
    return [(r["interval_start"], r["mw"]) for r in rows if str(r["interval_start"]).startswith(prefix)]


def test_every_row_is_emitted_in_event_time_order(ekpc: Ekpc) -> None:
    rows, times, stats = ekpc
    assert stats.rows_read == 45_334
    assert stats.emitted == {Kind.LOAD: 45_334}
    assert times == sorted(times) and len(set(times)) == len(times)
    assert rows[0] == {
        "market": "PJM",
        "zone": "EKPC",
        "interval_start": "2013-06-01T00:00:00-04:00",
        "interval_minutes": 60,
        "mw": 1166.0,
        "version": 1,
        "source": "pjm-load",
    }


def test_hour_ending_stamp_becomes_interval_start(ekpc: Ekpc) -> None:
    # "31-12-2013 01:00,1861" is the hour 00:00-01:00 EST (the contract's example).
    rows, _, _ = ekpc
    assert ("2013-12-31T00:00:00-05:00", 1861.0) in _by_start(rows, "2013-12-31T00")


def test_autumn_repeated_hour_is_emitted_twice_with_distinct_offsets(ekpc: Ekpc) -> None:
    # "02-11-2014 02:00" appears twice (1554 then 1566): 01:00-02:00 EDT, then 01:00-02:00 EST.
    rows, times, _ = ekpc
    assert _by_start(rows, "2014-11-02T0")[:4] == [
        ("2014-11-02T00:00:00-04:00", 1589.0),
        ("2014-11-02T01:00:00-04:00", 1554.0),
        ("2014-11-02T01:00:00-05:00", 1566.0),
        ("2014-11-02T02:00:00-05:00", 1616.0),
    ]
    i = [r["interval_start"] for r in rows].index("2014-11-02T01:00:00-04:00")
    assert times[i + 1] - times[i] == 3_600_000


def test_2013_autumn_change_has_no_repeat_but_a_two_hour_hole(ekpc: Ekpc) -> None:
    # The file's first autumn (2013-11-03) has neither "02:00" row: both 01:00 hours are missing.
    rows, _, stats = ekpc
    assert _by_start(rows, "2013-11-03T0")[:3] == [
        ("2013-11-03T00:00:00-04:00", 1200.0),
        ("2013-11-03T02:00:00-05:00", 1160.0),
        ("2013-11-03T03:00:00-05:00", 1185.0),
    ]
    assert stats.skipped["missing_interval"] == 2


def test_spring_missing_hour_is_a_counted_gap_not_a_hole(ekpc: Ekpc) -> None:
    # 2014-03-09 has stamps 01:00, 02:00, 04:00: the hour 02:00-03:00 does not exist locally.
    rows, times, stats = ekpc
    day = _by_start(rows, "2014-03-09T0")
    assert [start for start, _ in day[:4]] == [
        "2014-03-09T00:00:00-05:00",
        "2014-03-09T01:00:00-05:00",
        "2014-03-09T03:00:00-04:00",
        "2014-03-09T04:00:00-04:00",
    ]
    i = [r["interval_start"] for r in rows].index("2014-03-09T01:00:00-05:00")
    assert times[i + 1] - times[i] == 3_600_000
    assert stats.skipped["dst_gap"] == 5  # springs 2014 to 2018


def test_deok_spring_gap_counted_per_file(tmp_path: Path) -> None:
    # DEOK 10-03-2013 has 01:00, 02:00, 04:00 and then 00:00 of the next day (hour 24).
    lines = (DATA / "DEOK_hourly.csv").read_text().splitlines()
    day = [line for line in lines if line.startswith("10-03-2013") or line.startswith("11-03-2013 00:00")]
    path = tmp_path / "DEOK_hourly.csv"
    path.write_text("\n".join([lines[0], *day]) + "\n")
    stats = FeedStats()
    rows = [orjson.loads(m.value or b"") for m in read_pjm_load(path, stats)]
    assert len(rows) == stats.rows_read == 24
    assert rows[-1]["interval_start"] == "2013-03-10T23:00:00-04:00"
    assert stats.skipped == {"dst_gap": 1}


def test_exact_duplicate_is_emitted_once_and_counted(tmp_path: Path) -> None:
    lines = (DATA / "EKPC_hourly.csv").read_text().splitlines()
    path = tmp_path / "X_hourly.csv"
    path.write_text("\n".join([lines[0], lines[1], lines[2], lines[1]]) + "\n")  # 31-12-2013 01:00 twice
    stats = FeedStats()
    rows = [orjson.loads(m.value or b"") for m in read_pjm_load(path, stats)]
    assert [r["interval_start"] for r in rows] == ["2013-12-31T00:00:00-05:00", "2013-12-31T01:00:00-05:00"]
    assert stats.skipped == {"duplicate": 1}


def test_bad_date_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "X_hourly.csv"
    path.write_text("Datetime,EKPC_MW\n2013-12-31 01:00,1861\n")
    with pytest.raises(FeedError, match="bad Datetime"):
        list(read_pjm_load(path))
