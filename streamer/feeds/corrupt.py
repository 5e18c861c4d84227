"""The catalogue of corrupt raw messages and the reject reason the validator must give each one.

Each case turns one valid raw price message (with all three LMP components) into bytes that are wrong in
exactly one way, so the expected reason does not depend on the order of the validator's checks. ``simulate
--corrupt-rate`` and the end-to-end accounting test both draw from :data:`CORRUPT`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from streamer.topics import Kind

__all__ = ["ACCEPTED", "CORRUPT", "TOLERATED", "CorruptCase"]

ACCEPTED = "accepted"  # expected outcome of a TOLERATED case: the validator accepts it
_SENTINEL = "__corrupt_literal__"
_NESTING_DEPTH = 5_000  # 10 KB: deep enough for any JSON parser's limit, small enough not to be too_large
_PADDING_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class CorruptCase:
    name: str
    expected_reason: str
    kind: Kind
    make: Callable[[random.Random, bytes], bytes | None]


def _obj(value: bytes) -> dict[str, Any]:
    obj = orjson.loads(value)
    if not isinstance(obj, dict):
        raise ValueError("corrupt cases start from a valid JSON object")
    return obj


def _with_literal(field: str, literal: bytes) -> Callable[[random.Random, bytes], bytes]:
    """Replace a field's value with a raw JSON token that orjson would never write (NaN, Infinity, 1e400)."""

    def make(_rng: random.Random, value: bytes) -> bytes:
        obj = _obj(value)
        obj[field] = _SENTINEL
        return orjson.dumps(obj).replace(orjson.dumps(_SENTINEL), literal)

    return make


def _edited(edit: Callable[[random.Random, dict[str, Any]], None]) -> Callable[[random.Random, bytes], bytes]:
    def make(rng: random.Random, value: bytes) -> bytes:
        obj = _obj(value)
        edit(rng, obj)
        return orjson.dumps(obj)

    return make


def _invalid_utf8(_rng: random.Random, value: bytes) -> bytes:
    """Bytes 0xFF 0xFE inside the node string: the JSON is fine, the encoding is not."""
    if b'"node":"' not in value:
        raise ValueError("the invalid_utf8 case needs a price message with a node")
    return value.replace(b'"node":"', b'"node":"\xff\xfe', 1)


def _truncated(rng: random.Random, value: bytes) -> bytes:
    # No prefix of a JSON object is JSON; the generated messages are ASCII, so no cut splits a character.
    return value[: rng.randint(1, len(value) - 2)]


def _duplicate_key(_rng: random.Random, value: bytes) -> bytes:
    # The first "lmp" differs from the second, so a parser that keeps either one would change the meaning.
    first = orjson.dumps({"lmp": _obj(value)["lmp"] + 1.0})[:-1]
    return first + b"," + value[1:]


def _drop_lmp(_rng: random.Random, obj: dict[str, Any]) -> None:
    del obj["lmp"]


def _lmp_as_string(_rng: random.Random, obj: dict[str, Any]) -> None:
    obj["lmp"] = str(obj["lmp"])


def _naive(_rng: random.Random, obj: dict[str, Any]) -> None:
    obj["interval_start"] = datetime.fromisoformat(obj["interval_start"]).replace(tzinfo=None).isoformat()


def _interval_7(_rng: random.Random, obj: dict[str, Any]) -> None:
    obj["interval_minutes"] = 7


def _year_2099(_rng: random.Random, obj: dict[str, Any]) -> None:
    start = datetime.fromisoformat(obj["interval_start"])
    obj["interval_start"] = start.replace(year=2099, day=min(start.day, 28)).isoformat()


def _above_cap(_rng: random.Random, obj: dict[str, Any]) -> None:
    # 99,999 is above every default cap; energy follows so the LMP identity still holds.
    obj["energy"] = round(99999.0 - obj["congestion"] - obj["loss"], 2)
    obj["lmp"] = 99999.0


def _components_off(_rng: random.Random, obj: dict[str, Any]) -> None:
    obj["energy"] = round(obj["energy"] + 5.0, 2)


def _padding(_rng: random.Random, obj: dict[str, Any]) -> None:
    obj["padding"] = "x" * _PADDING_BYTES


CORRUPT: tuple[CorruptCase, ...] = (
    CorruptCase("empty_bytes", "empty_value", Kind.PRICES, lambda _rng, _value: b""),
    CorruptCase("tombstone", "empty_value", Kind.PRICES, lambda _rng, _value: None),
    CorruptCase("invalid_utf8", "not_utf8", Kind.PRICES, _invalid_utf8),
    CorruptCase("truncated_json", "not_json", Kind.PRICES, _truncated),
    CorruptCase("nan_literal", "not_json", Kind.PRICES, _with_literal("lmp", b"NaN")),
    CorruptCase("infinity_literal", "not_json", Kind.PRICES, _with_literal("lmp", b"Infinity")),
    CorruptCase("overflow_1e400", "not_json", Kind.PRICES, _with_literal("lmp", b"1e400")),
    CorruptCase(
        "deep_nesting",
        "not_json",
        Kind.PRICES,
        lambda _rng, _value: b"[" * _NESTING_DEPTH + b"]" * _NESTING_DEPTH,
    ),
    CorruptCase("megabyte_payload", "too_large", Kind.PRICES, _edited(_padding)),
    CorruptCase("top_level_array", "not_object", Kind.PRICES, lambda _rng, value: b"[" + value + b"]"),
    CorruptCase("top_level_number", "not_object", Kind.PRICES, lambda _rng, _value: b"42.17"),
    CorruptCase(
        "top_level_string", "not_object", Kind.PRICES, lambda _rng, value: orjson.dumps(value.decode())
    ),
    CorruptCase("duplicate_key", "duplicate_key", Kind.PRICES, _duplicate_key),
    CorruptCase("missing_lmp", "missing_field", Kind.PRICES, _edited(_drop_lmp)),
    CorruptCase("lmp_as_string", "wrong_type", Kind.PRICES, _edited(_lmp_as_string)),
    CorruptCase("naive_timestamp", "naive_timestamp", Kind.PRICES, _edited(_naive)),
    CorruptCase("interval_7_minutes", "bad_interval", Kind.PRICES, _edited(_interval_7)),
    CorruptCase("future_2099", "future_timestamp", Kind.PRICES, _edited(_year_2099)),
    CorruptCase("above_cap", "out_of_band", Kind.PRICES, _edited(_above_cap)),
    CorruptCase("component_mismatch", "component_mismatch", Kind.PRICES, _edited(_components_off)),
)

# Not corrupt: the validator strips a UTF-8 byte-order mark and accepts the message behind it.
TOLERATED: tuple[CorruptCase, ...] = (
    CorruptCase("utf8_bom", ACCEPTED, Kind.PRICES, lambda _rng, value: b"\xef\xbb\xbf" + value),
)
