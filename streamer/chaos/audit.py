"""The offset-level audit of a chaos run: was every input published, and how often? No I/O.

Every raw input is identified by where it was consumed, its origin (topic, partition, offset). A primary
output (an ``enriched.*`` record or a dead letter) names its origin, so the audit can say, per input,
whether it was lost (no primary output at all) and how many times it was published. Derived outputs
(bars, anomalies, late contributions) have no one-to-one input; they are counted by identity instead: the
same bar (key, window, start) published twice is a duplicate.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.dlq import Origin, read_dead_letter

__all__ = ["Audit", "Ledger", "OutputRecord", "audit", "comparable", "derived_identity", "primary_origin"]


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """What the audit needs of one record read back from an output topic."""

    topic: str
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def primary_origin(record: OutputRecord, dlq_topic: str) -> Origin | None:
    """The input an ``enriched.*`` record or a dead letter came from (None for a record without one)."""
    if record.topic == dlq_topic:
        return read_dead_letter(record.headers).origin
    if record.value is None:
        return None
    origin = orjson.loads(record.value).get("origin")
    if not isinstance(origin, dict):
        return None
    return Origin(str(origin["topic"]), int(origin["partition"]), int(origin["offset"]))


def derived_identity(value: bytes | None) -> tuple[Any, ...]:
    """What makes a bar, anomaly or late record the same record when it is published again."""
    record = orjson.loads(value or b"null")
    if not isinstance(record, dict):
        return ("?", value)
    if "window_start" in record:  # a bar
        return ("bar", record.get("key"), record.get("window"), record.get("window_start"))
    if "type" in record and "severity" in record:  # an anomaly
        origin = record.get("origin")
        where = None if origin is None else (origin["topic"], origin["partition"], origin["offset"])
        return ("anomaly", record.get("key"), record["type"], record.get("event_time"), where)
    origin = record.get("origin") or {}
    return ("late", origin.get("topic"), origin.get("partition"), origin.get("offset"), record.get("reason"))


DIFFERING_SAMPLE = 5  # differing repeats kept whole, to show what differed
VOLATILE_FIELDS = {"anomaly": ("detected_at",)}  # the worker's clock when it ran: later in a repeat


def comparable(kind: str, value: bytes | None) -> bytes:
    """The bytes a repeat of a derived record must reproduce: all of them, except the fields that say when
    the worker made it (an anomaly's ``detected_at`` is its clock, by contract)."""
    volatile = VOLATILE_FIELDS.get(kind)
    if not volatile or value is None:
        return value or b""
    record = orjson.loads(value)
    if isinstance(record, dict):
        for name in volatile:
            record.pop(name, None)
    return orjson.dumps(record)


@dataclass(slots=True)
class Audit:
    inputs: int = 0
    lost: list[Origin] = field(default_factory=list)
    published_twice: int = 0  # inputs with more than one primary output
    duplicates: Counter[str] = field(default_factory=Counter)  # per output topic: records beyond the first
    records: Counter[str] = field(default_factory=Counter)  # per output topic: records read
    unknown_origins: int = 0  # primary outputs whose origin is not among the inputs
    differing_repeats: int = 0  # a bar, anomaly or late record published again with other content
    # (topic, identity, the later copy, the first copy) of the first few; the first copy of a bar is not kept
    # (there are too many bars): it is found in the topic by identity
    differing_sample: list[tuple[str, tuple[Any, ...], bytes, bytes | None]] = field(default_factory=list)
    bars_missing: int | None = None  # against an uninterrupted run of the same inputs (None: not compared)
    bars_extra: int | None = None
    bars_differing: int | None = None

    @property
    def bars_equal(self) -> bool | None:
        if self.bars_missing is None:
            return None
        return self.bars_missing == self.bars_extra == self.bars_differing == 0

    @property
    def duplicate_share(self) -> float:
        """Inputs published more than once, as a share of all inputs."""
        return self.published_twice / self.inputs if self.inputs else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "lost": len(self.lost),
            "lost_sample": [str(o) for o in self.lost[:10]],
            "published_twice": self.published_twice,
            "duplicate_share": round(self.duplicate_share, 5),
            "duplicates": dict(sorted(self.duplicates.items())),
            "records": dict(sorted(self.records.items())),
            "unknown_origins": self.unknown_origins,
            "differing_repeats": self.differing_repeats,
            "differing_sample": [
                f"{topic} {identity!r}: {value.decode(errors='replace')}"
                + ("" if first is None else f" (first copy: {first.decode(errors='replace')})")
                for topic, identity, value, first in self.differing_sample
            ],
            "bars_equal_to_uninterrupted_run": self.bars_equal,
            "bars_missing": self.bars_missing,
            "bars_extra": self.bars_extra,
            "bars_differing": self.bars_differing,
        }


class Ledger:
    """What the audit keeps of each output record as it is read: its origin or its identity and a digest,
    not the record, so a run of a million inputs is audited in bounded memory per record."""

    def __init__(self, primary_topics: frozenset[str], dlq_topic: str) -> None:
        self.primary_topics = primary_topics
        self.dlq_topic = dlq_topic
        self.records: Counter[str] = Counter()
        self.per_topic_origin: Counter[tuple[str, Origin]] = Counter()
        self.origins: set[Origin] = set()
        self.derived: dict[tuple[str, tuple[Any, ...]], tuple[bytes, int]] = {}  # -> (first digest, copies)
        self.first_copies: dict[tuple[str, tuple[Any, ...]], bytes] = {}  # anomalies and late records (few)
        self.differing_repeats = 0  # repeats of a derived record whose content differs from the first copy
        self.differing_sample: list[tuple[str, tuple[Any, ...], bytes, bytes | None]] = []

    def add(self, record: OutputRecord) -> Origin | None:
        """Account for one record; returns the origin of a primary output."""
        self.records[record.topic] += 1
        if record.topic in self.primary_topics:
            origin = primary_origin(record, self.dlq_topic)
            if origin is not None:
                self.per_topic_origin[(record.topic, origin)] += 1
                self.origins.add(origin)
            return origin
        ident = (record.topic, derived_identity(record.value))
        kind = ident[1][0]
        digest = hashlib.blake2b(comparable(kind, record.value), digest_size=12).digest()
        seen = self.derived.get(ident)
        if seen is None:
            self.derived[ident] = (digest, 1)
            if kind != "bar":
                self.first_copies[ident] = record.value or b""
        else:
            if seen[0] != digest:
                self.differing_repeats += 1
                if len(self.differing_sample) < DIFFERING_SAMPLE:
                    first = self.first_copies.get(ident)
                    self.differing_sample.append((ident[0], ident[1], record.value or b"", first))
            self.derived[ident] = (seen[0], seen[1] + 1)
        return None

    def bars(self) -> dict[tuple[Any, ...], bytes]:
        """Every distinct bar (topic and identity) with the digest of its first copy."""
        return {ident: digest for ident, (digest, _) in self.derived.items() if ident[1][0] == "bar"}

    def audit(self, inputs: Iterable[Origin]) -> Audit:
        wanted = set(inputs)
        result = Audit(inputs=len(wanted), records=Counter(self.records))
        per_origin: Counter[Origin] = Counter()
        for (_topic, origin), n in self.per_topic_origin.items():
            if origin in wanted:
                per_origin[origin] += n
            else:
                result.unknown_origins += n
        result.lost = sorted(wanted - set(per_origin), key=lambda o: (o.topic, o.partition, o.offset))
        result.published_twice = sum(1 for n in per_origin.values() if n > 1)
        for (topic, _), n in self.per_topic_origin.items():
            if n > 1:
                result.duplicates[topic] += n - 1
        for (topic, _), (_, copies) in self.derived.items():
            if copies > 1:
                result.duplicates[topic] += copies - 1
        result.differing_repeats = self.differing_repeats
        result.differing_sample = list(self.differing_sample)
        return result


def audit(
    inputs: Iterable[Origin],
    outputs: Iterable[OutputRecord],
    *,
    primary_topics: frozenset[str],
    dlq_topic: str,
) -> Audit:
    """Account for every input by its primary outputs, and count repeats of every output record."""
    ledger = Ledger(primary_topics, dlq_topic)
    for record in outputs:
        ledger.add(record)
    return ledger.audit(inputs)
