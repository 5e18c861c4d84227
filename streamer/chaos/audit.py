"""The offset-level audit of a chaos run: was every input published, and how often? No I/O.

Every raw input is identified by where it was consumed, its origin (topic, partition, offset). A primary
output (an ``enriched.*`` record or a dead letter) names its origin, so the audit can say, per input,
whether it was lost (no primary output at all) and how many times it was published. Derived outputs
(bars, anomalies, late contributions) have no one-to-one input; they are counted by identity instead: the
same bar (key, window, start) published twice is a duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.dlq import Origin, read_dead_letter

__all__ = ["Audit", "OutputRecord", "audit", "derived_identity", "primary_origin"]


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


@dataclass(slots=True)
class Audit:
    inputs: int = 0
    lost: list[Origin] = field(default_factory=list)
    published_twice: int = 0  # inputs with more than one primary output
    duplicates: Counter[str] = field(default_factory=Counter)  # per output topic: records beyond the first
    records: Counter[str] = field(default_factory=Counter)  # per output topic: records read
    unknown_origins: int = 0  # primary outputs whose origin is not among the inputs

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
        }


def audit(
    inputs: Iterable[Origin],
    outputs: Iterable[OutputRecord],
    *,
    primary_topics: frozenset[str],
    dlq_topic: str,
) -> Audit:
    """Account for every input by its primary outputs, and count repeats of every output record."""
    wanted = set(inputs)
    result = Audit(inputs=len(wanted))
    per_origin: Counter[Origin] = Counter()
    per_topic_origin: Counter[tuple[str, Origin]] = Counter()
    derived: Counter[tuple[str, tuple[Any, ...]]] = Counter()
    for record in outputs:
        result.records[record.topic] += 1
        if record.topic in primary_topics:
            origin = primary_origin(record, dlq_topic)
            if origin is None or origin not in wanted:
                result.unknown_origins += 1
                continue
            per_origin[origin] += 1
            per_topic_origin[(record.topic, origin)] += 1
        else:
            derived[(record.topic, derived_identity(record.value))] += 1
    result.lost = sorted(wanted - set(per_origin), key=lambda o: (o.topic, o.partition, o.offset))
    result.published_twice = sum(1 for n in per_origin.values() if n > 1)
    for counts in (per_topic_origin, derived):
        for (topic, _), n in counts.items():
            if n > 1:
                result.duplicates[topic] += n - 1
    return result
