"""Parquet columns of each sunk topic, typed from its published contract (``streamer/schemas/``).

- an integer of format ``unix-time-ms`` and a ``date-time`` string become ``timestamp[ms, UTC]``;
- a ``date`` string becomes ``date32``, a number ``float64``, an integer ``int64``, a boolean ``bool``;
- a closed object becomes a struct, an array a list, an open map (``context``) a ``map<string, ...>``;
- what has no fixed shape (the ``record`` of a late contribution, any ``oneOf``) is a JSON string;
- ``market`` is not a column: it is the Hive partition (``market=...``), with ``topic`` and ``date``.

Every file also has ``kafka_partition``, ``kafka_offset`` and ``kafka_timestamp`` (where each row was
read; the topic is the ``topic=`` partition), and ``extra_json``: the fields of a record that the contract
does not name (a raw field passed through, or a field a newer minor version added), as a JSON object, else
null. So nothing a record carries is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa

from streamer.schemas.catalog import load_schema
from streamer.schemas.outputs import EPOCH_MS

__all__ = ["KAFKA_COLUMNS", "SINK_TOPICS", "Column", "TableSpec", "table_spec"]

# Contract topic -> the field whose UTC day is the ``date=`` partition (the event time of the record).
SINK_TOPICS: Mapping[str, str] = {
    "enriched.prices": "interval_start_ms",
    "enriched.load": "interval_start_ms",
    "enriched.gas": "interval_start_ms",
    "bars.prices": "window_start",
    "bars.load": "window_start",
    "anomalies": "event_time",
    "late": "event_time_ms",
}
PARTITION_FIELDS = frozenset({"market"})
TIMESTAMP = pa.timestamp("ms", tz="UTC")
KAFKA_COLUMNS = (
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", TIMESTAMP),
)
_DAY_MS = 86_400_000

Convert = Callable[[Any], Any]


@functools.lru_cache(maxsize=65536)
def iso_to_ms(text: str) -> int:
    """``2009-01-29T13:00:00+10:00`` -> epoch milliseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _lift(convert: Convert) -> Convert:
    """A converter that passes None through."""
    return lambda value: None if value is None else convert(value)


def _arrow(schema: Mapping[str, Any]) -> tuple[pa.DataType, Convert | None]:
    """The Arrow type of one property and the conversion of its JSON value (None: as it is)."""
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    kinds = [t for t in types if t != "null"]
    if "oneOf" in schema or "anyOf" in schema or len(kinds) > 1:
        return pa.string(), _json
    kind = kinds[0] if kinds else ("string" if "enum" in schema or types == ["null"] else "json")
    fmt = schema.get("format")
    if kind == "integer":
        return (TIMESTAMP, None) if fmt == EPOCH_MS else (pa.int64(), None)
    if kind == "number":
        return pa.float64(), None
    if kind == "boolean":
        return pa.bool_(), None
    if kind == "string":
        if fmt == "date-time":
            return TIMESTAMP, _lift(iso_to_ms)
        if fmt == "date":
            return pa.date32(), _lift(date.fromisoformat)
        return pa.string(), None
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return pa.list_(pa.string()), _lift(lambda values: [_json(v) for v in values])
        item_type, item_convert = _arrow(items)
        if item_convert is None:
            return pa.list_(item_type), None
        convert_item = item_convert
        return pa.list_(item_type), _lift(lambda values: [convert_item(v) for v in values])
    if kind == "object":
        extra = schema.get("additionalProperties")  # absent: closed, by the contracts' convention
        properties = schema.get("properties")
        if properties and extra is not True:
            return _struct(properties)
        if properties is None and isinstance(extra, Mapping):
            value_type, value_convert = _arrow(extra)
            if value_convert is None:
                return pa.map_(pa.string(), value_type), _lift(lambda m: list(m.items()))
            convert_value = value_convert
            return pa.map_(pa.string(), value_type), _lift(
                lambda m: [(k, convert_value(v)) for k, v in m.items()]
            )
    return pa.string(), _json


def _struct(properties: Mapping[str, Any]) -> tuple[pa.DataType, Convert | None]:
    fields = []
    converts: dict[str, Convert] = {}
    for name, sub in properties.items():
        arrow_type, convert = _arrow(sub)
        fields.append(pa.field(name, arrow_type))
        if convert is not None:
            converts[name] = convert
    if not converts:
        return pa.struct(fields), None
    return pa.struct(fields), _lift(
        lambda value: {k: converts[k](v) if k in converts else v for k, v in value.items()}
    )


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    convert: Convert | None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How records of one contract topic become an Arrow table."""

    topic: str
    columns: tuple[Column, ...]
    schema: pa.Schema
    date_field: str

    def day(self, record: Mapping[str, Any]) -> str:
        """The UTC day of the record's event time, ``YYYY-MM-DD`` (the ``date=`` partition)."""
        value = record[self.date_field]
        ms = iso_to_ms(value) if isinstance(value, str) else int(value)
        return _day(ms // _DAY_MS)

    def table(
        self, records: Sequence[Mapping[str, Any]], positions: Sequence[tuple[int, int, int | None]]
    ) -> pa.Table:
        """The table of ``records``; ``positions`` are their (partition, offset, Kafka timestamp)."""
        arrays = []
        for column in self.columns:
            values = [record.get(column.name) for record in records]
            if column.convert is not None:
                convert = column.convert
                values = [convert(v) for v in values]
            arrays.append(pa.array(values, type=column.type))
        known = {column.name for column in self.columns} | PARTITION_FIELDS
        extra = [{k: v for k, v in record.items() if k not in known} for record in records]
        arrays.append(pa.array([orjson.dumps(e).decode() if e else None for e in extra], type=pa.string()))
        partitions, offsets, stamps = zip(*positions, strict=True) if positions else ((), (), ())
        arrays.append(pa.array(partitions, type=pa.int32()))
        arrays.append(pa.array(offsets, type=pa.int64()))
        arrays.append(pa.array(stamps, type=TIMESTAMP))
        return pa.Table.from_arrays(arrays, schema=self.schema)


@functools.lru_cache(maxsize=4096)
def _day(day_number: int) -> str:
    return date.fromordinal(date(1970, 1, 1).toordinal() + day_number).isoformat()


@functools.cache
def table_spec(topic: str) -> TableSpec:
    """The spec of contract topic ``topic`` (one of :data:`SINK_TOPICS`)."""
    schema = load_schema(topic)
    columns = []
    for name, sub in schema["properties"].items():
        if name in PARTITION_FIELDS:
            continue
        arrow_type, convert = _arrow(sub)
        columns.append(Column(name, arrow_type, convert))
    fields = [pa.field(c.name, c.type) for c in columns]
    fields += [pa.field("extra_json", pa.string()), *KAFKA_COLUMNS]
    metadata = {"streamer.contract": schema["$id"]}
    return TableSpec(topic, tuple(columns), pa.schema(fields, metadata=metadata), SINK_TOPICS[topic])
