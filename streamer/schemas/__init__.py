"""Message contracts of the raw topics: field lists and a published JSON Schema.

The field lists drive the hand-written validator in :mod:`streamer.validation`. The JSON Schema
(draft 2020-12) is for consumers and producers; the validator never calls a schema library.

Known differences, both on the validator's side being stricter:
- ``version`` and ``interval_minutes`` must be JSON integer literals for the validator; JSON Schema's
  ``integer`` also admits ``1.0``.
- price bands, allowed interval lengths, the interval grid and the future limit are policy
  (:class:`streamer.policy.ValidationPolicy`), not contract, so the schema does not state them.

The output topics' contracts are in :mod:`streamer.schemas.outputs`, every topic's schema file in
:mod:`streamer.schemas.catalog`, the evolution rule in :mod:`streamer.schemas.evolution`. Regenerate every
checked-in schema file (``price.json``, ``enriched.prices.json``, ...) with ``python -m streamer.schemas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from streamer.topics import Kind

__all__ = [
    "ADDED_FIELDS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "SCHEMA_FILES",
    "dumps_schema",
    "json_schema",
]

PRICE_REQUIRED: tuple[str, ...] = (
    "market",
    "node",
    "interval_start",
    "interval_minutes",
    "lmp",
    "currency",
    "version",
    "source",
)
LOAD_REQUIRED: tuple[str, ...] = (
    "market",
    "zone",
    "interval_start",
    "interval_minutes",
    "mw",
    "version",
    "source",
)
GAS_REQUIRED: tuple[str, ...] = ("market", "hub", "trade_date", "price", "unit", "version", "source")

REQUIRED_FIELDS: Mapping[Kind, tuple[str, ...]] = MappingProxyType(
    {Kind.PRICES: PRICE_REQUIRED, Kind.LOAD: LOAD_REQUIRED, Kind.GAS: GAS_REQUIRED}
)
"""Fields that must be present and not JSON null, in the order the validator checks them."""

OPTIONAL_FIELDS: Mapping[Kind, tuple[str, ...]] = MappingProxyType(
    {Kind.PRICES: ("energy", "congestion", "loss"), Kind.LOAD: (), Kind.GAS: ()}
)
"""Fields the contract names but does not require (null means absent)."""

ADDED_FIELDS: tuple[str, ...] = ("key", "interval_start_ms", "interval_end_ms")
"""Fields the validator adds to every accepted record (overwriting input fields of the same name)."""

SCHEMA_FILES: Mapping[Kind, str] = MappingProxyType(
    {Kind.PRICES: "price.json", Kind.LOAD: "load.json", Kind.GAS: "gas.json"}
)

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# An explicit UTC offset at the end: "Z" or +hh:mm (ISO 8601 basic +hhmm is accepted too).
_OFFSET_PATTERN = "(?:Z|[+-][0-9]{2}:?[0-9]{2})$"


def _label(what: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": "\\S",
        "description": f"{what}; surrounding whitespace is stripped",
    }


def _common() -> dict[str, Any]:
    return {
        "market": _label("market or exchange, e.g. PJM, AEMO, EIA; upper-cased by the validator"),
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "revision number of this interval; a re-sent interval with a higher version "
            "is a revision, a lower one is stale",
        },
        "source": {"type": "string", "description": "name of the feed that produced the message"},
    }


def _interval_fields() -> dict[str, Any]:
    return {
        "interval_start": {
            "type": "string",
            "format": "date-time",
            "pattern": _OFFSET_PATTERN,
            "description": "interval start, ISO 8601 with an explicit offset (naive times are rejected)",
        },
        "interval_minutes": {
            "type": "integer",
            "minimum": 1,
            "description": "interval length; the allowed set is policy (default 5, 15, 30, 60)",
        },
    }


def _number(what: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["number", "null"] if nullable else "number", "description": what}


def json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the raw message of ``kind``. A new dict on every call."""
    properties = _common()
    if kind is Kind.PRICES:
        title, description = "price", "Nodal electricity price for one interval."
        properties |= {"node": _label("pricing node or region, e.g. WESTERN HUB, SA1")}
        properties |= _interval_fields()
        properties |= {
            "lmp": _number("locational marginal price per MWh"),
            "energy": _number("energy component", nullable=True),
            "congestion": _number("congestion component", nullable=True),
            "loss": _number("loss component", nullable=True),
            "currency": {"type": "string", "description": "ISO 4217 code, e.g. USD, AUD"},
        }
    elif kind is Kind.LOAD:
        title, description = "load", "Zonal electric load for one interval."
        properties |= {"zone": _label("load zone, e.g. EKPC")}
        properties |= _interval_fields()
        properties |= {"mw": _number("average load over the interval, MW")}
    else:
        title, description = "gas", "Daily gas hub spot price."
        properties |= {
            "hub": _label("gas hub, e.g. HENRY"),
            "trade_date": {
                "type": "string",
                "format": "date",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "trade date, YYYY-MM-DD; the event time is 00:00 UTC of that day",
            },
            "price": _number("spot price per unit"),
            "unit": {"type": "string", "description": "price unit, e.g. USD/MMBtu"},
        }
    required = list(REQUIRED_FIELDS[kind])
    ordered = {name: properties[name] for name in (*required, *OPTIONAL_FIELDS[kind])}
    return {
        "$schema": _SCHEMA_DIALECT,
        "$id": f"urn:streamer:schema:raw.{kind.value}",
        "title": f"streamer raw {title} message",
        "description": description
        + " Fields not listed here are kept (forward compatibility). A JSON object must not repeat a key.",
        "type": "object",
        "required": required,
        "properties": ordered,
        "additionalProperties": True,
    }


def dumps_schema(kind: Kind) -> bytes:
    """The checked-in file content of ``kind``'s schema: indented JSON and a final newline."""
    return orjson.dumps(json_schema(kind), option=orjson.OPT_INDENT_2) + b"\n"
