"""Every published schema, by topic: the files in ``streamer/schemas/`` and the released baselines.

The files are generated from :mod:`streamer.schemas` (raw inputs) and :mod:`streamer.schemas.outputs`
(outputs) by ``python -m streamer.schemas``; a unit test fails when a checked-in file is not current.
``released/v<major>/`` holds each schema as it was released; :mod:`streamer.schemas.evolution` holds the
current files to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from types import MappingProxyType
from typing import Any

import orjson

from streamer.schemas import SCHEMA_FILES, json_schema
from streamer.schemas.outputs import DLQ_HEADERS, OUTPUT_SCHEMAS, output_schema
from streamer.schemas.version import SCHEMA_MAJOR
from streamer.topics import Kind

__all__ = [
    "SCHEMA_FILE_BY_TOPIC",
    "UnknownTopicError",
    "generated_files",
    "load_released",
    "load_schema",
    "released_files",
    "render",
]

_BY_TOPIC: dict[str, str] = {f"raw.{kind.value}": SCHEMA_FILES[kind] for kind in Kind}
_BY_TOPIC |= {name: f"{name}.json" for name in OUTPUT_SCHEMAS if name != DLQ_HEADERS}
_BY_TOPIC["dlq"] = f"{DLQ_HEADERS}.json"  # the DLQ value is the original bytes: its headers are the contract

SCHEMA_FILE_BY_TOPIC: Mapping[str, str] = MappingProxyType(_BY_TOPIC)
"""Unprefixed topic name -> schema file name (``dlq`` -> the schema of its headers)."""


class UnknownTopicError(KeyError):
    """No published schema for this topic name."""


def render(schema: Mapping[str, Any]) -> bytes:
    """A schema as its checked-in file: indented JSON and a final newline."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def generated_files() -> dict[str, bytes]:
    """File name -> content of every schema, freshly generated from the code."""
    out = {SCHEMA_FILES[kind]: render(json_schema(kind)) for kind in Kind}
    out |= {f"{name}.json": render(output_schema(name)) for name in OUTPUT_SCHEMAS}
    return out


def _file_name(topic: str) -> str:
    try:
        return SCHEMA_FILE_BY_TOPIC[topic]
    except KeyError:
        known = ", ".join(SCHEMA_FILE_BY_TOPIC)
        raise UnknownTopicError(f"no schema for topic {topic!r}; known: {known}") from None


def load_schema(topic: str) -> dict[str, Any]:
    """The published schema of ``topic`` (unprefixed), as shipped with the package."""
    data = files("streamer.schemas").joinpath(_file_name(topic)).read_bytes()
    schema: dict[str, Any] = orjson.loads(data)
    return schema


def released_files(major: int = SCHEMA_MAJOR) -> dict[str, bytes]:
    """File name -> content of every schema released as ``major``."""
    folder = files("streamer.schemas").joinpath("released", f"v{major}")
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.name.endswith(".json")}


def load_released(topic: str, major: int = SCHEMA_MAJOR) -> dict[str, Any]:
    data = files("streamer.schemas").joinpath("released", f"v{major}", _file_name(topic)).read_bytes()
    schema: dict[str, Any] = orjson.loads(data)
    return schema
