"""The evolution rule of the published schemas, as code: within a major version, only additive changes.

A change is breaking when a record valid under one side stops being valid under the other, or a consumer
loses something it was promised:

- a property removed, or its type changed or narrowed (``["number", "null"]`` to ``"number"``; ``number``
  to ``integer``; ``integer`` to ``number`` is a widening and allowed);
- a new required property (records already in a topic or in the history sink lack it), or a property that
  is no longer required (consumers rely on it);
- an enum that lost a value, a const that changed, or an enum/const/type/items where there was none;
- a tighter constraint: a higher ``minimum``/``minLength``/``minItems``, a lower ``maximum``/``maxLength``/
  ``maxItems``, ``uniqueItems`` switched on, or a changed ``pattern``, ``format`` or ``multipleOf``;
- an object closed (``additionalProperties`` false or a schema where it was open);
- an ``anyOf``/``oneOf`` branch removed (branches may only be appended);
- a released schema with no current counterpart.

Allowed: new optional properties, new enum values, new ``anyOf``/``oneOf`` branches at the end, looser
constraints, and any change of ``title``, ``description`` or ``examples``. A breaking change needs a new
major version: a new ``released/v<major+1>/`` and a new ``streamer.schema_version`` header value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Break", "breaking_changes", "compare_releases"]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf")


@dataclass(frozen=True, slots=True)
class Break:
    """One breaking change: where (a JSON path into the schema's records) and what."""

    schema: str
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.schema} {self.path}: {self.what}"


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a schema admits; None for any."""
    if "type" in schema:
        declared = schema["type"]
        return {declared} if isinstance(declared, str) else set(declared)
    if "const" in schema:
        return {_json_type(schema["const"])}
    if "enum" in schema:
        return {_json_type(value) for value in schema["enum"]}
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _covered(old: set[str], new: set[str]) -> set[str]:
    """Old types the new side no longer admits (``number`` admits ``integer``)."""
    return {t for t in old if t not in new and not (t == "integer" and "number" in new)}


def breaking_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], name: str = "", path: str = "$"
) -> list[Break]:
    """Every breaking change from ``old`` to ``new`` (see the module docstring)."""
    found: list[Break] = []

    def flag(what: str, where: str = path) -> None:
        found.append(Break(name, where, what))

    old_types, new_types = _types(old), _types(new)
    if new_types is not None:
        if old_types is None:
            flag(f"type narrowed from any to {sorted(new_types)}")
        elif lost := _covered(old_types, new_types):
            flag(f"type {sorted(old_types)} -> {sorted(new_types)} (no longer {sorted(lost)})")
    if "enum" in new:
        if "enum" not in old:
            flag("enum added where any value was allowed")
        elif removed := [v for v in old["enum"] if v not in new["enum"]]:
            flag(f"enum values removed: {removed}")
    if "const" in new and ("const" not in old or old["const"] != new["const"]):
        flag(f"const {old.get('const')!r} -> {new['const']!r}")
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            flag(f"{keyword} {old.get(keyword)!r} -> {new[keyword]!r}")
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            flag(f"{keyword} {old.get(keyword)!r} -> {new[keyword]!r}")
    for keyword in _EXACT:
        if keyword in new and new[keyword] != old.get(keyword):
            flag(f"{keyword} {old.get(keyword)!r} -> {new[keyword]!r}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        flag("uniqueItems switched on")

    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
    for field in sorted(new_required - old_required):
        flag("new required property", f"{path}.{field}")
    for field in sorted(old_required - new_required):
        flag("property no longer required", f"{path}.{field}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for field, old_sub in old_props.items():
        if field not in new_props:
            flag("property removed", f"{path}.{field}")
        else:
            found.extend(breaking_changes(old_sub, new_props[field], name, f"{path}.{field}"))

    old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if isinstance(new_extra, Mapping):
        if isinstance(old_extra, Mapping):
            found.extend(breaking_changes(old_extra, new_extra, name, f"{path}.*"))
        elif old_extra is not False:
            flag("additionalProperties closed to a schema")
    elif new_extra is False and old_extra is not False:
        flag("additionalProperties closed")

    if "items" in new:
        if "items" not in old:
            flag("items constrained where any item was allowed")
        else:
            found.extend(breaking_changes(old["items"], new["items"], name, f"{path}[]"))
    for keyword in ("anyOf", "oneOf"):
        old_branches, new_branches = old.get(keyword, []), new.get(keyword, [])
        if keyword in new and keyword not in old:
            flag(f"{keyword} added")
        if len(new_branches) < len(old_branches):
            flag(f"{keyword} lost branches ({len(old_branches)} -> {len(new_branches)})")
        for i, (old_branch, new_branch) in enumerate(zip(old_branches, new_branches, strict=False)):
            found.extend(breaking_changes(old_branch, new_branch, name, f"{path}<{keyword}[{i}]>"))
    return found


def compare_releases(released: Mapping[str, bytes], current: Mapping[str, bytes]) -> list[Break]:
    """Breaking changes from every released schema file to the current one of the same name."""
    found: list[Break] = []
    for file_name, released_bytes in sorted(released.items()):
        if file_name not in current:
            found.append(Break(file_name, "$", "released schema has no current counterpart"))
            continue
        found.extend(
            breaking_changes(orjson.loads(released_bytes), orjson.loads(current[file_name]), file_name)
        )
    return found
