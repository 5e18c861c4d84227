"""What every feed produces: raw message bytes for a raw topic, plus counts of what was read and skipped."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from streamer.errors import FeedError
from streamer.topics import Kind

__all__ = [
    "BLANK_VALUE",
    "DST_GAP",
    "DUPLICATE",
    "MISSING_INTERVAL",
    "NONEXISTENT_TIME",
    "FeedStats",
    "RawMessage",
    "Reader",
    "encode",
    "parse_number",
]

# Reasons a row is skipped (or an expected row is absent), as counted in FeedStats.skipped.
BLANK_VALUE = "blank_value"  # the row has no value; it is never emitted as null
DST_GAP = "dst_gap"  # a local hour that does not exist (spring forward); the file has no row for it
DUPLICATE = "duplicate"  # an exact repeat of a timestamp already emitted for the series
NONEXISTENT_TIME = "nonexistent_time"  # a row stamped with a local time that does not exist
MISSING_INTERVAL = "missing_interval"  # an interval absent from the file that is not explained by DST


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One record for a raw topic. ``value`` is None only for a tombstone (corrupt catalogue)."""

    kind: Kind
    key: bytes
    value: bytes | None
    timestamp_ms: int | None


@dataclass(slots=True)
class FeedStats:
    """Counts a converter fills in while it is iterated (pass one in to read them afterwards)."""

    rows_read: int = 0
    emitted: Counter[Kind] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "emitted": {kind.value: n for kind, n in sorted(self.emitted.items())},
            "skipped": dict(sorted(self.skipped.items())),
        }


class Reader(Protocol):
    """A converter: ``read_<fmt>(path, stats=None)`` yields raw messages in event-time order per series."""

    def __call__(self, path: Path, stats: FeedStats | None = None) -> Iterator[RawMessage]: ...


def encode(kind: Kind, key: str, payload: dict[str, Any], timestamp_ms: int, stats: FeedStats) -> RawMessage:
    """Serialise a raw message and count it."""
    stats.emitted[kind] += 1
    return RawMessage(kind, key.encode(), orjson.dumps(payload), timestamp_ms)


def parse_number(text: str | None, where: str) -> float | None:
    """A finite float, or None for a blank cell. Anything else is a FeedError naming ``where``."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FeedError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise FeedError(f"{where}: not a finite number: {text!r}")
    return value
