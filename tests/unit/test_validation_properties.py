"""Properties of streamer.validation.validate, checked with hypothesis on real and generated inputs."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.schemas import ADDED_FIELDS, OPTIONAL_FIELDS, REQUIRED_FIELDS
from streamer.topics import Kind
from streamer.validation import Accepted, Rejected, validate
from tests.realdata import EASTERN_WINTER, aemo_price_records, nyiso_price_records

DATA = Path(__file__).resolve().parents[2] / "data"
POLICY = ValidationPolicy()
NOW_MS = 1_900_200_000_000
NEM = timezone(timedelta(hours=10))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def real_messages() -> dict[Kind, list[dict[str, Any]]]:
    """A few valid records per kind from the real files (AEMO SA1, EKPC load, Henry Hub, NYISO)."""
    # The Jan 2009 heatwave (cap-level prices), and NYISO rows with all three components.
    prices = aemo_price_records("200901", 1300, 1340) + nyiso_price_records(version=2)[:5]
    eastern = EASTERN_WINTER
    loads: list[dict[str, Any]] = []
    with (DATA / "pjm_hourly_kaggle" / "EKPC_hourly.csv").open(newline="") as handle:
        for row in list(csv.DictReader(handle))[:20]:  # 31-12-2013: winter, EST
            end = datetime.strptime(row["Datetime"], "%d-%m-%Y %H:%M").replace(tzinfo=eastern)
            loads.append(
                {
                    "market": "PJM",
                    "zone": "EKPC",
                    "interval_start": (end - timedelta(hours=1)).isoformat(),
                    "interval_minutes": 60,
                    "mw": float(row["EKPC_MW"]),
                    "version": 1,
                    "source": "pjm-load",
                }
            )
    lines = (DATA / "eia_henry_hub" / "Henry_Hub_Natural_Gas_Spot_Price_daily.csv").read_text()
    gas: list[dict[str, Any]] = []
    for line in lines.splitlines()[5:25]:
        day, _, value = line.partition(",")
        month, dom, year = (int(part) for part in day.split("/"))
        gas.append(
            {
                "market": "EIA",
                "hub": "HENRY",
                "trade_date": f"{year:04d}-{month:02d}-{dom:02d}",
                "price": float(value),
                "unit": "USD/MMBtu",
                "version": 1,
                "source": "eia",
            }
        )
    return {Kind.PRICES: prices, Kind.LOAD: loads, Kind.GAS: gas}


REAL = real_messages()
kinds = st.sampled_from(list(Kind))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def assert_well_formed(result: Accepted | Rejected) -> None:
    """Property (b): a Rejected carries a Reason member and one non-empty line of detail."""
    if isinstance(result, Rejected):
        assert type(result.reason) is Reason
        assert result.detail.strip()
        assert len(result.detail.splitlines()) == 1
    else:
        assert isinstance(result, Accepted)
        orjson.dumps(result.record)  # every accepted record can be re-encoded downstream


@FAST
@given(value=st.binary(max_size=300), kind=kinds)
@example(value=b"\xef\xbb\xbf\xff", kind=Kind.PRICES)
@example(value=b"[" * 1100, kind=Kind.LOAD)
@example(value=b'{"a":' + b"[" * 900 + b"]" * 900 + b',"a":1}', kind=Kind.GAS)
def test_never_raises_on_arbitrary_bytes(value: bytes, kind: Kind) -> None:
    result = validate(value, kind, POLICY, NOW_MS)
    assert_well_formed(result)
    decodes = True
    try:
        value.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        decodes = False
    is_not_utf8 = isinstance(result, Rejected) and result.reason is Reason.NOT_UTF8
    assert is_not_utf8 is (not decodes)


@FAST
@given(value=json_values, kind=kinds, bom=st.booleans())
def test_never_raises_on_arbitrary_json(value: Any, kind: Kind, bom: bool) -> None:
    raw = orjson.dumps(value)
    result = validate(b"\xef\xbb\xbf" + raw if bom else raw, kind, POLICY, NOW_MS)
    assert_well_formed(result)
    if not isinstance(value, dict):
        assert isinstance(result, Rejected) and result.reason is Reason.NOT_OBJECT


mutations = st.sampled_from(["delete", "null", "swap_type", "replace", "add", "duplicate", "whitespace"])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Kind, bytes]:
    kind = draw(kinds)
    record = dict(draw(st.sampled_from(REAL[kind])))
    names = [*REQUIRED_FIELDS[kind], *OPTIONAL_FIELDS[kind]]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        name = draw(st.sampled_from(names))
        how = draw(mutations)
        if how == "delete":
            record.pop(name, None)
        elif how == "null":
            record[name] = None
        elif how == "swap_type":
            old = record.get(name)
            record[name] = str(old) if not isinstance(old, str) else draw(json_scalars)
        elif how == "replace":
            record[name] = draw(json_values)
        elif how == "add":
            record[draw(st.text(max_size=8))] = draw(json_values)
    raw = orjson.dumps(record)
    if how == "duplicate":
        raw = raw[:-1] + b"," + orjson.dumps(name) + b":" + orjson.dumps(draw(json_scalars)) + b"}"
    elif how == "whitespace":
        raw = raw.replace(b",", b" ,\n\t")
    return kind, raw


@FAST
@given(case=mutated())
def test_never_raises_on_mutated_real_messages(case: tuple[Kind, bytes]) -> None:
    kind, raw = case
    assert_well_formed(validate(raw, kind, POLICY, NOW_MS))


@FAST
@given(case=mutated(), cut=st.integers(min_value=0, max_value=400), byte=st.integers(0, 255))
def test_never_raises_on_corrupted_bytes_of_real_messages(
    case: tuple[Kind, bytes], cut: int, byte: int
) -> None:
    kind, raw = case
    cut %= len(raw)
    for value in (raw[:cut], raw[:cut] + bytes([byte]) + raw[cut + 1 :]):
        assert_well_formed(validate(value, kind, POLICY, NOW_MS))


@FAST
@given(kind=kinds, data=st.data(), extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3))
def test_valid_message_round_trips(kind: Kind, data: st.DataObject, extra: dict[str, Any]) -> None:
    """Property (c): re-validating the normalised record accepts with the same key and event time."""
    real = data.draw(st.sampled_from(REAL[kind]))
    # Unknown fields only: a drawn "energy" of the wrong type is rightly rejected (components are typed).
    extra = {name: value for name, value in extra.items() if name not in OPTIONAL_FIELDS[kind]}
    record = {**extra, **real}
    first = validate(orjson.dumps(record), kind, POLICY, NOW_MS)
    assert isinstance(first, Accepted), first
    for name, value in extra.items():
        if name not in real and name not in ADDED_FIELDS:
            assert first.record[name] == value  # unknown fields are kept as they came
    again = validate(orjson.dumps(first.record), kind, POLICY, NOW_MS)
    assert isinstance(again, Accepted), again
    assert (again.key, again.event_time_ms, again.interval_ms, again.version) == (
        first.key,
        first.event_time_ms,
        first.interval_ms,
        first.version,
    )
    assert again.record == first.record


KEYS = st.sampled_from(["a", "b", 'c"', "d:e", "\\", "\u00e9"])


def _pairs_repeat(pairs: list[tuple[str, Any]]) -> bool:
    return len({name for name, _ in pairs}) != len(pairs)


@FAST
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from(["a", "b", 'c"', "d:e", "\\", "\u00e9"]), json_values), max_size=6
    ),
    spaced=st.booleans(),
)
def test_duplicate_key_is_reported_exactly_when_an_object_repeats_a_key(
    pairs: list[tuple[str, Any]], spaced: bool
) -> None:
    separator, colon = (" , ", " : ") if spaced else (",", ":")
    body = separator.join(f"{json.dumps(k)}{colon}{orjson.dumps(v).decode()}" for k, v in pairs)
    raw = ("{" + body + "}").encode()
    repeats = False

    def hook(object_pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        repeats = repeats or _pairs_repeat(object_pairs)
        return dict(object_pairs)

    json.loads(raw, object_pairs_hook=hook)
    result = validate(raw, Kind.PRICES, POLICY, NOW_MS)
    is_duplicate = isinstance(result, Rejected) and result.reason is Reason.DUPLICATE_KEY
    assert is_duplicate is repeats, (raw, result)


@FAST
@given(
    # st.datetimes takes naive bounds; the offset is attached below.
    local=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(2029, 12, 31)),  # noqa: DTZ001
    offset_minutes=st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    minutes=st.sampled_from(sorted(POLICY.allowed_interval_minutes)),
)
def test_event_time_is_the_utc_instant_of_interval_start(
    local: datetime, offset_minutes: int, minutes: int
) -> None:
    start = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    start = start.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    record = dict(REAL[Kind.PRICES][0], interval_start=start.isoformat(), interval_minutes=minutes)
    result = validate(orjson.dumps(record), Kind.PRICES, POLICY, NOW_MS)
    assert isinstance(result, Accepted), result
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert result.event_time_ms == (start - epoch) // timedelta(milliseconds=1)
    assert result.record["interval_end_ms"] == result.event_time_ms + minutes * 60_000
