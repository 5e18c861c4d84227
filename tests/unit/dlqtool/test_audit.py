from __future__ import annotations

import orjson

from streamer.dlqtool.audit import AuditEntry, who


def test_audit_record_names_who_when_what() -> None:
    entry = AuditEntry(
        replay_id="r-1",
        user="ana",
        host="ops-1",
        started_ms=1_700_000_000_000,
        finished_ms=1_700_000_001_500,
        dlq_topic="dlq",
        group_id="streamer-dlq-replay.abc",
        filters={"reason": ["out_of_band"]},
        target=None,
        options={"max_replays": 3},
        counts={"replayed": 4},
        status="completed",
    )
    d = orjson.loads(entry.to_bytes())
    assert d["action"] == "replay"
    assert (d["user"], d["host"]) == ("ana", "ops-1")
    assert d["started"] == "2023-11-14T22:13:20.000+00:00"
    assert d["finished"] == "2023-11-14T22:13:21.500+00:00"
    assert d["target"] == "origin topic"
    assert d["counts"] == {"replayed": 4}


def test_who_names_someone() -> None:
    user, host = who()
    assert user and host
