"""Which DLQ records a command looks at: reason, origin topic, time range and DLQ offsets.

Time filters apply to the DLQ record's timestamp, which is the original message's timestamp
(the envelope keeps it). ``since`` is inclusive, ``until`` exclusive. They accept ISO 8601 with an
explicit offset (``2024-07-01T14:00:00+02:00``, ``...Z``) or a duration before now (``90s``,
``30m``, ``2h``, ``1d``, ``1w``). A naive ISO timestamp is refused, as everywhere in streamer.

The replay consumer group is derived from the DLQ topic, the filters and the target topic, so the
same command line always resumes the same progress. Relative times enter that identity as written
(``2h``), absolute ones as epoch milliseconds, so a repeated ``--since 2h`` keeps its group.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from streamer.dlqtool.record import DlqRecord

__all__ = ["Filters", "OffsetStart", "TimeBound", "parse_offset", "parse_when", "replay_group_id"]

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


@dataclass(frozen=True, slots=True)
class TimeBound:
    """A resolved instant plus how the user wrote it (the part that identifies a replay group)."""

    ms: int
    identity: str


@dataclass(frozen=True, slots=True)
class OffsetStart:
    """Start at ``offset`` in ``partition``, or in every partition when ``partition`` is None."""

    offset: int
    partition: int | None = None

    def __str__(self) -> str:
        return f"{self.offset}" if self.partition is None else f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class Filters:
    reasons: frozenset[str] = field(default_factory=frozenset)
    topics: frozenset[str] = field(default_factory=frozenset)
    since: TimeBound | None = None
    until: TimeBound | None = None
    offset: OffsetStart | None = None

    def wants_partition(self, partition: int) -> bool:
        return self.offset is None or self.offset.partition is None or self.offset.partition == partition

    def start_offset(self, partition: int) -> int:
        """The first DLQ offset of ``partition`` the filters can match."""
        return self.offset.offset if self.offset is not None and self.wants_partition(partition) else 0

    def matches(self, record: DlqRecord) -> bool:
        if not self.wants_partition(record.partition) or record.offset < self.start_offset(record.partition):
            return False
        if self.reasons and record.letter.reason not in self.reasons:
            return False
        if self.topics and record.origin_topic not in self.topics:
            return False
        if self.since is not None and record.timestamp_ms < self.since.ms:
            return False
        return not (self.until is not None and record.timestamp_ms >= self.until.ms)

    def identity(self) -> dict[str, object]:
        """The filters as stable JSON-ready data (sorted, as written for relative times)."""
        return {
            "reason": sorted(self.reasons),
            "topic": sorted(self.topics),
            "since": self.since.identity if self.since is not None else None,
            "until": self.until.identity if self.until is not None else None,
            "offset": str(self.offset) if self.offset is not None else None,
        }


def parse_when(text: str, now_ms: int) -> TimeBound:
    """ISO 8601 with an offset, or a duration before ``now_ms``. Raises ValueError."""
    spec = text.strip()
    relative = _RELATIVE.match(spec.lower())
    if relative is not None:
        amount, unit = relative.groups()
        return TimeBound(now_ms - int(amount) * _UNIT_MS[unit], f"{amount}{unit}")
    try:
        when = datetime.fromisoformat(spec)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither ISO 8601 (with an offset) nor a duration like 30m, 2h, 1d"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. {spec}+00:00 or {spec}Z")
    ms = int(when.timestamp() * 1000)
    return TimeBound(ms, str(ms))


def parse_offset(text: str) -> OffsetStart:
    """``N`` (every partition from offset N) or ``P:N`` (partition P only, from N). Raises ValueError."""
    partition_s, sep, offset_s = text.strip().rpartition(":")
    if not offset_s.isdigit() or (sep and not partition_s.isdigit()):
        raise ValueError(f"{text!r} is not OFFSET or PARTITION:OFFSET (non-negative integers)")
    return OffsetStart(int(offset_s), int(partition_s) if sep else None)


def replay_group_id(dlq_topic: str, filters: Filters, to_topic: str | None) -> str:
    """``streamer-dlq-replay.<hash>``: the same DLQ, filters and target always give the same group."""
    identity = {"dlq": dlq_topic, "filters": filters.identity(), "to": to_topic}
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"streamer-dlq-replay.{digest[:16]}"
