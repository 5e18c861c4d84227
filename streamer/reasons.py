"""Stable, machine-readable reject reason codes.

A code is used as a metric label, as the ``streamer.reason`` DLQ header and in ``dlq stats``.
Never rename one: add a new code and document it here and in the README.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    NOT_UTF8 = "not_utf8"  # value bytes are not valid UTF-8 (a BOM is tolerated and stripped)
    NOT_JSON = "not_json"  # not parseable JSON, incl. NaN/Infinity literals, 1e400, too deep nesting
    NOT_OBJECT = "not_object"  # JSON, but not an object (array, number, string, null)
    EMPTY_VALUE = "empty_value"  # zero-length value or a null (tombstone) value
    MISSING_FIELD = "missing_field"  # a required field is absent or JSON null
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type (e.g. "lmp": "42")
    NON_FINITE = "non_finite"  # a number that is not finite after parsing
    OUT_OF_BAND = "out_of_band"  # a value outside its market's configured floor/cap, or negative load
    COMPONENT_MISMATCH = "component_mismatch"  # |lmp - (energy + congestion + loss)| > 0.01
    NAIVE_TIMESTAMP = "naive_timestamp"  # a timestamp without an explicit UTC offset, or not ISO 8601
    BAD_INTERVAL = "bad_interval"  # interval length not one of the allowed values, or start off its grid
    FUTURE_TIMESTAMP = "future_timestamp"  # event time further in the future than allowed
    TOO_LARGE = "too_large"  # value larger than the configured byte limit
    DUPLICATE = "duplicate"  # exact repeat of an already accepted (key, interval, version)
    VERSION_CONFLICT = "version_conflict"  # same (key, interval, version) as an accepted one, other content
    STALE_REVISION = "stale_revision"  # a lower version than one already accepted for the key and interval
    DUPLICATE_KEY = "duplicate_key"  # the JSON object repeats a key, so its meaning is ambiguous
    UNKNOWN_TOPIC = "unknown_topic"  # consumed from a topic the worker has no schema for
    PROCESSING_ERROR = "processing_error"  # a bug: an exception while processing an accepted record
