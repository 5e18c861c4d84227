from __future__ import annotations

from streamer.dlq import H_REPLAY_COUNT, Origin, dead_letter_headers
from streamer.dlqtool.record import DlqRecord, payload_text
from streamer.dlqtool.stats import DlqStats

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS


def _record(offset: int, ts: int, reason: str, topic: str, replays: int = 0) -> DlqRecord:
    original = [(H_REPLAY_COUNT, str(replays).encode())] if replays else []
    headers = dead_letter_headers(original, reason=reason, detail="", origin=Origin(topic, 0, offset))
    return DlqRecord.of(offset % 2, offset, ts, None, b"x", headers)


def test_counts_buckets_oldest_newest_and_replays() -> None:
    stats = DlqStats(bucket_ms=HOUR_MS)
    rows = [
        (0, T0 + 10, "out_of_band", "raw.prices", 0),
        (1, T0 + HOUR_MS - 1, "not_json", "raw.prices", 1),
        (2, T0 + HOUR_MS, "out_of_band", "raw.load", 0),
        (3, T0 - 5, "out_of_band", "raw.gas", 2),
    ]
    for row in rows:
        stats.add(_record(*row))
    d = stats.to_dict()
    assert d["total"] == 4
    assert d["by_reason"] == {"out_of_band": 3, "not_json": 1}
    assert d["by_topic"] == {"raw.prices": 2, "raw.load": 1, "raw.gas": 1}
    assert list(d["by_bucket"].values()) == [1, 2, 1]
    assert d["oldest"]["offset"] == 3 and d["newest"]["offset"] == 2
    assert d["replayed_records"] == 2
    assert d["by_replay_count"] == {"0": 2, "1": 1, "2": 1}


def test_empty_stats() -> None:
    d = DlqStats().to_dict()
    assert d["total"] == 0 and d["oldest"] is None and d["newest"] is None


def test_payload_text_or_hex() -> None:
    assert payload_text(b'{"a": "\xc3\xa9"}') == ("utf-8", '{"a": "é"}')
    assert payload_text(b"\xff\x00") == ("hex", "ff00")
    assert payload_text(None) == ("null", None)


def test_record_to_dict_decodes_headers() -> None:
    record = _record(4, T0, "not_utf8", "raw.prices")
    record = DlqRecord.of(0, 4, T0, b"\xfe", b"\xff", [*record.headers, ("bin", b"\x00\xff")])
    d = record.to_dict()
    assert d["key"] == "fe" and d["key_encoding"] == "hex"
    assert d["value"] == "ff" and d["value_encoding"] == "hex"
    assert ["streamer.reason", "not_utf8"] in d["headers"]
    assert ["bin", "00ff"] in d["headers"]
    assert d["origin"] == "raw.prices[0]@4"
