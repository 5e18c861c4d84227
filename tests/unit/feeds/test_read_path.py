from pathlib import Path

import pytest

from streamer.errors import FeedError
from streamer.feeds import FORMATS, FeedStats, files_for, read_path
from streamer.topics import Kind

DATA = Path(__file__).parents[3] / "data"


def test_formats() -> None:
    assert set(FORMATS) == {"aemo", "pjm-load", "eia", "nyiso"}


def test_directory_reads_matching_files_in_name_order() -> None:
    assert [p.name for p in files_for(DATA / "pyiso", "nyiso")] == ["nyiso_lmp.csv"]  # not the *pal.csv load
    files = files_for(DATA / "aemo_sa1", "aemo")
    assert len(files) == 24 and files == sorted(files)


def test_directory_of_aemo_months_is_one_ordered_series(tmp_path: Path) -> None:
    for name in ("DATA200901_SA1.csv", "DATA200812_SA1.csv"):  # across the year boundary
        (tmp_path / name).write_bytes((DATA / "aemo_sa1" / name).read_bytes())
    stats = FeedStats()
    messages = list(read_path(tmp_path, "aemo", stats))
    times = [m.timestamp_ms or 0 for m in messages if m.kind is Kind.PRICES]
    assert stats.rows_read == len(times) == 62 * 48
    assert stats.emitted == {Kind.PRICES: 62 * 48, Kind.LOAD: 62 * 48}
    assert times == sorted(times) and len(set(times)) == len(times)


def test_unknown_format_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="unknown format"):
        files_for(DATA / "pyiso", "csv")
    with pytest.raises(FeedError, match="no such file"):
        files_for(tmp_path / "nope.csv", "eia")
    with pytest.raises(FeedError, match=r"no \*lmp\*\.csv files"):
        files_for(tmp_path, "nyiso")


def test_unreadable_bytes_are_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "DATA_SA1.csv"
    path.write_bytes(b"REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\n\xff\xfe\n")
    with pytest.raises(FeedError, match="cannot read"):
        list(read_path(path, "aemo"))
