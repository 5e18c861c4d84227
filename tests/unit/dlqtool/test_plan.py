from __future__ import annotations

import pytest

from streamer.dlq import H_REPLAY_COUNT, H_REPLAY_ID, Origin, dead_letter_headers, header_value
from streamer.dlqtool.filters import Filters
from streamer.dlqtool.plan import Outcome, ReplayCounts, decide, replay_headers
from streamer.dlqtool.record import DlqRecord

ORIGINAL = [("trace-id", b"t-1"), ("bin", b"\x00\xff")]


def _record(replay_count: int = 0, value: bytes | None = b'{"lmp": 1}', origin: bool = True) -> DlqRecord:
    original = [*ORIGINAL, (H_REPLAY_COUNT, str(replay_count).encode())] if replay_count else ORIGINAL
    headers = dead_letter_headers(
        original, reason="out_of_band", detail="too high", origin=Origin("raw.prices", 2, 7)
    )
    if not origin:
        headers = [(k, v) for k, v in headers if not k.startswith("__streams.errors.")]
    return DlqRecord.of(1, 40, 1_700_000_000_123, b"PJM:X", value, headers)


def test_replayed_record_keeps_key_value_timestamp_and_original_headers() -> None:
    record = _record()
    decision = decide(record, Filters(), max_replays=3, replay_id="run-1")
    assert decision.outcome is Outcome.REPLAY
    out = decision.republish
    assert out is not None
    assert (out.topic, out.key, out.value, out.timestamp_ms) == (
        "raw.prices",
        b"PJM:X",
        b'{"lmp": 1}',
        1_700_000_000_123,
    )
    assert out.headers == [*ORIGINAL, (H_REPLAY_COUNT, b"1"), (H_REPLAY_ID, b"run-1")]


def test_replay_count_increments_and_old_replay_id_is_replaced() -> None:
    headers = [*ORIGINAL, (H_REPLAY_COUNT, b"2"), (H_REPLAY_ID, b"old"), ("streamer.reason", b"x")]
    out = replay_headers(headers, 2, "new")
    assert header_value(out, H_REPLAY_COUNT) == b"3"
    assert [v for k, v in out if k == H_REPLAY_ID] == [b"new"]
    assert [v for k, v in out if k == H_REPLAY_COUNT] == [b"3"]
    assert header_value(out, "streamer.reason") is None


def test_to_topic_overrides_origin() -> None:
    decision = decide(_record(), Filters(), max_replays=3, replay_id="r", to_topic="fixed.prices")
    assert decision.republish is not None and decision.republish.topic == "fixed.prices"


@pytest.mark.parametrize(
    ("count", "outcome"), [(0, Outcome.REPLAY), (2, Outcome.REPLAY), (3, Outcome.LOOP_GUARD)]
)
def test_loop_guard(count: int, outcome: Outcome) -> None:
    assert decide(_record(count), Filters(), max_replays=3, replay_id="r").outcome is outcome


def test_filters_come_before_loop_guard() -> None:
    decision = decide(_record(5), Filters(reasons=frozenset({"not_json"})), max_replays=3, replay_id="r")
    assert decision.outcome is Outcome.FILTERED_OUT


def test_no_origin_without_to() -> None:
    assert decide(_record(origin=False), Filters(), max_replays=3, replay_id="r").outcome is Outcome.NO_ORIGIN
    with_to = decide(_record(origin=False), Filters(), max_replays=3, replay_id="r", to_topic="t")
    assert with_to.outcome is Outcome.REPLAY


def test_transform_replaces_value_or_skips() -> None:
    seen: list[bytes] = []

    def fix(value: bytes) -> bytes | None:
        seen.append(value)
        return None if b"skip" in value else value.replace(b"1", b"2")

    fixed = decide(_record(), Filters(), max_replays=3, replay_id="r", transform=fix)
    assert fixed.republish is not None and fixed.republish.value == b'{"lmp": 2}'
    skipped = decide(_record(value=b"skip"), Filters(), max_replays=3, replay_id="r", transform=fix)
    assert skipped.outcome is Outcome.TRANSFORM_SKIP and skipped.republish is None
    guarded = decide(_record(3), Filters(), max_replays=3, replay_id="r", transform=fix)
    assert guarded.outcome is Outcome.LOOP_GUARD
    assert seen == [b'{"lmp": 1}', b"skip"]  # not called for a record the loop guard stops


def test_transform_must_return_bytes() -> None:
    with pytest.raises(TypeError):
        decide(_record(), Filters(), max_replays=3, replay_id="r", transform=lambda v: "text")  # type: ignore[arg-type,return-value]


def test_counts_report_positions() -> None:
    counts = ReplayCounts()
    for record in (_record(), _record(3), _record(origin=False)):
        counts.add(record, decide(record, Filters(), max_replays=3, replay_id="r"))
    d = counts.to_dict()
    assert (d["examined"], d["replayed"], d["loop_guard"], d["no_origin"]) == (3, 1, 1, 1)
    assert d["loop_guard_records"] == ["[1]@40"]
    assert d["replayed_by_reason"] == {"out_of_band": 1}
