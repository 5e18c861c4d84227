"""Raw message bytes in, :class:`Accepted` or :class:`Rejected` out. Never raises, stateless, pure.

Checks run in a fixed order and the first failure decides the reason code (README, "Reject reasons"; the
corrupt-message generator relies on this mapping):

1. ``None`` (tombstone) or ``b""``: ``empty_value``.
2. more than ``policy.max_value_bytes`` bytes: ``too_large`` (before any decoding).
3. not UTF-8: ``not_utf8``. A leading UTF-8 BOM is stripped and validation goes on.
4. not JSON: ``not_json``. This includes trailing garbage, NaN/Infinity literals, number literals
   that overflow a double (``1e400``, a 400-digit integer: orjson refuses them, so the parser never
   hands us a non-finite number and ``non_finite`` is never produced here; a NaN could not pass the
   band checks anyway), lone surrogate escapes, and nesting deeper than :data:`MAX_DEPTH` (orjson
   allows 1024 levels, but orjson cannot serialise more than 254 and downstream re-encodes records).
5. not a JSON object: ``not_object``.
6. an object (at any depth) repeats a key: ``duplicate_key``.
7. a required field absent or null: ``missing_field``.
8. a field of the wrong JSON type: ``wrong_type`` (bool is not a number; ``version`` must be an
   integer >= 1 and ``interval_minutes`` an integer, both as JSON integer literals; market and
   node/zone/hub must be non-empty after stripping; ``trade_date`` must be ``YYYY-MM-DD``).
9. ``interval_start`` not ISO 8601, or without an explicit whole-minute offset: ``naive_timestamp``.
10. interval length not allowed, or start off the interval grid: ``bad_interval``. The grid is
    checked on the local wall clock of the given offset (seconds must be 0; for intervals up to
    60 minutes the minute of the hour must be a multiple of the interval).
11. interval start after ``now_ms + policy.max_future_ms``: ``future_timestamp``.
12. price, load or gas price outside its band (the floor and cap themselves are valid): ``out_of_band``.
13. all three price components present and ``|lmp - (energy + congestion + loss)|`` above the
    tolerance (plus 1e-9 for float rounding): ``component_mismatch``.

Revision checks (duplicates, stale versions) need state and live in :mod:`streamer.revisions`.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, Final

import orjson

from streamer.policy import Band, ValidationPolicy
from streamer.reasons import Reason
from streamer.schemas import REQUIRED_FIELDS
from streamer.topics import Kind

__all__ = ["DAY_MS", "MAX_DEPTH", "Accepted", "Rejected", "validate"]

MAX_DEPTH: Final = 64
"""Deepest accepted nesting of arrays and objects (the top-level object is depth 1)."""

DAY_MS: Final = 86_400_000
_MINUTE_MS: Final = 60_000
_COMPONENT_EPSILON: Final = 1e-9
_BOM: Final = b"\xef\xbb\xbf"
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_SHOW_CHARS: Final = 40
_STRINGS: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS: Final = re.compile(rb"[\[\]{}]")
_COMPONENTS: Final = ("energy", "congestion", "loss")


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class Accepted:
    """A valid message: its series key, event time and normalised record."""

    kind: Kind
    key: str
    event_time_ms: int
    interval_ms: int
    version: int
    record: dict[str, Any]


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class Rejected:
    """An invalid message: a stable reason code and one human-readable line."""

    reason: Reason
    detail: str


class _Reject(Exception):
    """Internal control flow: a check failed. Never escapes :func:`validate`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.rejected = Rejected(reason, detail)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def validate(value: bytes | None, kind: Kind, policy: ValidationPolicy, now_ms: int) -> Accepted | Rejected:
    """Validate one raw message of ``kind``. See the module docstring for the order of checks."""
    if not value:
        detail = "null value (tombstone)" if value is None else "zero-length value"
        return Rejected(Reason.EMPTY_VALUE, detail)
    if len(value) > policy.max_value_bytes:
        return Rejected(Reason.TOO_LARGE, f"{len(value)} bytes > limit {policy.max_value_bytes}")
    if value.startswith(_BOM):
        value = value[3:]
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _undecodable(value, exc)
    if type(obj) is not dict:
        if type(obj) is list and _too_deep(value):
            return Rejected(Reason.NOT_JSON, f"nesting deeper than {MAX_DEPTH} levels")
        return Rejected(Reason.NOT_OBJECT, f"top-level JSON {_json_type(obj)}, expected object")
    try:
        _check_structure(obj, value)
        return _BY_KIND[kind](obj, policy, now_ms)
    except _Reject as rej:
        return rej.rejected


# -- decoding and structure ------------------------------------------------------------------------


def _undecodable(value: bytes, exc: orjson.JSONDecodeError) -> Rejected:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejected(Reason.NOT_UTF8, f"invalid UTF-8 at byte {bad.start}: {bad.reason}")
    if not value:
        return Rejected(Reason.NOT_JSON, "byte order mark only, no JSON")
    return Rejected(Reason.NOT_JSON, " ".join(str(exc).split()))


def _check_structure(obj: dict[str, Any], value: bytes) -> None:
    """Reject too deep nesting and repeated keys, cheaply for the common flat message.

    Fast path, exact for a flat object without backslashes: every raw ``"`` then delimits a string,
    so ``raw quotes / 2`` counts the key and string-value tokens. Without repeats that equals
    ``len(obj)`` plus the number of string values; a repeated key adds at least one key token the
    parsed dict does not have. Anything else (nested containers, escapes, a repeat) takes the slow
    path: a nesting scan of the raw text, then the standard library's ``object_pairs_hook``, which
    also names the repeated key.
    """
    types = list(map(type, obj.values()))
    if (
        dict not in types
        and list not in types
        and value.find(b"\\") < 0
        and value.count(b'"') == 2 * (len(obj) + types.count(str))
    ):
        return
    if _too_deep(value):
        raise _Reject(Reason.NOT_JSON, f"nesting deeper than {MAX_DEPTH} levels")
    repeated = _repeated_key(value)
    if repeated is not None:
        raise _Reject(Reason.DUPLICATE_KEY, f"object repeats key {_show(repeated)}")


def _too_deep(value: bytes) -> bool:
    """Whether valid JSON ``value`` nests arrays/objects deeper than MAX_DEPTH.

    Scans the raw text, not the parsed value: a repeated key may hide a deep value from the dict.
    """
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", value)):
        if bracket in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise _DuplicateKey(name)
        seen.add(name)


def _discard(_literal: str) -> None:
    return None


def _repeated_key(value: bytes) -> str | None:
    """The first repeated key of any object in ``value`` (valid JSON, depth <= MAX_DEPTH), or None."""
    try:
        json.loads(
            value.decode("utf-8"),
            object_pairs_hook=_unique_pairs,
            parse_int=_discard,
            parse_float=_discard,
        )
    except _DuplicateKey as dup:
        return dup.key
    return None


# -- field checks ------------------------------------------------------------------------------------
# Each check takes the field name and its parsed value and returns the normalised value; the callers
# write it back into the record. Plain functions and one itemgetter per kind keep the hot path short.

_GETTERS: Final = {kind: itemgetter(*names) for kind, names in REQUIRED_FIELDS.items()}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) is int or type(value) is float:
        return "number"
    if type(value) is str:
        return "string"
    if type(value) is list:
        return "array"
    return "object"


def _show(text: str) -> str:
    """A short, single-line rendering of untrusted text for a detail."""
    if len(text) > _SHOW_CHARS:
        return repr(text[:_SHOW_CHARS]) + "..."
    return repr(text)


def _required(obj: dict[str, Any], kind: Kind) -> tuple[Any, ...]:
    """The required fields' values in contract order; the first absent or null one is rejected."""
    try:
        values: tuple[Any, ...] = _GETTERS[kind](obj)
    except KeyError:
        values = (None,)
    if None in values:
        for name in REQUIRED_FIELDS[kind]:
            if obj.get(name) is None:
                raise _Reject(Reason.MISSING_FIELD, f"{name} is {'null' if name in obj else 'absent'}")
    return values


def _wrong_type(name: str, value: object, expected: str) -> _Reject:
    return _Reject(Reason.WRONG_TYPE, f"{name} is a {_json_type(value)}, expected {expected}")


def _label(name: str, value: object) -> str:
    """A non-empty string, stripped."""
    if type(value) is not str:
        raise _wrong_type(name, value, "string")
    stripped = value.strip()
    if not stripped:
        raise _Reject(Reason.WRONG_TYPE, f"{name} is an empty string")
    return stripped


def _text(name: str, value: object) -> str:
    if type(value) is not str:
        raise _wrong_type(name, value, "string")
    return value


def _number(name: str, value: object) -> float:
    """A JSON number as float. orjson never yields inf or NaN (they are ``not_json``)."""
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _wrong_type(name, value, "number")


def _integer(name: str, value: object, minimum: int | None) -> int:
    """A JSON integer literal (not bool, not 1.0)."""
    if type(value) is not int:
        raise _wrong_type(name, value, "integer")
    if minimum is not None and value < minimum:
        raise _Reject(Reason.WRONG_TYPE, f"{name} {value} is below {minimum}")
    return value


def _components(obj: dict[str, Any]) -> float | None:
    """Type-check the optional price components; their sum when all three are present."""
    total = 0.0
    complete = True
    for name in _COMPONENTS:
        value = obj.get(name)
        if value is None:
            complete = False
        else:
            value = obj[name] = _number(name, value)
            total += value
    return total if complete else None


def _start_ms(text: str, minutes: int, policy: ValidationPolicy, now_ms: int) -> int:
    """Parse and check ``interval_start``: offset, interval length, grid and future limit."""
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise _Reject(Reason.NAIVE_TIMESTAMP, f"interval_start {_show(text)} is not ISO 8601") from None
    offset = start.utcoffset()
    if offset is None:
        what = "is a date without time or offset" if len(text) <= 10 else "has no UTC offset"
        raise _Reject(Reason.NAIVE_TIMESTAMP, f"interval_start {_show(text)} {what}")
    if offset.seconds % 60 or offset.microseconds:
        raise _Reject(Reason.NAIVE_TIMESTAMP, f"interval_start {_show(text)} offset is not whole minutes")
    if minutes not in policy.allowed_interval_minutes:
        allowed = sorted(policy.allowed_interval_minutes)
        raise _Reject(Reason.BAD_INTERVAL, f"interval_minutes {minutes} not in {allowed}")
    if start.second or start.microsecond or (0 < minutes <= 60 and start.minute % minutes):
        raise _Reject(Reason.BAD_INTERVAL, f"interval_start {_show(text)} is off the {minutes}-minute grid")
    # Integer arithmetic on the fields (seconds are 0 here): half the cost of (start - epoch) // 1 ms.
    local_s = (start.toordinal() - _EPOCH_ORDINAL) * 86_400 + start.hour * 3600 + start.minute * 60
    start_ms = (local_s - offset.days * 86_400 - offset.seconds) * 1000
    if start_ms > now_ms + policy.max_future_ms:
        _not_future(start_ms, text, policy, now_ms)
    return start_ms


def _trade_date_ms(text: str, policy: ValidationPolicy, now_ms: int) -> int:
    """00:00 UTC of a strict ``YYYY-MM-DD`` date (``date.fromisoformat`` alone also takes 20210217)."""
    day: date | None = None
    if len(text) == 10 and text.isascii() and text[4] == "-" and text[7] == "-":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    if day is None:
        raise _Reject(Reason.WRONG_TYPE, f"trade_date {_show(text)} is not YYYY-MM-DD")
    start_ms = (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS
    _not_future(start_ms, text, policy, now_ms)
    return start_ms


def _not_future(start_ms: int, text: str, policy: ValidationPolicy, now_ms: int) -> None:
    if start_ms > now_ms + policy.max_future_ms:
        ahead_s = (start_ms - now_ms) // 1000
        raise _Reject(
            Reason.FUTURE_TIMESTAMP,
            f"{_show(text)} is {ahead_s} s ahead of now (limit {policy.max_future_ms // 1000} s)",
        )


def _in_band(name: str, value: float, band: Band, market: str) -> None:
    if not band.floor <= value <= band.cap:
        raise _Reject(
            Reason.OUT_OF_BAND, f"{name} {value!r} outside {market} band [{band.floor!r}, {band.cap!r}]"
        )


def _accept(
    obj: dict[str, Any], kind: Kind, key: str, start_ms: int, interval_ms: int, version: int
) -> Accepted:
    # One string per series however many events name it: the detectors, the stale timer's heap and the
    # window index each keep the key of the event they saw, and 100k series held 4 copies each.
    key = sys.intern(key)
    obj["key"] = key
    obj["interval_start_ms"] = start_ms
    obj["interval_end_ms"] = start_ms + interval_ms
    return Accepted(kind, key, start_ms, interval_ms, version, obj)


# -- kinds -------------------------------------------------------------------------------------------


def _price(obj: dict[str, Any], policy: ValidationPolicy, now_ms: int) -> Accepted:
    market, node, start, minutes, lmp, currency, version, source = _required(obj, Kind.PRICES)
    market = obj["market"] = _label("market", market).upper()
    node = obj["node"] = _label("node", node)
    _text("interval_start", start)
    _integer("interval_minutes", minutes, None)
    lmp = obj["lmp"] = _number("lmp", lmp)
    components = _components(obj)
    _text("currency", currency)
    _integer("version", version, 1)
    _text("source", source)
    start_ms = _start_ms(start, minutes, policy, now_ms)
    _in_band("lmp", lmp, policy.price_band(market), market)
    if components is not None and abs(lmp - components) > policy.component_tolerance + _COMPONENT_EPSILON:
        raise _Reject(
            Reason.COMPONENT_MISMATCH,
            f"lmp {lmp!r} != energy+congestion+loss {round(components, 6)!r} "
            f"(tolerance {policy.component_tolerance!r})",
        )
    return _accept(obj, Kind.PRICES, f"{market}:{node}", start_ms, minutes * _MINUTE_MS, version)


def _load(obj: dict[str, Any], policy: ValidationPolicy, now_ms: int) -> Accepted:
    market, zone, start, minutes, mw, version, source = _required(obj, Kind.LOAD)
    market = obj["market"] = _label("market", market).upper()
    zone = obj["zone"] = _label("zone", zone)
    _text("interval_start", start)
    _integer("interval_minutes", minutes, None)
    mw = obj["mw"] = _number("mw", mw)
    _integer("version", version, 1)
    _text("source", source)
    start_ms = _start_ms(start, minutes, policy, now_ms)
    _in_band("mw", mw, policy.load_band, market)
    return _accept(obj, Kind.LOAD, f"{market}:{zone}", start_ms, minutes * _MINUTE_MS, version)


def _gas(obj: dict[str, Any], policy: ValidationPolicy, now_ms: int) -> Accepted:
    market, hub, trade_date, price, unit, version, source = _required(obj, Kind.GAS)
    market = obj["market"] = _label("market", market).upper()
    hub = obj["hub"] = _label("hub", hub)
    _text("trade_date", trade_date)
    price = obj["price"] = _number("price", price)
    _text("unit", unit)
    _integer("version", version, 1)
    _text("source", source)
    start_ms = _trade_date_ms(trade_date, policy, now_ms)
    _in_band("price", price, policy.gas_band, market)
    return _accept(obj, Kind.GAS, f"{market}:{hub}", start_ms, DAY_MS, version)


_BY_KIND: Final = {Kind.PRICES: _price, Kind.LOAD: _load, Kind.GAS: _gas}
