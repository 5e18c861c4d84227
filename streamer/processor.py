"""One batch of raw Kafka records in, the records to publish out. No Faust, no I/O.

This is where a message's fate is decided: validated and enriched, or dead-lettered with its
reason. The Faust layer (:mod:`streamer.pipeline`) only feeds batches in and sends what comes out.
Nothing here raises for a bad message: a bug while handling one record turns that record into a
``processing_error`` dead letter and the batch goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from streamer.dlq import Headers, Origin, dead_letter_headers
from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.revisions import RevisionTracker, state_key
from streamer.topics import Kind, TopicNames
from streamer.validation import Accepted, Rejected, validate

__all__ = ["InMessage", "OutMessage", "Processor", "StateLoader"]

log = logging.getLogger(__name__)

StateLoader = Callable[[str], bytes | None]


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
    outcome: str = "enriched"  # "enriched", or the reject reason for a dead letter


@dataclass(slots=True)
class Processor:
    """Validates, de-duplicates revisions and enriches; dead-letters everything else."""

    topics: TopicNames
    policy: ValidationPolicy
    clock_ms: Callable[[], int]
    revisions: RevisionTracker = field(default_factory=RevisionTracker)
    load_state: StateLoader | None = None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _loaded_keys: set[str] = field(default_factory=set)
    _partition_of_key: dict[str, int] = field(default_factory=dict)

    def process(self, batch: Sequence[InMessage]) -> list[OutMessage]:
        now_ms = self.clock_ms()
        out: list[OutMessage] = []
        for msg in batch:
            try:
                result = self._one(msg, now_ms)
            except Exception as exc:  # a bug: dead-letter this record, keep the partition moving
                log.exception("processing %s failed", msg.origin)
                result = self._dead_letter(
                    msg,
                    Reason.PROCESSING_ERROR,
                    f"{type(exc).__name__}: {exc}",
                    exception=f"{type(exc).__module__}.{type(exc).__qualname__}",
                )
            self.counts[(msg.topic, result.outcome)] += 1
            out.append(result)
        return out

    def _one(self, msg: InMessage, now_ms: int) -> OutMessage:
        kind = self.topics.kind_of_raw(msg.topic)
        if kind is None:
            return self._dead_letter(msg, Reason.UNKNOWN_TOPIC, f"no schema for topic {msg.topic!r}")
        verdict = validate(msg.value, kind, self.policy, now_ms)
        if isinstance(verdict, Rejected):
            return self._dead_letter(msg, verdict.reason, verdict.detail)
        assert msg.value is not None  # validate() accepts only non-empty bytes
        tracker_key = state_key(verdict)
        self._ensure_loaded(tracker_key)
        repeat = self.revisions.check(verdict, msg.value)
        if repeat is not None:
            return self._dead_letter(msg, repeat.reason, repeat.detail)
        self.revisions.record(verdict, msg.value)
        self._partition_of_key[tracker_key] = msg.partition
        return self._enriched(msg, kind, verdict)

    def _ensure_loaded(self, key: str) -> None:
        if key in self._loaded_keys:
            return
        self._loaded_keys.add(key)
        if self.load_state is not None:
            state = self.load_state(key)
            if state is not None:
                self.revisions.load_key(key, state)

    def forget_keys(self) -> None:
        """After a rebalance: reload per-key state from the table on next use."""
        self._loaded_keys.clear()

    def take_dirty_state(self) -> list[tuple[str, int, bytes]]:
        """``(series key, source partition, state bytes)`` of every key changed since the last call,
        so the caller writes each changed key once per batch."""
        changed = [
            (key, self._partition_of_key[key], self.revisions.dump_key(key))
            for key in self.revisions.dirty_keys()
            if key in self._partition_of_key
        ]
        self.revisions.clear_dirty()
        return changed

    def _enriched(self, msg: InMessage, kind: Kind, accepted: Accepted) -> OutMessage:
        record = dict(accepted.record)
        record["late"] = False
        record["origin"] = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        return OutMessage(
            topic=self.topics.enriched(kind),
            key=accepted.key.encode(),
            value=orjson.dumps(record),
            headers=msg.headers,
            timestamp_ms=accepted.event_time_ms,
            source_partition=msg.partition,
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
        )
