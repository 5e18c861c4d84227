"""The evolution rule: the current schemas are compatible with the released v1, and the check catches each
kind of breaking change (fed broken copies of the real released schemas)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streamer.schemas.catalog import generated_files, load_released, released_files
from streamer.schemas.evolution import breaking_changes, compare_releases
from streamer.schemas.version import SCHEMA_MAJOR


def test_current_schemas_are_compatible_with_the_released_major() -> None:
    released = released_files(SCHEMA_MAJOR)
    assert len(released) == len(generated_files()), "every published schema is released"
    breaks = compare_releases(released, generated_files())
    assert not breaks, "breaking changes within a major version:\n" + "\n".join(map(str, breaks))


Edit = Callable[[dict[str, Any]], None]


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema["properties"]
    return props


BREAKING: list[tuple[str, str, Edit, str]] = [
    ("removed field", "bars.prices", lambda s: _props(s).pop("twap"), "$.twap: property removed"),
    (
        "retyped field",
        "bars.prices",
        lambda s: _props(s)["count"].update(type="string"),
        "$.count: type ['integer'] -> ['string']",
    ),
    (
        "number narrowed to integer",
        "enriched.prices",
        lambda s: _props(s)["lmp"].update(type="integer"),
        "$.lmp: type",
    ),
    (
        "null no longer allowed",
        "enriched.prices",
        lambda s: _props(s)["watermark_ms"].update(type="integer"),
        "no longer ['null']",
    ),
    (
        "new required field",
        "anomalies",
        lambda s: (_props(s).update(region={"type": "string"}), s["required"].append("region")),
        "$.region: new required property",
    ),
    (
        "required field made optional",
        "late",
        lambda s: s["required"].remove("grace_ms"),
        "$.grace_ms: property no longer required",
    ),
    (
        "narrowed enum",
        "anomalies",
        lambda s: _props(s)["type"]["enum"].remove("load_drop"),
        "$.type: enum values removed: ['load_drop']",
    ),
    (
        "nested field removed",
        "enriched.load",
        lambda s: _props(s)["windows"]["items"]["properties"].pop("mean"),
        "$.windows[].mean: property removed",
    ),
    (
        "tighter constraint",
        "bars.load",
        lambda s: _props(s)["count"].update(minimum=2),
        "$.count: minimum 1 -> 2",
    ),
    (
        "closed object",
        "enriched.gas",
        lambda s: s.update(additionalProperties=False),
        "$: additionalProperties closed",
    ),
    (
        "oneOf branch removed",
        "late",
        lambda s: _props(s)["record"]["oneOf"].pop(),
        "$.record: oneOf lost branches",
    ),
    (
        "changed pattern",
        "dlq",
        lambda s: _props(s)["__streams.errors.offset"].update(pattern="^[0-9]{1,6}$"),
        "pattern",
    ),
]


@pytest.mark.parametrize(("case", "topic", "edit", "expected"), BREAKING, ids=[c[0] for c in BREAKING])
def test_a_breaking_change_fails_the_check(case: str, topic: str, edit: Edit, expected: str) -> None:
    released = load_released(topic)
    broken = copy.deepcopy(released)
    edit(broken)
    breaks = [str(b) for b in breaking_changes(released, broken, topic)]
    assert any(expected in b for b in breaks), breaks


def test_the_release_check_fails_on_a_broken_current_schema_and_a_missing_one() -> None:
    current = generated_files()
    broken = orjson.loads(current["enriched.prices.json"])
    broken["properties"].pop("anomalies")
    current["enriched.prices.json"] = orjson.dumps(broken)
    del current["dlq.audit.json"]
    breaks = [str(b) for b in compare_releases(released_files(), current)]
    assert "enriched.prices.json $.anomalies: property removed" in breaks
    assert "dlq.audit.json $: released schema has no current counterpart" in breaks


ADDITIVE: list[tuple[str, str, Edit]] = [
    ("new optional field", "bars.prices", lambda s: _props(s).update(vwap={"type": "number"})),
    ("new enum value", "anomalies", lambda s: _props(s)["type"]["enum"].append("ramp")),
    ("integer widened to number", "bars.load", lambda s: _props(s)["count"].update(type="number")),
    ("field made nullable", "bars.prices", lambda s: _props(s)["twap"].update(type=["number", "null"])),
    ("looser constraint", "late", lambda s: _props(s)["version"].update(minimum=0)),
    ("new description", "late", lambda s: s.update(description="changed words")),
    ("new example", "anomalies", lambda s: s["examples"].append({})),
]


@pytest.mark.parametrize(("case", "topic", "edit"), ADDITIVE, ids=[c[0] for c in ADDITIVE])
def test_an_additive_change_passes(case: str, topic: str, edit: Edit) -> None:
    released = load_released(topic)
    changed = copy.deepcopy(released)
    edit(changed)
    assert breaking_changes(released, changed, topic) == []
