"""The published JSON Schemas: checked-in files are current, real messages pass, broken ones do not."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.schemas import OPTIONAL_FIELDS, REQUIRED_FIELDS, SCHEMA_FILES, dumps_schema, json_schema
from streamer.topics import Kind
from streamer.validation import Accepted, Rejected, validate

DATA = Path(__file__).resolve().parents[2] / "data"
NOW_MS = 1_900_200_000_000


def real_messages(kind: Kind) -> list[dict[str, Any]]:
    """A handful of real rows per kind (AEMO SA1 prices, EKPC load, Henry Hub gas), as raw messages."""
    if kind is Kind.PRICES:
        lines = (DATA / "aemo_sa1" / "DATA200811_SA1.csv").read_text().splitlines()[1:300]
        out = []
        for line in lines:
            region, stamp, _demand, rrp, _ = line.split(",")
            # SETTLEMENTDATE is the interval end in NEM time; these rows are never at 00:00.
            day, clock = stamp.strip('"').replace("/", "-").split(" ")
            hours, minutes, _ = (int(p) for p in clock.split(":"))
            start = hours * 60 + minutes - 30
            if start < 0:
                continue
            out.append(
                {
                    "market": "AEMO",
                    "node": region,
                    "interval_start": f"{day}T{start // 60:02d}:{start % 60:02d}:00+10:00",
                    "interval_minutes": 30,
                    "lmp": float(rrp),
                    "currency": "AUD",
                    "version": 1,
                    "source": "aemo-dispatch",
                }
            )
        return out
    if kind is Kind.LOAD:
        lines = (DATA / "pjm_hourly_kaggle" / "EKPC_hourly.csv").read_text().splitlines()[1:23]
        out = []
        for line in lines:
            stamp, mw = line.split(",")
            day, clock = stamp.split(" ")
            dd, mm, yyyy = day.split("-")
            hour_ending = int(clock[:2])
            out.append(
                {
                    "market": "PJM",
                    "zone": "EKPC",
                    "interval_start": f"{yyyy}-{mm}-{dd}T{hour_ending - 1:02d}:00:00-05:00",
                    "interval_minutes": 60,
                    "mw": float(mw),
                    "version": 1,
                    "source": "pjm-load",
                }
            )
        return out
    lines = (DATA / "eia_henry_hub" / "Henry_Hub_Natural_Gas_Spot_Price_daily.csv").read_text()
    out = []
    for line in lines.splitlines()[5:60]:
        day, _, price = line.partition(",")
        month, dom, year = (int(part) for part in day.split("/"))
        out.append(
            {
                "market": "EIA",
                "hub": "HENRY",
                "trade_date": date(year, month, dom).isoformat(),
                "price": float(price),
                "unit": "USD/MMBtu",
                "version": 1,
                "source": "eia",
            }
        )
    return out


@pytest.mark.parametrize("kind", list(Kind))
def test_checked_in_schema_files_equal_json_schema_output(kind: Kind) -> None:
    checked_in = files("streamer.schemas").joinpath(SCHEMA_FILES[kind]).read_bytes()
    assert checked_in == dumps_schema(kind), "regenerate with: python -m streamer.schemas"
    assert orjson.loads(checked_in) == json_schema(kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_schema_is_valid_draft_2020_12_and_names_the_contract_fields(kind: Kind) -> None:
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == list(REQUIRED_FIELDS[kind])
    assert set(schema["properties"]) == {*REQUIRED_FIELDS[kind], *OPTIONAL_FIELDS[kind]}
    assert schema["additionalProperties"] is True


@pytest.mark.parametrize("kind", list(Kind))
def test_real_valid_messages_validate_against_the_schema(kind: Kind) -> None:
    checker = jsonschema.Draft202012Validator(json_schema(kind))
    messages = real_messages(kind)
    assert len(messages) > 20
    for message in messages:
        assert isinstance(validate(orjson.dumps(message), kind, ValidationPolicy(), NOW_MS), Accepted)
        checker.validate(message)
        checker.validate(dict(message, forward_compatible_field={"any": [1]}))


BROKEN: list[tuple[Kind, dict[str, Any]]] = [
    (Kind.PRICES, {"lmp": "42.17"}),
    (Kind.PRICES, {"lmp": True}),
    (Kind.PRICES, {"energy": "1"}),
    (Kind.PRICES, {"node": ...}),
    (Kind.PRICES, {"node": "  "}),
    (Kind.PRICES, {"market": 1}),
    (Kind.PRICES, {"version": 0}),
    (Kind.PRICES, {"version": "1"}),
    (Kind.PRICES, {"interval_minutes": "30"}),
    (Kind.PRICES, {"interval_start": "2008-11-01T00:00:00"}),
    (Kind.PRICES, {"currency": ...}),
    (Kind.LOAD, {"mw": None}),
    (Kind.LOAD, {"mw": "1861"}),
    (Kind.LOAD, {"zone": ...}),
    (Kind.LOAD, {"source": 3}),
    (Kind.GAS, {"price": "23.86"}),
    (Kind.GAS, {"trade_date": "20210217"}),
    (Kind.GAS, {"hub": None}),
    (Kind.GAS, {"unit": ...}),
]


@pytest.mark.parametrize(("kind", "changes"), BROKEN)
def test_messages_the_validator_rejects_for_shape_fail_the_schema(
    kind: Kind, changes: dict[str, Any]
) -> None:
    message = {**real_messages(kind)[0], **changes}
    message = {k: v for k, v in message.items() if v is not ...}
    result = validate(orjson.dumps(message), kind, ValidationPolicy(), NOW_MS)
    assert isinstance(result, Rejected)
    assert result.reason in {Reason.MISSING_FIELD, Reason.WRONG_TYPE, Reason.NAIVE_TIMESTAMP}
    assert not jsonschema.Draft202012Validator(json_schema(kind)).is_valid(message)
