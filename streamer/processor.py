"""One batch of raw Kafka records in, the records to publish out. No Faust, no I/O.

This is where a message's fate is decided: validated and enriched, or dead-lettered with its
reason. The Faust layer (:mod:`streamer.pipeline`) only feeds batches in and sends what comes out.
Nothing here raises for a bad message: a bug while handling one record turns that record into a
``processing_error`` dead letter and the batch goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.detectors import DetectorConfig
from streamer.detectors.base import Anomaly
from streamer.dlq import Headers, Origin, dead_letter_headers
from streamer.enrichment import PartitionState
from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.revisions import REDELIVERY, REVISION, RevisionTracker, state_key
from streamer.topics import Kind, TopicNames
from streamer.validation import Accepted, Rejected, validate
from streamer.windows import ClosedBar, WindowSpec
from streamer.windows.aggregates import utc_offset_min

__all__ = ["BatchResult", "InMessage", "OutMessage", "Processor", "StateLoader", "partition_state_key"]

log = logging.getLogger(__name__)

StateLoader = Callable[[str], bytes | None]
_STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class InMessage:
    """A consumed record, exactly as the broker gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None

    @property
    def origin(self) -> Origin:
        return Origin(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None
    source_partition: int
    outcome: str = "enriched"  # "enriched", a reject reason (DLQ), or "bar", "late", "anomaly"
    source_topic: str = ""  # the raw topic of a primary output


@dataclass(frozen=True, slots=True)
class BatchResult:
    """``primary``: one output per input, in input order (enriched or DLQ), except for the ``skipped``
    inputs that were processed before; ``derived``: bars, late contributions and anomalies the batch
    produced."""

    primary: list[OutMessage]
    derived: list[OutMessage]
    skipped: int = 0

    @property
    def outputs(self) -> list[OutMessage]:
        return self.primary + self.derived


def partition_state_key(kind: Kind, partition: int) -> str:
    """The table key of a raw topic-partition's watermark and key list."""
    return f"__partition__/{kind.value}/{partition}"


@dataclass(slots=True)
class Processor:
    """Validates, de-duplicates revisions, windows, detects and enriches; dead-letters everything else.

    State lives in memory and is persisted by the caller, per batch, through :meth:`take_dirty_state`: one
    table entry per series (``kind/key``: revisions, open windows and detector state together, so they are
    written atomically and a crash cannot keep one without the other) and one per raw topic-partition
    (:func:`partition_state_key`). Entries are loaded lazily, a whole partition on its first event.
    """

    topics: TopicNames
    policy: ValidationPolicy
    clock_ms: Callable[[], int]
    revisions: RevisionTracker = field(default_factory=RevisionTracker)
    load_state: StateLoader | None = None
    window_specs: tuple[WindowSpec, ...] = ()
    grace_ms: int = 10 * 60 * 1000
    detectors_enabled: bool = True
    detector_config: DetectorConfig | None = None
    stale_clock: str = "event"
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _loaded_keys: set[str] = field(default_factory=set)
    _partitions: dict[tuple[Kind, int], PartitionState] = field(default_factory=dict)
    _dirty_keys: dict[str, tuple[Kind, int, str]] = field(default_factory=dict)
    _dirty_partitions: set[tuple[Kind, int]] = field(default_factory=set)
    _reset_pending: bool = False

    def process(self, batch: Sequence[InMessage]) -> BatchResult:
        if self._reset_pending:
            self._reset()
        now_ms = self.clock_ms()
        primary: list[OutMessage] = []
        derived: list[OutMessage] = []
        touched: set[tuple[Kind, int]] = set()
        skipped = 0
        for msg in batch:
            kind = self.topics.kind_of_raw(msg.topic)
            part = None if kind is None else self._partition(kind, msg.partition)
            if part is not None and part.next_offset is not None and msg.offset < part.next_offset:
                # Consumed again (a crash or rebalance before the commit) after its outputs were acknowledged
                # and its state persisted: everything it produced is already in Kafka.
                skipped += 1
                continue
            try:
                result = self._one(msg, now_ms, derived, touched)
            except Exception as exc:  # a bug: dead-letter this record, keep the partition moving
                log.exception("processing %s failed", msg.origin)
                result = self._dead_letter(
                    msg,
                    Reason.PROCESSING_ERROR,
                    f"{type(exc).__name__}: {exc}",
                    exception=f"{type(exc).__module__}.{type(exc).__qualname__}",
                )
            if part is not None and kind is not None:
                part.next_offset = msg.offset + 1
                self._dirty_partitions.add((kind, msg.partition))
            self.counts[(msg.topic, result.outcome)] += 1
            primary.append(result)
        for kind, partition in sorted(touched):
            part = self._partitions[(kind, partition)]
            for bar in part.close_ready():
                self._mark_dirty(kind, partition, bar.key)
                derived.append(self._bar(kind, partition, bar))
            if self.stale_clock == "event":
                derived.extend(self._tick_partition(part, now_ms))
        return BatchResult(primary, derived, skipped)

    def tick(self, wall_ms: int | None = None) -> list[OutMessage]:
        """The stale-feed timer: tick every partition's detectors with its clock (see
        :mod:`streamer.enrichment`). Anomalies have no triggering record (origin null)."""
        now_ms = self.clock_ms() if wall_ms is None else wall_ms
        out: list[OutMessage] = []
        for part in list(self._partitions.values()):
            out.extend(self._tick_partition(part, now_ms))
        return out

    def _tick_partition(self, part: PartitionState, wall_ms: int) -> list[OutMessage]:
        now_ms = part.clock_ms(self.stale_clock, wall_ms)
        if now_ms is None:
            return []
        out = []
        for anomaly in part.tick(now_ms):
            self._mark_dirty(part.kind, part.partition, anomaly.key)
            record = anomaly.to_record(wall_ms)
            record["kind"] = part.kind.value
            record["windows"] = []
            out.append(
                self._derived(
                    self.topics.anomalies, anomaly.key, record, anomaly.event_ms, part.partition, "anomaly"
                )
            )
        return out

    def _one(
        self, msg: InMessage, now_ms: int, derived: list[OutMessage], touched: set[tuple[Kind, int]]
    ) -> OutMessage:
        kind = self.topics.kind_of_raw(msg.topic)
        if kind is None:
            return self._dead_letter(msg, Reason.UNKNOWN_TOPIC, f"no schema for topic {msg.topic!r}")
        verdict = validate(msg.value, kind, self.policy, now_ms)
        if isinstance(verdict, Rejected):
            return self._dead_letter(msg, verdict.reason, verdict.detail)
        assert msg.value is not None  # validate() accepts only non-empty bytes
        part = self._partition(kind, msg.partition)
        tracker_key = state_key(verdict)
        self._ensure_loaded(tracker_key, part)
        origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        consumed_at = f"{msg.topic}/{msg.partition}/{msg.offset}"
        seen = self.revisions.classify(verdict, consumed_at)
        if isinstance(seen, Rejected):
            return self._dead_letter(msg, seen.reason, seen.detail)
        if seen == REDELIVERY:
            # Our own re-delivery of a record whose effects are already in the persisted state: publish it
            # again (at least once), change nothing.
            return self._enriched(msg, kind, verdict, origin, late=False, watermark_ms=part.watermark_ms)
        self.revisions.record(verdict, msg.value, consumed_at)
        self._mark_dirty(kind, msg.partition, verdict.key)
        if seen == REVISION:
            # The windows already hold the earlier version; adding this one would count the interval twice.
            # Its contribution goes to `late`, so no bar changes silently.
            windows, closed = part.windows_of(verdict.event_time_ms)
            reason = "window_closed" if windows and closed == len(windows) else "revision"
            late = self._late_record(kind, verdict, origin, reason, windows, part.watermark_ms)
            derived.append(self._late(msg, verdict, late))
            return self._enriched(msg, kind, verdict, origin, late=closed > 0, watermark_ms=part.watermark_ms)
        observed = part.observe(verdict.key, verdict.event_time_ms, verdict.interval_ms, verdict.record)
        touched.add((kind, msg.partition))
        windows = [
            {"window": name, "window_start_ms": start_ms, "window_end_ms": end_ms}
            for name, start_ms, end_ms in observed.added.accepted
        ]
        if observed.added.is_late:
            late_windows = [w.to_record() for w in observed.added.late]
            late = self._late_record(
                kind, verdict, origin, observed.added.late[0].reason, late_windows, observed.watermark_ms
            )
            derived.append(self._late(msg, verdict, late))
        offset_min = utc_offset_min(verdict.record)
        for anomaly in observed.anomalies:
            record = anomaly.to_record(now_ms, origin, offset_min)
            record["kind"] = kind.value
            record["windows"] = windows
            derived.append(
                self._derived(
                    self.topics.anomalies, verdict.key, record, anomaly.event_ms, msg.partition, "anomaly"
                )
            )
        return self._enriched(
            msg,
            kind,
            verdict,
            origin,
            late=observed.added.is_late,
            watermark_ms=observed.watermark_ms,
            windows=windows,
            anomalies=observed.anomalies,
        )

    def _late_record(
        self,
        kind: Kind,
        accepted: Accepted,
        origin: dict[str, Any],
        reason: str,
        windows: list[dict[str, Any]],
        watermark_ms: int | None,
    ) -> dict[str, Any]:
        return {
            "key": accepted.key,
            "kind": kind.value,
            "reason": reason,
            "event_time_ms": accepted.event_time_ms,
            "version": accepted.version,
            "watermark_ms": watermark_ms,
            "grace_ms": self.grace_ms,
            "windows": windows,
            "origin": origin,
            "record": accepted.record,
        }

    def _late(self, msg: InMessage, accepted: Accepted, late: dict[str, Any]) -> OutMessage:
        return self._derived(
            self.topics.late, accepted.key, late, accepted.event_time_ms, msg.partition, "late", msg.headers
        )

    def _partition(self, kind: Kind, partition: int) -> PartitionState:
        part = self._partitions.get((kind, partition))
        if part is not None:
            return part
        part = self._partitions[(kind, partition)] = PartitionState(
            kind, partition, self.window_specs, self.grace_ms, self.detector_config, self.detectors_enabled
        )
        if self.load_state is not None:
            data = self.load_state(partition_state_key(kind, partition))
            if data is not None:
                for key in part.load_partition(data):
                    self._ensure_loaded(f"{kind.value}/{key}", part)
        return part

    def _ensure_loaded(self, table_key: str, part: PartitionState) -> None:
        if table_key in self._loaded_keys:
            return
        self._loaded_keys.add(table_key)
        if self.load_state is None:
            return
        data = self.load_state(table_key)
        if data is None:
            return
        entry = orjson.loads(data)
        if entry.get("r") is not None:
            self.revisions.load_key(table_key, orjson.dumps(entry["r"]))
        part.load_key(table_key.partition("/")[2], entry)

    def _mark_dirty(self, kind: Kind, partition: int, key: str) -> None:
        self._dirty_keys[f"{kind.value}/{key}"] = (kind, partition, key)
        self._dirty_partitions.add((kind, partition))

    def forget_keys(self) -> None:
        """After a rebalance: drop in-memory state before the next batch and reload it from the table."""
        self._reset_pending = True

    def _reset(self) -> None:
        self._reset_pending = False
        self.revisions = RevisionTracker(self.revisions.horizon_ms)
        self._loaded_keys.clear()
        self._partitions.clear()
        self._dirty_keys.clear()
        self._dirty_partitions.clear()

    def take_dirty_state(self, partitions: Collection[int] | None = None) -> list[tuple[str, int, bytes]]:
        """``(table key, partition, state bytes)`` of every entry changed since the last call, so the
        caller writes each once per batch. With ``partitions``, only entries of those partitions are
        handed over (the caller can write a partition only while it holds an event of it); the rest stay
        dirty for a later batch."""
        changed: list[tuple[str, int, bytes]] = []
        for table_key, (kind, partition, key) in list(self._dirty_keys.items()):
            if partitions is not None and partition not in partitions:
                continue
            del self._dirty_keys[table_key]
            part = self._partitions[(kind, partition)]
            entry = {"format": _STATE_FORMAT, "r": orjson.Fragment(self.revisions.dump_key(table_key))}
            windows_detectors = part.dump_key(key)
            if windows_detectors is not None:
                entry.update(windows_detectors)
            changed.append((table_key, partition, orjson.dumps(entry)))
        for kind, partition in list(self._dirty_partitions):
            if partitions is not None and partition not in partitions:
                continue
            self._dirty_partitions.discard((kind, partition))
            part = self._partitions[(kind, partition)]
            changed.append((partition_state_key(kind, partition), partition, part.dump_partition()))
        self.revisions.clear_dirty()
        return changed

    def open_window_count(self) -> int:
        return sum(part.tracker.open_window_count() for part in self._partitions.values())

    def _enriched(
        self,
        msg: InMessage,
        kind: Kind,
        accepted: Accepted,
        origin: dict[str, Any],
        *,
        late: bool,
        watermark_ms: int | None,
        windows: list[dict[str, Any]] | None = None,
        anomalies: Sequence[Anomaly] = (),
    ) -> OutMessage:
        record = dict(accepted.record)
        record["late"] = late
        record["origin"] = origin
        record["windows"] = windows or []
        record["watermark_ms"] = watermark_ms
        record["anomaly_score"] = max((a.score for a in anomalies), default=0.0)
        record["anomalies"] = sorted({a.type.value for a in anomalies})
        return OutMessage(
            topic=self.topics.enriched(kind),
            key=accepted.key.encode(),
            value=orjson.dumps(record),
            headers=msg.headers,
            timestamp_ms=accepted.event_time_ms,
            source_partition=msg.partition,
            source_topic=msg.topic,
        )

    def _bar(self, kind: Kind, partition: int, bar: ClosedBar) -> OutMessage:
        return self._derived(
            self.topics.bars(kind), bar.key, bar.record(kind), bar.aggregate.end_ms, partition, "bar"
        )

    def _derived(
        self,
        topic: str,
        key: str,
        record: dict[str, Any],
        timestamp_ms: int,
        partition: int,
        outcome: str,
        headers: Headers = (),
    ) -> OutMessage:
        return OutMessage(
            topic=topic,
            key=key.encode(),
            value=orjson.dumps(record),
            headers=headers,
            timestamp_ms=timestamp_ms,
            source_partition=partition,
            outcome=outcome,
        )

    def _dead_letter(
        self, msg: InMessage, reason: Reason, detail: str, exception: str | None = None
    ) -> OutMessage:
        kwargs = {"exception": exception} if exception else {}
        headers = dead_letter_headers(msg.headers, reason=reason, detail=detail, origin=msg.origin, **kwargs)
        return OutMessage(
            topic=self.topics.dlq,
            key=msg.key,
            value=msg.value,
            headers=headers,
            timestamp_ms=msg.timestamp_ms,
            source_partition=msg.partition,
            outcome=str(reason),
            source_topic=msg.topic,
        )
