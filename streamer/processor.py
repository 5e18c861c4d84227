"""One batch of raw Kafka records in, the records to publish out. No Faust, no I/O.

This is where a message's fate is decided: validated and enriched, or dead-lettered with its reason. The
Faust layer (:mod:`streamer.pipeline`) only feeds batches in, sends what comes out, and persists the state
changes :meth:`Processor.take_changes` hands over. Nothing here raises for a bad message: a bug while
handling one record turns that record into a ``processing_error`` dead letter and the batch goes on.

State lives in a :class:`streamer.state.StateStore` (RocksDB behind a bounded cache in the worker), keyed at
the grain it changes: a revision entry per (series, interval), a pane per (series, pane), a small summary per
series, and a meta entry per raw topic-partition. Every state change is idempotent per input offset, and the
meta entry records the next offset to process, so a record consumed again after a crash is either skipped
(its state and outputs are persisted) or processed without counting twice (see :mod:`streamer.state.store`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamer import jsonbytes
from streamer.detectors import DetectorConfig
from streamer.detectors.base import Anomaly
from streamer.dlq import Headers, Origin, dead_letter_headers
from streamer.enrichment import VALUE_FIELD, Observed, PartitionState, parse_window_specs
from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.revisions import DEFAULT_HORIZON_MS, NEW, REDELIVERY, REVISION, Revision, classify
from streamer.schemas.version import VERSION_HEADER
from streamer.state.store import Change, StateStore
from streamer.topics import Kind, TopicNames
from streamer.validation import Accepted, Rejected, validate
from streamer.windows import ClosedBar, WindowSpec
from streamer.windows.aggregates import utc_offset_min
from streamer.windows.tracker import OpenWindows

if TYPE_CHECKING:  # configuration only: the domain core imports no settings at run time
    from streamer.settings import Settings

__all__ = ["BatchResult", "InMessage", "OutMessage", "Processor", "processor_for"]

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
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


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class OutMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None
    source_partition: int
    outcome: str = "enriched"  # "enriched", a reject reason (DLQ), or "bar", "late", "anomaly"
    source_topic: str = ""  # the raw topic of a primary output
    partition: int | None = None  # an explicit partition (changelog records); None: by key
    cause_ms: int | None = None  # Kafka timestamp of the input that caused it (end-to-end latency)


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


@dataclass(slots=True)
class Processor:
    """Validates, de-duplicates revisions, windows, detects and enriches; dead-letters everything else."""

    topics: TopicNames
    policy: ValidationPolicy
    clock_ms: Callable[[], int]
    store: StateStore
    window_specs: tuple[WindowSpec, ...] = ()
    grace_ms: int = 10 * 60 * 1000
    detectors_enabled: bool = True
    detector_config: DetectorConfig | None = None
    stale_clock: str = "event"
    horizon_ms: int = DEFAULT_HORIZON_MS
    # Bars computed per batch, at least (None: every closed window's in the batch that closed it). A batch
    # that crosses a 5-minute boundary closes two or three windows of every series; computing them all at
    # once held up every record behind it (4,000-6,000 bars for a 2,000-node market).
    bars_per_batch: int | None = None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _partitions: dict[tuple[Kind, int], PartitionState] = field(default_factory=dict)
    _raw_kinds: dict[str, Kind] = field(default_factory=dict)
    _touched: set[tuple[Kind, int]] = field(default_factory=set)
    _reset_pending: bool = False
    # Outputs are stamped with event time, but never later than this (the clock of the batch): Kafka 4 refuses
    # timestamps more than log.message.timestamp.after.max.ms (1 h by default) ahead of the broker's clock,
    # and day-ahead prices are valid up to max_future_ms ahead.
    _stamp_limit_ms: int = 0

    def __post_init__(self) -> None:
        self._raw_kinds = {self.topics.raw(kind): kind for kind in Kind}

    def process(self, batch: Sequence[InMessage]) -> BatchResult:
        if self._reset_pending:
            self._reset()
        now_ms = self._stamp_limit_ms = self.clock_ms()
        primary: list[OutMessage] = []
        derived: list[OutMessage] = []
        touched: set[tuple[Kind, int]] = set()
        newest_input_ms: dict[tuple[Kind, int], int | None] = {}
        skipped = 0
        raw_kinds = (
            self._raw_kinds
            or self._raw_kinds.update({self.topics.raw(k): k for k in Kind})
            or self._raw_kinds
        )
        for msg in batch:
            kind = raw_kinds.get(msg.topic)
            part = None if kind is None else self._partition(kind, msg.partition)
            if part is not None and part.next_offset is not None and msg.offset < part.next_offset:
                # Consumed again (a crash or rebalance before the commit) after its outputs were acknowledged
                # and its state persisted: everything it produced is already in Kafka.
                skipped += 1
                continue
            try:
                result = self._one(msg, part, now_ms, derived)
            except Exception as exc:  # a bug: dead-letter this record, keep the partition moving
                log.exception(
                    "processing %s failed",
                    msg.origin,
                    extra={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
                )
                result = self._dead_letter(
                    msg,
                    Reason.PROCESSING_ERROR,
                    f"{type(exc).__name__}: {exc}",
                    exception=f"{type(exc).__module__}.{type(exc).__qualname__}",
                )
            if part is not None:
                part.next_offset = msg.offset + 1
                touched.add((part.kind, part.partition))
                newest_input_ms[(part.kind, part.partition)] = msg.timestamp_ms
            self.counts[(msg.topic, result.outcome)] += 1
            primary.append(result)
        closing = touched | self._closing_partitions()
        budget = self.bars_per_batch  # the rest are computed before the next windows close, at the latest
        for kind, partition in sorted(closing):
            part = self._partitions[(kind, partition)]
            cause_ms = newest_input_ms.get((kind, partition))
            bars = part.close_ready(budget)
            if budget is not None:
                budget = max(0, budget - len(bars))
            for bar in bars:
                derived.append(self._bar(kind, partition, bar, cause_ms))
            if self.stale_clock == "event" and (kind, partition) in touched:
                derived.extend(self._tick_partition(part, now_ms))
            part.write_meta()
        self._touched |= closing
        return BatchResult(primary, derived, skipped)

    def tick(self, wall_ms: int | None = None) -> list[OutMessage]:
        """The stale-feed timer: tick every partition's detectors with its clock (see
        :mod:`streamer.enrichment`). Anomalies have no triggering record (origin null)."""
        if self._reset_pending:
            self._reset()
        self._stamp_limit_ms = self.clock_ms()
        now_ms = self._stamp_limit_ms if wall_ms is None else wall_ms
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
            part.mark(part.series(anomaly.key))  # its alert level changed
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
        self, msg: InMessage, part: PartitionState | None, now_ms: int, derived: list[OutMessage]
    ) -> OutMessage:
        if part is None:
            return self._dead_letter(msg, Reason.UNKNOWN_TOPIC, f"no schema for topic {msg.topic!r}")
        kind = part.kind
        verdict = validate(msg.value, kind, self.policy, now_ms)
        if isinstance(verdict, Rejected):
            return self._dead_letter(msg, verdict.reason, verdict.detail)
        series = part.series(verdict.key)
        event_ms = verdict.event_time_ms
        origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        known = None
        if (
            series.newest_ms is not None
            and event_ms <= series.newest_ms
            and not part.beyond_horizon(event_ms)
        ):
            known = part.revision(verdict.key, event_ms)
        seen = classify(verdict, known, msg.offset)  # NEW without a lookup for a new interval of the series
        if isinstance(seen, Rejected):
            return self._dead_letter(msg, seen.reason, seen.detail)
        if seen == REDELIVERY:
            # Our own re-delivery after a crash: published again; its state changes are applied only where
            # they are missing (each entry knows the offsets it holds).
            assert known is not None
            seen = NEW if known.counted else REVISION
        elif not part.beyond_horizon(event_ms):
            part.put_revision(verdict.key, event_ms, Revision.of(verdict, msg.offset, counted=seen == NEW))
        if seen == REVISION:
            # The windows already hold the earlier version; adding this one would count the interval twice.
            # Its contribution goes to `late`, so no bar changes silently.
            windows, closed = part.windows_of(event_ms)
            reason = "window_closed" if windows and closed == len(windows) else "revision"
            late = self._late_record(kind, verdict, origin, reason, windows, part.watermark_ms)
            derived.append(self._late(msg, verdict, late))
            return self._enriched(msg, kind, verdict, origin, late=closed > 0, watermark_ms=part.watermark_ms)
        value = float(verdict.record[VALUE_FIELD[kind]])
        observed = part.observe(series, event_ms, verdict.interval_ms, value, verdict.record, msg.offset)
        if observed.added.is_late:
            late_windows = [w.to_record() for w in observed.added.late]
            late = self._late_record(
                kind, verdict, origin, observed.added.late[0].reason, late_windows, observed.watermark_ms
            )
            derived.append(self._late(msg, verdict, late))
        windows = [stats.to_record() for stats in observed.stats]
        offset_min = utc_offset_min(verdict.record) if observed.anomalies else 0
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
            observed=observed,
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
            self.topics.late,
            accepted.key,
            late,
            accepted.event_time_ms,
            msg.partition,
            "late",
            msg.headers,
            cause_ms=msg.timestamp_ms,
        )

    def _partition(self, kind: Kind, partition: int) -> PartitionState:
        part = self._partitions.get((kind, partition))
        if part is None:
            part = self._partitions[(kind, partition)] = PartitionState(
                kind,
                partition,
                self.window_specs,
                self.grace_ms,
                self.store,
                self.detector_config,
                self.detectors_enabled,
                self.horizon_ms,
            )
        if (kind, partition) not in self._touched:
            part.prune()  # once per batch, before its first event: deletions ride with this batch's changes
            self._touched.add((kind, partition))
        return part

    def closing_inputs(self) -> set[tuple[str, int]]:
        """Raw (topic, partition)s with closed windows whose bars are not all out (see ``bars_per_batch``).

        Their last processed record must not be committed yet: a worker that takes over consumes it again
        (and skips it), which loads the partition and lets the next batch compute the rest."""
        return {(self.topics.raw(kind), partition) for kind, partition in self._closing_partitions()}

    def _closing_partitions(self) -> set[tuple[Kind, int]]:
        return {key for key, part in self._partitions.items() if part.tracker.has_pending}

    # -- persistence ---------------------------------------------------------------------------------------
    def take_changes(self) -> dict[int, list[Change]]:
        """Every state change since the last call, per partition, in prefix-safe order (meta last)."""
        return {p: changes for p in self.store.dirty_partitions() if (changes := self.store.take_changes(p))}

    def persisted(self) -> None:
        """The changes handed over by :meth:`take_changes` are durable: advance the durable watermarks (which
        allow pruning) and trim the cache."""
        for kind_partition in self._touched:
            part = self._partitions.get(kind_partition)
            if part is not None:
                part.persisted()
        self._touched.clear()
        self.store.evict()

    def landing(self, changes: Mapping[int, list[Change]]) -> None:
        """``changes`` (from :meth:`take_changes`) are being written while the next batch is processed: the
        next batches read them until :meth:`landed` (see :mod:`streamer.state.store`)."""
        self.store.landing(changes)

    def landed(self) -> None:
        self.store.landed()

    def forget_keys(self) -> None:
        """After a rebalance: drop in-memory state before the next batch and reload it from the store."""
        self._reset_pending = True

    def _reset(self) -> None:
        self._reset_pending = False
        self._partitions.clear()
        self._touched.clear()
        self.store.forget_partitions()

    # -- introspection -------------------------------------------------------------------------------------
    def pending_bar_count(self) -> int:
        return sum(part.tracker.pending_bars for part in self._partitions.values())

    def open_window_snapshots(self) -> list[OpenWindows]:
        """Per partition, what ``count_open_windows`` counts, copied (to count off the event loop)."""
        return [part.tracker.open_window_snapshot() for part in self._partitions.values()]

    def open_pane_count(self) -> int:
        return sum(part.tracker.open_pane_count() for part in self._partitions.values())

    # -- outputs -------------------------------------------------------------------------------------------
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
        observed: Observed | None = None,
    ) -> OutMessage:
        anomalies: Sequence[Anomaly] = () if observed is None else observed.anomalies
        scored = None if observed is None else observed.scored
        record = dict(accepted.record)
        record["late"] = late
        record["origin"] = origin
        record["windows"] = windows or []
        record["watermark_ms"] = watermark_ms
        record["spike"] = (
            None if scored is None else {"score": scored[0], "median": scored[1], "mad": scored[2]}
        )
        record["anomaly_score"] = max((a.score for a in anomalies), default=0.0)
        record["anomalies"] = sorted({a.type.value for a in anomalies})
        return OutMessage(
            topic=self.topics.enriched(kind),
            key=accepted.key.encode(),
            value=jsonbytes.dumps(record),
            headers=(*msg.headers, VERSION_HEADER),
            timestamp_ms=min(accepted.event_time_ms, self._stamp_limit_ms),
            source_partition=msg.partition,
            source_topic=msg.topic,
            cause_ms=msg.timestamp_ms,
        )

    def _bar(self, kind: Kind, partition: int, bar: ClosedBar, cause_ms: int | None) -> OutMessage:
        record = bar.record(kind)
        return self._derived(
            self.topics.bars(kind), bar.key, record, bar.bar.end_ms, partition, "bar", (), cause_ms
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
        cause_ms: int | None = None,
    ) -> OutMessage:
        return OutMessage(
            topic=topic,
            key=key.encode(),
            value=jsonbytes.dumps(record),
            headers=(*headers, VERSION_HEADER),
            timestamp_ms=min(timestamp_ms, self._stamp_limit_ms),
            source_partition=partition,
            outcome=outcome,
            cause_ms=cause_ms,
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
            cause_ms=msg.timestamp_ms,
        )


def processor_for(
    settings: Settings, store: StateStore, clock_ms: Callable[[], int], *, spread_bars: bool = True
) -> Processor:
    """The processor a worker with ``settings`` runs, over ``store``.

    ``spread_bars=False`` computes every closed window's bars in the batch that closed it, whatever
    ``settings.bars_per_batch`` says: for exactly once (a batch's offsets are committed in its transaction,
    so they cannot wait for bars still to come) and for in-process runs that must see every bar of their
    input (spread bars of the last windows to close would wait for a batch that never comes).
    """
    return Processor(
        topics=settings.topics,
        policy=settings.policy,
        clock_ms=clock_ms,
        store=store,
        window_specs=parse_window_specs(settings.window_specs),
        grace_ms=settings.grace_ms,
        detectors_enabled=settings.detectors_enabled,
        stale_clock=settings.stale_clock,
        bars_per_batch=(settings.bars_per_batch or None) if spread_bars else None,
    )
