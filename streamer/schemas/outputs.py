"""JSON Schemas (draft 2020-12) of the records streamer publishes: the contract of its output topics.

The processor builds plain dicts and encodes them with orjson (the hot path stays free of model classes);
these schemas describe those dicts. They cannot drift apart unnoticed: ``tests/unit/test_contracts.py``
runs the real processor over the real data files and hypothesis-generated inputs and checks every record
against its schema, both ways (nothing required missing, nothing emitted that the schema does not name,
every named field emitted somewhere).

Conventions, for consumers:
- Unknown fields must be ignored: a schema gains optional fields within its major version. An object
  that says ``"additionalProperties": true`` carries fields of the raw input through (enriched records,
  the ``record`` of a late contribution) or is an open map (``context``, counts by reason).
- Times are epoch milliseconds in fields ending ``_ms``, and ISO 8601 with an explicit offset elsewhere.
- The header ``streamer.schema_version`` of every record names the major version of its topic's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from streamer.detectors.base import AnomalyType, Severity
from streamer.dlq import (
    H_DETAIL,
    H_EXCEPTION,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_REPLAY_COUNT,
    H_REPLAY_ID,
    H_TOPIC,
)
from streamer.reasons import Reason
from streamer.schemas import OPTIONAL_FIELDS, REQUIRED_FIELDS, examples, json_schema
from streamer.schemas.version import SCHEMA_MAJOR, SCHEMA_VERSION_HEADER
from streamer.topics import Kind

__all__ = ["DLQ_HEADERS", "EPOCH_MS", "OUTPUT_SCHEMAS", "output_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
EPOCH_MS = "unix-time-ms"
"""The ``format`` of integer fields that are points in time in epoch milliseconds (an annotation)."""
DLQ_HEADERS = "dlq.headers"
"""The name of the schema of the dead-letter record's headers (its value is the original bytes)."""

# RFC 3339 with an explicit offset, as Python's isoformat() writes it (fractional seconds optional).
_ISO_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_DECIMAL = "^(0|[1-9][0-9]*)$"
_WINDOW_NAME = "^[0-9]+[smhd](/[0-9]+[smhd])?$"


def _string(what: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": what, **extra}


def _iso(what: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "pattern": _ISO_PATTERN, "description": what}


def _ms(what: str, nullable: bool = False) -> dict[str, Any]:
    """A point in time as epoch milliseconds (UTC); the format names it for tools (the history sink
    stores it as a timestamp)."""
    return {
        "type": ["integer", "null"] if nullable else "integer",
        "format": EPOCH_MS,
        "description": what + " (epoch ms, UTC)",
    }


def _number(what: str) -> dict[str, Any]:
    return {"type": "number", "description": what}


def _count(what: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "description": what}


def _object(
    description: str,
    properties: dict[str, Any],
    required: list[str] | None = None,
    *,
    open_: bool = False,
    nullable: bool = False,
) -> dict[str, Any]:
    """An object; ``required`` defaults to every property. ``open_``: it carries fields not named here."""
    schema: dict[str, Any] = {
        "type": ["object", "null"] if nullable else "object",
        "description": description,
        "required": list(properties) if required is None else required,
        "properties": properties,
    }
    if open_:
        schema["additionalProperties"] = True
    return schema


def _top(
    name: str, title: str, description: str, body: dict[str, Any], examples: list[Any]
) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": f"urn:streamer:schema:{name}:v{SCHEMA_MAJOR}",
        "title": title,
        "description": description,
        **{k: v for k, v in body.items() if k != "description"},
        "examples": examples,
    }


def _key(kind_label: str) -> dict[str, Any]:
    return _string(f"the series key, MARKET:{kind_label}; also the Kafka record key", pattern=":")


def _origin(nullable: bool = False) -> dict[str, Any]:
    return _object(
        "where the raw record that caused this one was consumed"
        + ("; null for an anomaly the stale-feed timer raised" if nullable else ""),
        {
            "topic": _string("raw topic"),
            "partition": _count("partition of the raw topic"),
            "offset": _count("offset in that partition"),
        },
        nullable=nullable,
    )


def _window_stats() -> dict[str, Any]:
    return {
        "type": "array",
        "description": "the open windows of the series this event counts in, in the worker's --windows "
        "order, with their running statistics including this event; empty for records that add nothing "
        "to a window (late contributions, revisions) and for anomalies of the stale-feed timer",
        "items": _object(
            "one open window",
            {
                "window": _string("window name as configured: 5m, 1h (tumbling), 1h/5m (hopping)"),
                "window_start_ms": _ms("window start, inclusive"),
                "window_end_ms": _ms("window end, exclusive"),
                "count": _count("intervals counted so far", 1),
                "mean": _number("mean so far"),
                "min": _number("minimum so far"),
                "max": _number("maximum so far"),
            },
        ),
    }


_WINDOWED = (Kind.PRICES, Kind.LOAD)  # the kinds with windows and bars


def _kind() -> dict[str, Any]:
    return {"enum": [k.value for k in Kind], "description": "input kind: prices, load or gas"}


_ADDED = {
    "key": _key("NAME"),
    "interval_start_ms": _ms("interval start (gas: 00:00 UTC of the trade date)"),
    "interval_end_ms": _ms("interval end, exclusive"),
}


def _validated(kind: Kind) -> tuple[dict[str, Any], list[str]]:
    """Properties and required fields of the validated record of ``kind``: the raw fields as normalised
    (market upper-cased, labels stripped, numbers as floats) plus ``key`` and the interval in ms."""
    raw = json_schema(kind)["properties"]
    properties = dict(raw)
    if "interval_start" in properties:
        # Kept as sent: any ISO 8601 form with an offset that the validator accepts (also +hhmm); use
        # interval_start_ms for arithmetic.
        start = dict(properties["interval_start"])
        start.pop("format", None)
        start["description"] = "interval start as sent: ISO 8601 with an explicit offset"
        properties["interval_start"] = start
    properties |= _ADDED
    required = [*REQUIRED_FIELDS[kind], *_ADDED]
    ordered = {name: properties[name] for name in (*required, *OPTIONAL_FIELDS[kind])}
    return ordered, required


def _spike(kind: Kind) -> dict[str, Any]:
    if kind is Kind.LOAD:
        return {"type": "null", "description": "always null: no spike detector follows load"}
    return _object(
        "the robust spike score behind the price_spike flag (|value - median| / scaled MAD over the "
        "series' recent history); null until the detector has enough history",
        {
            "score": _number("robust z-like score"),
            "median": _number("rolling median"),
            "mad": _number("rolling median absolute deviation"),
        },
        nullable=True,
    )


def _enriched(kind: Kind) -> dict[str, Any]:
    properties, required = _validated(kind)
    properties |= {
        "late": {
            "type": "boolean",
            "description": "true when a window this event belongs to had already closed (its contribution "
            "went to the late topic), or for a revision of an interval some window of which closed",
        },
        "origin": _origin(),
        "windows": _window_stats()
        if kind in _WINDOWED
        else {"type": "array", "maxItems": 0, "description": "always empty: gas has no windows"},
        "watermark_ms": _ms(
            "the partition's watermark (largest event time seen) after this event; null before any", True
        ),
        "spike": _spike(kind),
        "anomaly_score": _number("the highest score of the anomalies this event raised; 0.0 if none"),
        "anomalies": {
            "type": "array",
            "description": "types of the anomalies this event raised, sorted, each once",
            "uniqueItems": True,
            "items": {"enum": [t.value for t in AnomalyType]},
        },
    }
    enrichment = ["late", "origin", "windows", "watermark_ms", "spike", "anomaly_score", "anomalies"]
    what = {Kind.PRICES: "nodal price", Kind.LOAD: "zonal load", Kind.GAS: "daily gas hub price"}[kind]
    return _top(
        f"enriched.{kind.value}",
        f"streamer enriched {what}",
        f"A valid raw {kind.value} message, normalised, with its window context and anomaly flags. Keyed "
        "by the series key; the Kafka timestamp is the event time (interval_start_ms); the headers are "
        "the raw message's, then streamer.schema_version. Fields of the raw message that the contract "
        "does not name are kept.",
        _object("", properties, [*required, *enrichment], open_=True),
        [examples.ENRICHED[kind]],
    )


def _bars(kind: Kind) -> dict[str, Any]:
    common = {
        "key": _key("NAME"),
        "market": _string("market, the part of the key before the colon"),
    }
    window = {
        "window": _string(
            "window name as configured: 5m, 1h (tumbling), 1h/5m (hopping)", pattern=_WINDOW_NAME
        ),
        "window_start": _iso("window start, inclusive, in the UTC offset of the series' own interval_start"),
        "window_end": _iso("window end, exclusive, in the same offset"),
    }
    if kind is Kind.LOAD:
        properties = (
            common
            | {"zone": _string("load zone, the part of the key after the colon")}
            | window
            | {
                "mean": _number("mean MW of the intervals that start in the window"),
                "min": _number("lowest MW"),
                "max": _number("highest MW"),
                "count": _count("intervals counted", 1),
            }
        )
        example = examples.LOAD_BAR
        title = "streamer load bar"
    else:
        properties = (
            common
            | {"node": _string("pricing node, the part of the key after the colon")}
            | window
            | {
                "open": _number("price of the first interval in the window"),
                "high": _number("highest price"),
                "low": _number("lowest price"),
                "close": _number("price of the last interval in the window"),
                "mean": _number("mean price of the intervals"),
                "min": _number("same as low"),
                "max": _number("same as high"),
                "count": _count("intervals counted", 1),
                "twap": _number("time-weighted average price over the covered intervals"),
            }
        )
        example = examples.PRICE_BAR
        title = "streamer price bar"
    return _top(
        f"bars.{kind.value}",
        title,
        "One record per closed event-time window and series, emitted once, when the partition's "
        "watermark passes the window's end plus the grace period. A window covers [window_start, "
        "window_end) and holds the intervals that start inside it. Keyed by the series key; the Kafka "
        "timestamp is the window end.",
        _object("bar", properties),
        [example],
    )


_CONTEXT_KEYS = (
    "price_spike: median, mad, scale, value; out_of_band: value, cap or floor, margin; flatline: value, "
    "run_length; load_drop: reference, value, drop_fraction; stale_feed: missing_intervals, interval_ms"
)


def _anomalies() -> dict[str, Any]:
    properties = {
        "key": _key("NAME"),
        "type": {"enum": [t.value for t in AnomalyType], "description": "what was detected"},
        "severity": {"enum": [s.value for s in Severity], "description": "info, warning or critical"},
        "score": _number("detector score; higher is more anomalous (spike: robust z-score)"),
        "event_time": _iso("interval start of the event that triggered it, in the series' offset"),
        "detected_at": _iso("when the worker detected it (its clock), in the same offset"),
        "origin": _origin(nullable=True),
        "context": {
            "type": "object",
            "description": f"the numbers behind the decision, by detector ({_CONTEXT_KEYS})",
            "additionalProperties": {"type": "number"},
        },
        "kind": _kind(),
        "windows": _window_stats(),
    }
    example = examples.ANOMALY
    return _top(
        "anomalies",
        "streamer anomaly",
        "One record per detected anomaly. Keyed by the series key; the Kafka timestamp is the event time.",
        _object("anomaly", properties),
        [example],
    )


def _late() -> dict[str, Any]:
    records = []
    for kind in Kind:
        properties, required = _validated(kind)
        records.append(
            _object(f"a validated {kind.value} record", properties, required, open_=True)
            | {"title": kind.value}
        )
    window = _object(
        "a window the event belongs to",
        {
            "window": _string("window name as configured"),
            "window_start_ms": _ms("window start, inclusive"),
            "window_end_ms": _ms("window end, exclusive"),
            "closed": {
                "type": "boolean",
                "description": "reason revision: whether the window had closed when the revision came",
            },
            "watermark_ms": _ms("reason window_closed: the watermark when the event arrived"),
            "reason": _string("reason window_closed: why the window missed it (window_closed)"),
        },
        ["window", "window_start_ms", "window_end_ms"],
    )
    properties = {
        "key": _key("NAME"),
        "kind": _kind(),
        "reason": {
            "enum": ["window_closed", "revision"],
            "description": "window_closed: the event's windows had closed (its bars are out); revision: a "
            "higher version of an interval the windows already counted, so it is not added again",
        },
        "event_time_ms": _ms("interval start of the event"),
        "version": _count("the event's version", 1),
        "watermark_ms": _ms("the partition's watermark when it arrived", True),
        "grace_ms": _count("the worker's grace period"),
        "windows": {
            "type": "array",
            "description": "window_closed: the closed windows it missed; revision: every window of the "
            "interval, with whether it had closed",
            "items": window,
        },
        "origin": _origin(),
        "record": {
            "description": "the validated record, as in enriched.<kind> without the enrichment fields",
            "oneOf": records,
        },
    }
    example = examples.LATE
    return _top(
        "late",
        "streamer late contribution",
        "The contribution of a valid event that no bar counts: its windows had closed, or it revises an "
        "interval the windows already hold. The event itself is in enriched.<kind> too. Keyed by the "
        "series key; the Kafka timestamp is the event time; headers as the raw message's, then "
        "streamer.schema_version.",
        _object("late contribution", properties),
        [example],
    )


def _audit() -> dict[str, Any]:
    maybe_string = {"type": ["string", "null"]}
    maybe_int = {"type": ["integer", "null"]}
    positions = {
        "type": "array",
        "items": _string("[partition]@offset in the DLQ"),
    }
    counts = {"examined": _count("DLQ records the run looked at")}
    for outcome, what in (
        ("replayed", "re-published to their origin (or --to) topic"),
        ("filtered_out", "not selected by the filters"),
        ("loop_guard", "not replayed: replayed --max-replays times already"),
        ("no_origin", "not replayed: no origin topic in their headers"),
        ("transform_skip", "not replayed: the --transform dropped them"),
    ):
        counts[outcome] = _count(f"records {what}")
    counts |= {
        "replayed_by_reason": {
            "type": "object",
            "description": "replayed records by reject reason",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "loop_guard_records": positions | {"description": "where the loop-guarded records are"},
        "transform_skip_records": positions | {"description": "where the transform-skipped records are"},
        "no_origin_records": positions | {"description": "where the records without origin are"},
    }
    properties = {
        "action": {"enum": ["replay"], "description": "what was done"},
        "replay_id": _string("this run's id; also the streamer.replay_id header of what it re-published"),
        "user": _string("who ran it (login name, 'unknown' without one)"),
        "host": _string("where it ran"),
        "started": _iso("start, UTC"),
        "finished": _iso("end, UTC"),
        "dlq_topic": _string("the DLQ topic read"),
        "group_id": _string("the consumer group (and transactional id) holding the replay's progress"),
        "filters": _object(
            "the selection, as given",
            {
                "reason": {"type": "array", "items": {"type": "string"}, "description": "--reason codes"},
                "topic": {"type": "array", "items": {"type": "string"}, "description": "--topic origins"},
                "since": maybe_string | {"description": "--since as written (ISO 8601 or 2h)"},
                "until": maybe_string | {"description": "--until as written"},
                "offset": maybe_string | {"description": "--offset as written (N or P:N)"},
            },
        ),
        "target": _string("--to topic, or 'origin topic'"),
        "options": _object(
            "the other replay options",
            {
                "max_replays": _count("--max-replays"),
                "transform": maybe_string | {"description": "--transform module:function"},
                "rate_per_s": {"type": ["number", "null"], "description": "--rate"},
                "max": maybe_int | {"description": "--max"},
                "limit": maybe_int | {"description": "--limit"},
                "dry_run": {"type": "boolean", "description": "always false: a dry run writes no audit"},
            },
        ),
        "counts": _object("what the run did", counts),
        "status": _string(
            "completed, 'stopped at --max/--limit', or 'failed: <error>' (nothing of the failed chunk "
            "was committed)"
        ),
    }
    example = examples.AUDIT
    return _top(
        "dlq.audit",
        "streamer DLQ replay audit record",
        "One record per real `streamer dlq replay` run (a dry run writes none), keyed by the replay's "
        "consumer group, so the runs of one replay are in order on one partition.",
        _object("audit record", properties),
        [example],
    )


def _dlq_headers() -> dict[str, Any]:
    properties = {
        H_EXCEPTION: _string(
            "exception class; streamer.validation.Rejected for a validation reject, the Python class "
            "(module.Class) for a processing_error"
        ),
        H_MESSAGE: _string("exception message, one line"),
        H_TOPIC: _string("topic the message was consumed from"),
        H_PARTITION: _string("its partition, decimal", pattern=_DECIMAL),
        H_OFFSET: _string("its offset, decimal", pattern=_DECIMAL),
        H_REASON: {
            "type": "string",
            "description": "reject reason code; the codes are stable, new ones may be added: "
            + ", ".join(r.value for r in Reason),
            "enum": [r.value for r in Reason],
        },
        H_DETAIL: _string("one human-readable line"),
        H_REPLAY_COUNT: _string("how many times the message has been replayed, decimal", pattern=_DECIMAL),
        SCHEMA_VERSION_HEADER: _string(
            "major version of this header contract", pattern=_DECIMAL, examples=[str(SCHEMA_MAJOR)]
        ),
        H_REPLAY_ID: _string("the replay run that last re-published the message; absent if never replayed"),
    }
    required = [name for name in properties if name != H_REPLAY_ID]
    example = examples.DLQ_HEADERS
    return _top(
        DLQ_HEADERS,
        "streamer dead-letter record headers",
        "The headers of a record on the dlq topic, as an object of header name to its UTF-8 value (the "
        "last value when a name repeats). The record's key, value and timestamp are the rejected "
        "message's own bytes, unchanged, so the value has no schema. The message's original headers come "
        "first and are kept as they were (any names, any bytes); the names below follow them.",
        _object("headers", properties, required, open_=True),
        [example],
    )


_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "enriched.prices": partial(_enriched, Kind.PRICES),
    "enriched.load": partial(_enriched, Kind.LOAD),
    "enriched.gas": partial(_enriched, Kind.GAS),
    "bars.prices": partial(_bars, Kind.PRICES),
    "bars.load": partial(_bars, Kind.LOAD),
    "anomalies": _anomalies,
    "late": _late,
    "dlq.audit": _audit,
    DLQ_HEADERS: _dlq_headers,
}

OUTPUT_SCHEMAS: Mapping[str, Callable[[], dict[str, Any]]] = MappingProxyType(_BUILDERS)
"""Schema name (the unprefixed topic name, or ``dlq.headers``) -> builder of a fresh schema dict."""


def output_schema(name: str) -> dict[str, Any]:
    """The schema of output ``name`` (see :data:`OUTPUT_SCHEMAS`); a new dict on every call."""
    return OUTPUT_SCHEMAS[name]()
