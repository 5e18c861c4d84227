"""The dead-letter envelope: the original record plus KIP-1034-style error headers.

The key, value bytes, timestamp and original headers are never re-encoded. Error headers from an
earlier dead-lettering (a replayed message that failed again) are replaced, except
``streamer.replay_count``, which the replay tool owns and which travels with the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamer.reasons import Reason
from streamer.schemas.version import SCHEMA_VERSION_HEADER, VERSION_HEADER

__all__ = [
    "H_DETAIL",
    "H_EXCEPTION",
    "H_MESSAGE",
    "H_OFFSET",
    "H_PARTITION",
    "H_REASON",
    "H_REPLAY_COUNT",
    "H_REPLAY_ID",
    "H_SCHEMA_VERSION",
    "H_TOPIC",
    "REJECTED_EXCEPTION",
    "DeadLetter",
    "Headers",
    "Origin",
    "dead_letter_headers",
    "header_value",
    "read_dead_letter",
]

Headers = Sequence[tuple[str, bytes]]

H_EXCEPTION = "__streams.errors.exception"
H_MESSAGE = "__streams.errors.message"
H_TOPIC = "__streams.errors.topic"
H_PARTITION = "__streams.errors.partition"
H_OFFSET = "__streams.errors.offset"
H_REASON = "streamer.reason"
H_DETAIL = "streamer.detail"
H_REPLAY_COUNT = "streamer.replay_count"
H_REPLAY_ID = "streamer.replay_id"
H_SCHEMA_VERSION = SCHEMA_VERSION_HEADER  # the major version of this envelope's schema (dlq.headers.json)

# What the exception header says for a message the validator rejected (no Python exception happened).
REJECTED_EXCEPTION = "streamer.validation.Rejected"

_ENVELOPE = frozenset(
    {H_EXCEPTION, H_MESSAGE, H_TOPIC, H_PARTITION, H_OFFSET, H_REASON, H_DETAIL, H_SCHEMA_VERSION}
)
_MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """The decoded envelope of a DLQ record."""

    reason: str
    detail: str
    exception: str
    message: str
    origin: Origin | None
    replay_count: int
    replay_id: str | None


def header_value(headers: Iterable[tuple[str, bytes]], name: str) -> bytes | None:
    """The last value of header ``name`` (Kafka allows repeats; the last one wins here)."""
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DETAIL_CHARS else flat[: _MAX_DETAIL_CHARS - 1] + "…"


def dead_letter_headers(
    original: Headers | None,
    *,
    reason: Reason | str,
    detail: str,
    origin: Origin,
    exception: str = REJECTED_EXCEPTION,
    message: str | None = None,
) -> list[tuple[str, bytes]]:
    """Original headers (minus a previous envelope) followed by this rejection's envelope, whose last header
    is ``streamer.schema_version`` (the major version of the envelope's schema, ``dlq.headers.json``)."""
    kept = [(k, v) for k, v in (original or ()) if k not in _ENVELOPE and k != H_REPLAY_COUNT]
    replay_count = header_value(original or (), H_REPLAY_COUNT) or b"0"
    detail_line = _one_line(detail)
    envelope = [
        (H_EXCEPTION, exception),
        (H_MESSAGE, _one_line(message) if message is not None else detail_line),
        (H_TOPIC, origin.topic),
        (H_PARTITION, str(origin.partition)),
        (H_OFFSET, str(origin.offset)),
        (H_REASON, str(reason)),
        (H_DETAIL, detail_line),
    ]
    return kept + [(k, v.encode()) for k, v in envelope] + [(H_REPLAY_COUNT, replay_count), VERSION_HEADER]


def _text(headers: Headers, name: str) -> str:
    value = header_value(headers, name)
    return value.decode("utf-8", "replace") if value is not None else ""


def _int(headers: Headers, name: str) -> int | None:
    text = _text(headers, name)
    return int(text) if text.lstrip("-").isdigit() else None


def read_dead_letter(headers: Headers) -> DeadLetter:
    """Decode the envelope; tolerant of missing headers (records written by other tools)."""
    topic = _text(headers, H_TOPIC)
    partition = _int(headers, H_PARTITION)
    offset = _int(headers, H_OFFSET)
    origin = (
        Origin(topic, partition, offset) if topic and partition is not None and offset is not None else None
    )
    replay_id = header_value(headers, H_REPLAY_ID)
    return DeadLetter(
        reason=_text(headers, H_REASON) or "unknown",
        detail=_text(headers, H_DETAIL),
        exception=_text(headers, H_EXCEPTION),
        message=_text(headers, H_MESSAGE),
        origin=origin,
        replay_count=_int(headers, H_REPLAY_COUNT) or 0,
        replay_id=replay_id.decode("utf-8", "replace") if replay_id is not None else None,
    )
