"""Counts over DLQ records: by reason, origin topic, time bucket and replay count. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamer.dlqtool.record import DlqRecord, iso_ms

__all__ = ["DlqStats"]


@dataclass(frozen=True, slots=True)
class _Point:
    timestamp_ms: int
    partition: int
    offset: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": iso_ms(self.timestamp_ms),
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
        }


@dataclass(slots=True)
class DlqStats:
    """Feed records with :meth:`add`; buckets are epoch-aligned windows of ``bucket_ms``."""

    bucket_ms: int = 3_600_000
    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[int] = field(default_factory=Counter)
    by_replay_count: Counter[int] = field(default_factory=Counter)
    by_partition: Counter[int] = field(default_factory=Counter)
    oldest: _Point | None = None
    newest: _Point | None = None

    def add(self, record: DlqRecord) -> None:
        self.total += 1
        self.by_reason[record.letter.reason] += 1
        self.by_topic[record.origin_topic or "unknown"] += 1
        self.by_bucket[record.timestamp_ms - record.timestamp_ms % self.bucket_ms] += 1
        self.by_replay_count[record.letter.replay_count] += 1
        self.by_partition[record.partition] += 1
        point = _Point(record.timestamp_ms, record.partition, record.offset, record.letter.reason)
        if self.oldest is None or point.timestamp_ms < self.oldest.timestamp_ms:
            self.oldest = point
        if self.newest is None or point.timestamp_ms >= self.newest.timestamp_ms:
            self.newest = point

    @property
    def replayed(self) -> int:
        """Records that failed again after at least one replay."""
        return sum(n for count, n in self.by_replay_count.items() if count > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_reason": dict(self.by_reason.most_common()),
            "by_topic": dict(self.by_topic.most_common()),
            "bucket_ms": self.bucket_ms,
            "by_bucket": {iso_ms(start): n for start, n in sorted(self.by_bucket.items())},
            "by_partition": {str(p): n for p, n in sorted(self.by_partition.items())},
            "oldest": self.oldest.to_dict() if self.oldest is not None else None,
            "newest": self.newest.to_dict() if self.newest is not None else None,
            "replayed_records": self.replayed,
            "by_replay_count": {str(c): n for c, n in sorted(self.by_replay_count.items())},
        }
