"""One DLQ record as the tools see it: where it sits, its bytes and its decoded envelope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamer.dlq import DeadLetter, Headers, read_dead_letter

__all__ = ["DlqRecord", "iso_ms", "payload_text"]


@dataclass(frozen=True, slots=True)
class DlqRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    letter: DeadLetter

    @classmethod
    def of(
        cls,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
    ) -> DlqRecord:
        headers = [(k, bytes(v) if v is not None else b"") for k, v in headers]
        return cls(partition, offset, timestamp_ms, key, value, headers, read_dead_letter(headers))

    @property
    def origin_topic(self) -> str | None:
        return self.letter.origin.topic if self.letter.origin is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: headers decoded, key and value as text when UTF-8, otherwise as hex."""
        key_encoding, key = payload_text(self.key)
        value_encoding, value = payload_text(self.value)
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": iso_ms(self.timestamp_ms),
            "timestamp_ms": self.timestamp_ms,
            "reason": self.letter.reason,
            "detail": self.letter.detail,
            "origin": str(self.letter.origin) if self.letter.origin is not None else None,
            "replay_count": self.letter.replay_count,
            "replay_id": self.letter.replay_id,
            "key": key,
            "key_encoding": key_encoding,
            "value": value,
            "value_encoding": value_encoding,
            "headers": [[name, payload_text(raw)[1]] for name, raw in self.headers],
        }


def payload_text(data: bytes | None) -> tuple[str, str | None]:
    """``("utf-8", text)`` when the bytes decode as UTF-8, ``("hex", hex)`` otherwise; ``None`` stays None."""
    if data is None:
        return "null", None
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", data.hex()


def iso_ms(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
