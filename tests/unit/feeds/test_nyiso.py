from pathlib import Path

import orjson
import pytest

from streamer.errors import FeedError
from streamer.feeds.base import FeedStats
from streamer.feeds.nyiso import read_nyiso
from streamer.topics import Kind

FILE = Path(__file__).parents[3] / "data" / "pyiso" / "nyiso_lmp.csv"


def _rows(path: Path, stats: FeedStats | None = None) -> list[dict[str, object]]:
    return [orjson.loads(m.value or b"") for m in read_nyiso(path, stats)]


def test_real_file_counts_cadence_and_interval_start() -> None:
    stats = FeedStats()
    messages = list(read_nyiso(FILE, stats))
    assert stats.rows_read == 45 and stats.emitted == {Kind.PRICES: 45} and not stats.skipped
    rows = [orjson.loads(m.value or b"") for m in messages]
    assert {r["interval_minutes"] for r in rows} == {15}  # stamps 00:15, 00:30, 00:45
    # Stamps mark interval ends: "02/18/2016 00:15:00" is 00:00-00:15 EST.
    assert {r["interval_start"] for r in rows} == {
        "2016-02-18T00:00:00-05:00",
        "2016-02-18T00:15:00-05:00",
        "2016-02-18T00:30:00-05:00",
    }
    assert messages[0].timestamp_ms == 1455771600000  # 2016-02-18T05:00:00Z
    times = [m.timestamp_ms or 0 for m in messages]
    assert times == sorted(times)
    assert len({(m.key, m.timestamp_ms) for m in messages}) == 45


def test_first_row_message() -> None:
    # "02/18/2016 00:15:00","CAPITL",61757,21.53,1.69,0.00
    first = _rows(FILE)[0]
    assert first == {
        "market": "NYISO",
        "node": "CAPITL",
        "interval_start": "2016-02-18T00:00:00-05:00",
        "interval_minutes": 15,
        "lmp": 21.53,
        "energy": 19.84,
        "congestion": 0.0,
        "loss": 1.69,
        "currency": "USD",
        "version": 1,
        "source": "nyiso-rt",
        "ptid": 61757,
    }


def test_identity_holds_to_the_cent_and_zero_congestion_is_not_negative() -> None:
    for row in _rows(FILE):
        lmp, energy, congestion, loss = (float(str(row[k])) for k in ("lmp", "energy", "congestion", "loss"))
        assert abs(lmp - (energy + congestion + loss)) < 1e-9
        assert str(congestion) == "0.0"  # a negated 0.00 must not become -0.0


def test_published_congestion_sign_is_inverted(tmp_path: Path) -> None:
    # The shipped file has only 0.00 congestion; take its real header and first row and publish 3.21.
    lines = FILE.read_text().splitlines()
    path = tmp_path / "nyiso_lmp.csv"
    path.write_text("\n".join(["", lines[1], lines[2].replace(",0.00", ",3.21")]) + "\n")
    (row,) = _rows(path)
    assert row["lmp"] == 21.53 and row["loss"] == 1.69
    assert row["congestion"] == -3.21
    assert row["energy"] == 23.05  # 21.53 - 1.69 - (-3.21)
    assert row["interval_minutes"] == 5  # one stamp: the 5-minute real-time cadence


def test_bad_header_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "nyiso_lmp.csv"
    path.write_text('"Time Stamp","Name","LBMP ($/MWHr)"\n')
    with pytest.raises(FeedError, match="not a NYISO"):
        list(read_nyiso(path))
