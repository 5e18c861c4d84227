"""The read-only commands: ``stats`` and ``show``. They read up to the end offsets at their start,
join no group and commit nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streamer.admin import existing_topics
from streamer.dlqtool.filters import Filters
from streamer.dlqtool.reader import DlqReader
from streamer.dlqtool.record import DlqRecord
from streamer.dlqtool.stats import DlqStats
from streamer.errors import TopicMissingError
from streamer.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["read_audit_totals", "read_records", "read_stats"]

Progress = Callable[[int, int], None]


async def read_stats(
    bootstrap: str,
    topic: str,
    filters: Filters,
    bucket_ms: int,
    progress: Progress | None = None,
    *,
    security: KafkaSecurity = PLAINTEXT,
) -> DlqStats:
    stats = DlqStats(bucket_ms=bucket_ms)
    seen = 0
    async with DlqReader(bootstrap, topic, security) as reader:
        ends = await reader.end_offsets()
        total = sum(
            max(0, end - filters.start_offset(p)) for p, end in ends.items() if filters.wants_partition(p)
        )
        start = {p: filters.start_offset(p) if filters.wants_partition(p) else ends[p] for p in ends}
        async for batch in reader.batches(start, ends):
            for record in batch:
                if filters.matches(record):
                    stats.add(record)
            seen += len(batch)
            if progress is not None:
                progress(seen, total)
    return stats


async def read_records(
    bootstrap: str, topic: str, filters: Filters, limit: int | None, *, security: KafkaSecurity = PLAINTEXT
) -> list[DlqRecord]:
    """Matching records in partition/offset order, at most ``limit`` (memory: ``limit`` per partition)."""
    found: dict[int, list[DlqRecord]] = {}
    async with DlqReader(bootstrap, topic, security) as reader:
        ends = await reader.end_offsets()
        start = {p: filters.start_offset(p) if filters.wants_partition(p) else ends[p] for p in ends}
        async for batch in reader.batches(start, ends):
            for record in batch:
                kept = found.setdefault(record.partition, [])
                if (limit is None or len(kept) < limit) and filters.matches(record):
                    kept.append(record)
    ordered = [r for p in sorted(found) for r in sorted(found[p], key=lambda r: r.offset)]
    return ordered if limit is None else ordered[:limit]


async def read_audit_totals(
    bootstrap: str, audit_topic: str, *, security: KafkaSecurity = PLAINTEXT
) -> dict[str, Any] | None:
    """Replay runs and records replayed according to ``dlq.audit``; None when there is no such topic."""
    if audit_topic not in await existing_topics(bootstrap, security):
        return None
    runs = replayed = 0
    last: str | None = None
    try:
        async with DlqReader(bootstrap, audit_topic, security) as reader:
            async for batch in reader.batches({}):
                for record in batch:
                    try:
                        entry = orjson.loads(record.value or b"")
                    except orjson.JSONDecodeError:
                        continue
                    runs += 1
                    replayed += int(entry.get("counts", {}).get("replayed", 0))
                    last = max(last or "", str(entry.get("finished", "")))
    except TopicMissingError:
        return None
    return {"replay_runs": runs, "records_replayed": replayed, "last_run_finished": last}
