"""What replay does with one DLQ record, and the record it re-publishes. Pure: no Kafka here.

Order of checks: the filters (``filtered_out``), the loop guard (``loop_guard``: the record was
already replayed ``max_replays`` times), a known origin or ``--to`` (``no_origin``), then the
transform (``transform_skip`` when it returns None). Every record a run reads counts as processed,
whatever the decision, so its offset is committed and the next run does not see it again.

The re-published record keeps key, value (or the transformed value), timestamp and the original
headers. It drops the error envelope and sets ``streamer.replay_count`` to the previous count + 1
and ``streamer.replay_id`` to the run's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from streamer.dlq import (
    H_DETAIL,
    H_EXCEPTION,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_REPLAY_COUNT,
    H_REPLAY_ID,
    H_SCHEMA_VERSION,
    H_TOPIC,
    Headers,
)
from streamer.dlqtool.filters import Filters
from streamer.dlqtool.record import DlqRecord

__all__ = ["Decision", "Outcome", "ReplayCounts", "Republish", "Transform", "decide", "replay_headers"]

Transform = Callable[[bytes], bytes | None]

# The envelope, including its schema version: a replayed message is a raw message again.
_DROPPED = frozenset(
    {
        H_EXCEPTION,
        H_MESSAGE,
        H_TOPIC,
        H_PARTITION,
        H_OFFSET,
        H_REASON,
        H_DETAIL,
        H_REPLAY_COUNT,
        H_REPLAY_ID,
        H_SCHEMA_VERSION,
    }
)


class Outcome(StrEnum):
    REPLAY = "replayed"
    FILTERED_OUT = "filtered_out"
    LOOP_GUARD = "loop_guard"
    NO_ORIGIN = "no_origin"
    TRANSFORM_SKIP = "transform_skip"


@dataclass(frozen=True, slots=True)
class Republish:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    republish: Republish | None = None


@dataclass(slots=True)
class ReplayCounts:
    """Per-outcome counts, plus the DLQ positions of the records a user must hear about."""

    counts: Counter[str] = field(default_factory=Counter)
    replayed_reasons: Counter[str] = field(default_factory=Counter)
    loop_guard: list[str] = field(default_factory=list)
    transform_skips: list[str] = field(default_factory=list)
    no_origin: list[str] = field(default_factory=list)

    def add(self, record: DlqRecord, decision: Decision) -> None:
        self.counts[decision.outcome.value] += 1
        where = f"[{record.partition}]@{record.offset}"
        if decision.outcome is Outcome.REPLAY:
            self.replayed_reasons[record.letter.reason] += 1
        elif decision.outcome is Outcome.LOOP_GUARD:
            self.loop_guard.append(where)
        elif decision.outcome is Outcome.TRANSFORM_SKIP:
            self.transform_skips.append(where)
        elif decision.outcome is Outcome.NO_ORIGIN:
            self.no_origin.append(where)

    @property
    def replayed(self) -> int:
        return self.counts[Outcome.REPLAY.value]

    @property
    def examined(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "examined": self.examined,
            **{outcome.value: self.counts[outcome.value] for outcome in Outcome},
            "replayed_by_reason": dict(self.replayed_reasons.most_common()),
            "loop_guard_records": self.loop_guard,
            "transform_skip_records": self.transform_skips,
            "no_origin_records": self.no_origin,
        }


def replay_headers(headers: Headers, previous_count: int, replay_id: str) -> list[tuple[str, bytes]]:
    """Original headers minus the error envelope, plus the incremented count and this run's id."""
    kept = [(k, v) for k, v in headers if k not in _DROPPED]
    return [*kept, (H_REPLAY_COUNT, str(previous_count + 1).encode()), (H_REPLAY_ID, replay_id.encode())]


def decide(
    record: DlqRecord,
    filters: Filters,
    *,
    max_replays: int,
    replay_id: str,
    to_topic: str | None = None,
    transform: Transform | None = None,
) -> Decision:
    """The fate of one record; calls ``transform`` only for a record that would be replayed."""
    if not filters.matches(record):
        return Decision(Outcome.FILTERED_OUT)
    if record.letter.replay_count >= max_replays:
        return Decision(Outcome.LOOP_GUARD)
    topic = to_topic or record.origin_topic
    if not topic:
        return Decision(Outcome.NO_ORIGIN)
    value = record.value
    if transform is not None and value is not None:
        value = transform(value)
        if value is None:
            return Decision(Outcome.TRANSFORM_SKIP)
        if not isinstance(value, bytes):
            raise TypeError(f"the transform returned {type(value).__name__}, not bytes or None")
    headers = replay_headers(record.headers, record.letter.replay_count, replay_id)
    return Decision(Outcome.REPLAY, Republish(topic, record.key, value, headers, record.timestamp_ms))
