"""Example and edge-table tests of streamer.validation on messages built from the real data files."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.policy import Band, ValidationPolicy
from streamer.reasons import Reason
from streamer.topics import Kind
from streamer.validation import DAY_MS, MAX_DEPTH, Accepted, Rejected, validate
from tests.realdata import nyiso_price_records

DATA = Path(__file__).resolve().parents[2] / "data"
NEM = timezone(timedelta(hours=10))
EASTERN_WINTER = timezone(timedelta(hours=-5))
POLICY = ValidationPolicy()
NOW_MS = 1_900_200_000_000  # 2030-03-20 01:20 UTC, on the 5-minute grid; all real data is older


# -- minimal CSV reading of the real files (the real feed converters live in streamer/feeds) ----------


def aemo_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((DATA / "aemo_sa1").glob("*.csv")):
        with path.open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def aemo_message(row: dict[str, str]) -> bytes:
    """SETTLEMENTDATE is the interval end in NEM time; RRP goes in as its literal CSV text."""
    end = datetime.strptime(row["SETTLEMENTDATE"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=NEM)
    start = (end - timedelta(minutes=30)).isoformat()
    return (
        f'{{"market":"AEMO","node":"{row["REGION"]}","interval_start":"{start}","interval_minutes":30,'
        f'"lmp":{row["RRP"]},"currency":"AUD","version":1,"source":"aemo-dispatch"}}'
    ).encode()


def ekpc_messages(limit: int) -> list[bytes]:
    """EKPC hourly load, hour-ending Eastern time; the first rows are December 2013 (EST, -05:00)."""
    messages: list[bytes] = []
    with (DATA / "pjm_hourly_kaggle" / "EKPC_hourly.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            end = datetime.strptime(row["Datetime"], "%d-%m-%Y %H:%M").replace(tzinfo=EASTERN_WINTER)
            if end.month not in (12, 1, 2):
                continue
            record = {
                "market": "PJM",
                "zone": "EKPC",
                "interval_start": (end - timedelta(hours=1)).isoformat(),
                "interval_minutes": 60,
                "mw": float(row["EKPC_MW"]),
                "version": 1,
                "source": "pjm-load",
            }
            messages.append(orjson.dumps(record))
            if len(messages) == limit:
                break
    return messages


def henry_hub_rows() -> list[tuple[str, str]]:
    """(MM/D/YYYY, price text) after the 4 preamble lines and the header; blank prices included."""
    path = DATA / "eia_henry_hub" / "Henry_Hub_Natural_Gas_Spot_Price_daily.csv"
    lines = path.read_text().splitlines()[5:]
    return [(day, price) for day, _, price in (line.partition(",") for line in lines if line)]


def gas_message(day: str, price: str) -> bytes:
    month, day_of_month, year = (int(part) for part in day.split("/"))
    trade_date = date(year, month, day_of_month).isoformat()
    return (
        f'{{"market":"EIA","hub":"HENRY","trade_date":"{trade_date}","price":{price},'
        f'"unit":"USD/MMBtu","version":1,"source":"eia"}}'
    ).encode()


def nyiso_records() -> list[dict[str, Any]]:
    return nyiso_price_records()


def price(**changes: Any) -> dict[str, Any]:
    """The contract's example price message, with changes (a value of ... deletes the field)."""
    record: dict[str, Any] = {
        "market": "PJM",
        "node": "WESTERN HUB",
        "interval_start": "2024-07-01T14:05:00-04:00",
        "interval_minutes": 5,
        "lmp": 42.17,
        "energy": 40.01,
        "congestion": 1.52,
        "loss": 0.64,
        "currency": "USD",
        "version": 1,
        "source": "pjm-rt5",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def check(record: dict[str, Any] | bytes, kind: Kind = Kind.PRICES, **policy: Any) -> Accepted | Rejected:
    value = record if isinstance(record, bytes) else orjson.dumps(record)
    return validate(value, kind, ValidationPolicy(**policy) if policy else POLICY, NOW_MS)


def reason(record: dict[str, Any] | bytes, kind: Kind = Kind.PRICES, **policy: Any) -> Reason | None:
    result = check(record, kind, **policy)
    return result.reason if isinstance(result, Rejected) else None


# -- real data -----------------------------------------------------------------------------------------


def test_every_real_aemo_sa1_row_is_accepted_with_the_default_policy() -> None:
    rows = aemo_rows()
    assert len(rows) == 35_088
    prices = []
    for row in rows:
        result = validate(aemo_message(row), Kind.PRICES, POLICY, NOW_MS)
        assert isinstance(result, Accepted), (row, result)
        assert result.key == "AEMO:SA1"
        assert result.record["lmp"] == float(row["RRP"])
        prices.append(result.record["lmp"])
    assert min(prices) == -1000.0
    assert max(prices) >= 9999.0
    assert sum(1 for p in prices if p < 0) == 144
    assert prices.count(300.0) >= 7


def test_aemo_interval_start_is_settlement_end_minus_30_minutes() -> None:
    row = {"REGION": "SA1", "SETTLEMENTDATE": "2008/11/07 03:30:00", "RRP": "-1000"}
    result = check(aemo_message(row))
    assert isinstance(result, Accepted)
    # 2008-11-07 03:00 +10:00 is 2008-11-06 17:00 UTC.
    assert result.event_time_ms == int(datetime(2008, 11, 6, 17, tzinfo=UTC).timestamp() * 1000)
    assert result.interval_ms == 30 * 60_000
    assert result.record["interval_end_ms"] - result.record["interval_start_ms"] == 1_800_000
    assert result.record["lmp"] == -1000.0 and type(result.record["lmp"]) is float


@pytest.mark.parametrize(
    ("lmp", "accepted"),
    [
        ("-1000", True),  # the real SA1 floor hit, 2008-11-07 03:30, exactly the band floor
        ("-1000.00", True),
        ("-1000.01", False),
        ("9999.72", True),  # real Jan 2008/2009 cap-level prices
        ("10000", True),  # exactly the 2008-09 market price cap
        ("10000.0", True),
        ("10000.01", False),
        ("300.00", True),  # administered price cap, 2009-01-31
    ],
)
def test_aemo_band_edges_are_exact(lmp: str, accepted: bool) -> None:
    row = {"REGION": "SA1", "SETTLEMENTDATE": "2009/01/31 12:00:00", "RRP": lmp}
    result = check(aemo_message(row))
    assert isinstance(result, Accepted) is accepted, result
    if not accepted:
        assert isinstance(result, Rejected) and result.reason is Reason.OUT_OF_BAND
    band = POLICY.price_band("AEMO")
    assert band.floor == float("-1000") and band.cap == float("10000")


def test_real_ekpc_winter_load_rows_are_accepted_with_their_key() -> None:
    messages = ekpc_messages(500)
    assert len(messages) == 500
    for message in messages:
        result = check(message, Kind.LOAD)
        assert isinstance(result, Accepted), result
        assert result.key == "PJM:EKPC" and result.interval_ms == 3_600_000


def test_design_example_load_message_is_accepted_and_normalised() -> None:
    raw = (
        b'{"market":"pjm ","zone":" EKPC","interval_start":"2013-12-31T01:00:00-05:00",'
        b'"interval_minutes":60,"mw":1861,"version":1,"source":"pjm-load"}'
    )
    result = check(raw, Kind.LOAD)
    assert isinstance(result, Accepted)
    assert result.key == "PJM:EKPC"
    assert result.record["market"] == "PJM" and result.record["zone"] == "EKPC"
    assert result.record["mw"] == 1861.0 and type(result.record["mw"]) is float
    assert result.event_time_ms == 1_388_469_600_000


def test_real_henry_hub_prices_are_accepted_and_the_blank_day_is_rejected() -> None:
    rows = henry_hub_rows()
    assert len(rows) > 7000
    blanks = [day for day, value in rows if not value.strip()]
    assert blanks == ["01/5/2018"]
    for day, value in rows:
        if not value.strip():
            # A blank CSV cell becomes a message with no number: not JSON.
            assert reason(gas_message(day, value), Kind.GAS) is Reason.NOT_JSON
            continue
        result = check(gas_message(day, value), Kind.GAS)
        assert isinstance(result, Accepted), (day, value, result)
    uri = check(gas_message("2/17/2021", "23.86"), Kind.GAS)
    assert isinstance(uri, Accepted)
    assert uri.key == "EIA:HENRY"
    assert uri.event_time_ms == 1_613_520_000_000  # 2021-02-17 00:00 UTC
    assert uri.interval_ms == DAY_MS
    assert uri.record["interval_end_ms"] == 1_613_520_000_000 + DAY_MS


def test_real_nyiso_rows_satisfy_the_component_identity_with_congestion_sign_flipped() -> None:
    records = nyiso_records()
    assert len(records) == 45
    for record in records:
        result = check(record)
        assert isinstance(result, Accepted), result
        assert result.key == f"NYISO:{record['node']}"
    # The published congestion sign is inverted: taking it as-is breaks the identity on rows where
    # congestion is not zero, and the validator notices.
    nonzero = [r for r in records if r["congestion"] != 0]
    for record in nonzero:
        as_published = dict(record, congestion=-record["congestion"])
        assert reason(as_published) is Reason.COMPONENT_MISMATCH


# -- one example per reason code -------------------------------------------------------------------


def test_design_example_price_message_is_accepted_with_added_fields() -> None:
    result = check(price(extra={"nested": [1, 2]}, note="kept"))
    assert isinstance(result, Accepted)
    assert result.kind is Kind.PRICES
    assert result.key == "PJM:WESTERN HUB"
    assert result.version == 1
    assert result.event_time_ms == 1_719_857_100_000  # 18:05 UTC
    assert result.interval_ms == 300_000
    assert result.record["extra"] == {"nested": [1, 2]} and result.record["note"] == "kept"
    assert result.record["key"] == "PJM:WESTERN HUB"
    assert result.record["interval_start_ms"] == result.event_time_ms
    assert result.record["interval_end_ms"] == result.event_time_ms + 300_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Reason.EMPTY_VALUE),
        (b"", Reason.EMPTY_VALUE),
        (b"{" + b" " * (64 * 1024) + b"}", Reason.TOO_LARGE),
        (b"x" * (1024 * 1024), Reason.TOO_LARGE),
        (b'{"market":"\xff"}', Reason.NOT_UTF8),
        (b'{"market":"\xed\xa0\x80"}', Reason.NOT_UTF8),  # an encoded surrogate is not UTF-8
        (b"\xff\xfe{}", Reason.NOT_UTF8),  # UTF-16 BOM
        (b"\xef\xbb\xbf", Reason.NOT_JSON),  # BOM only
        (b"{", Reason.NOT_JSON),
        (b'{"lmp": NaN}', Reason.NOT_JSON),
        (b'{"lmp": Infinity}', Reason.NOT_JSON),
        (b'{"lmp": -Infinity}', Reason.NOT_JSON),
        (b'{"lmp": 1e400}', Reason.NOT_JSON),  # overflows a double: never a non-finite float
        (b'{"lmp": -1e400}', Reason.NOT_JSON),
        (b'{"lmp": 1' + b"0" * 400 + b"}", Reason.NOT_JSON),
        (b'{"a":1} x', Reason.NOT_JSON),
        (b'{"a":"\\ud800"}', Reason.NOT_JSON),  # a lone surrogate escape has no text
        (b"[" * 2000 + b"]" * 2000, Reason.NOT_JSON),  # deeper than orjson allows
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), Reason.NOT_JSON),
        (b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", Reason.NOT_JSON),
        (b"[]", Reason.NOT_OBJECT),
        (b'"text"', Reason.NOT_OBJECT),
        (b"42", Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b'{"lmp": 1, "lmp": 9999}', Reason.DUPLICATE_KEY),
        (b'{"lmp" : 1 ,\n "lmp":9999}', Reason.DUPLICATE_KEY),
        (b'{"a":{"b":1,"b":2}}', Reason.DUPLICATE_KEY),  # at any depth
        (b'{"a":"x\\"y","a":"z"}', Reason.DUPLICATE_KEY),  # escapes take the slow path
        (b'{"a":' + b"[" * 1000 + b"]" * 1000 + b',"a":1}', Reason.NOT_JSON),  # hidden by the repeat
    ],
)
def test_decoding_reasons(value: bytes | None, expected: Reason) -> None:
    result = validate(value, Kind.PRICES, POLICY, NOW_MS)
    assert isinstance(result, Rejected)
    assert result.reason is expected, result.detail


def test_duplicate_key_detail_names_the_key_and_the_last_value_does_not_win() -> None:
    raw = orjson.dumps(price())[:-1] + b',"lmp":9999}'
    result = check(raw)
    assert isinstance(result, Rejected) and result.reason is Reason.DUPLICATE_KEY
    assert "'lmp'" in result.detail


def test_a_leading_utf8_bom_is_stripped() -> None:
    result = check(b"\xef\xbb\xbf" + orjson.dumps(price()))
    assert isinstance(result, Accepted) and result.key == "PJM:WESTERN HUB"


def test_nesting_up_to_max_depth_is_accepted_and_reencodes() -> None:
    deep: Any = []
    for _ in range(MAX_DEPTH - 2):
        deep = [deep]
    result = check(price(extra=deep))
    assert isinstance(result, Accepted)
    assert orjson.loads(orjson.dumps(result.record))["extra"] == deep


def test_escaped_strings_and_colons_in_values_are_not_mistaken_for_repeats() -> None:
    raw = orjson.dumps(price(node='WEST "A": HUB\\', source="a:b:c", **{"x:y": "1:2"}))
    result = check(raw)
    assert isinstance(result, Accepted), result
    assert result.key == 'PJM:WEST "A": HUB\\'


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        *((Kind.PRICES, f) for f in ("market", "node", "interval_start", "interval_minutes")),
        *((Kind.PRICES, f) for f in ("lmp", "currency", "version", "source")),
        *((Kind.LOAD, f) for f in ("market", "zone", "interval_start", "interval_minutes", "mw")),
        *((Kind.LOAD, f) for f in ("version", "source")),
        *((Kind.GAS, f) for f in ("market", "hub", "trade_date", "price", "unit", "version", "source")),
    ],
)
def test_missing_or_null_required_field(kind: Kind, field: str) -> None:
    valid = {
        Kind.PRICES: price(),
        Kind.LOAD: orjson.loads(ekpc_messages(1)[0]),
        Kind.GAS: orjson.loads(gas_message("2/17/2021", "23.86")),
    }[kind]
    assert isinstance(check(valid, kind), Accepted)
    absent = {k: v for k, v in valid.items() if k != field}
    result = check(absent, kind)
    assert isinstance(result, Rejected) and result.reason is Reason.MISSING_FIELD
    assert result.detail == f"{field} is absent"
    result = check(dict(valid, **{field: None}), kind)
    assert isinstance(result, Rejected) and result.reason is Reason.MISSING_FIELD
    assert result.detail == f"{field} is null"


def test_optional_components_may_be_absent_or_null() -> None:
    assert isinstance(check(price(energy=..., congestion=..., loss=...)), Accepted)
    assert isinstance(check(price(energy=None, loss=None)), Accepted)
    # Two of three present: no identity to check.
    assert isinstance(check(price(loss=..., energy=1.0)), Accepted)


@pytest.mark.parametrize(
    "changes",
    [
        {"lmp": "42.17"},
        {"lmp": True},
        {"lmp": [42.17]},
        {"energy": "40.01"},
        {"loss": False},
        {"market": 7},
        {"market": ""},
        {"market": "   "},
        {"node": ""},
        {"node": {"name": "WESTERN HUB"}},
        {"currency": 840},
        {"source": True},
        {"interval_start": 1719857100000},
        {"interval_minutes": 5.0},
        {"interval_minutes": "5"},
        {"interval_minutes": True},
        {"version": 0},
        {"version": -1},
        {"version": 1.0},
        {"version": "1"},
        {"version": True},
    ],
)
def test_wrong_type(changes: dict[str, Any]) -> None:
    result = check(price(**changes))
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_TYPE, result
    assert next(iter(changes)) in result.detail


@pytest.mark.parametrize(
    "trade_date",
    ["2021-2-17", "20210217", "2021-W07-3", "2021-02-30", "17/02/2021", "\uff12\uff10\uff12\uff11-02-17", ""],
)
def test_gas_trade_date_must_be_yyyy_mm_dd(trade_date: str) -> None:
    record = orjson.loads(gas_message("2/17/2021", "23.86"))
    result = check(dict(record, trade_date=trade_date), Kind.GAS)
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_TYPE


def test_load_and_gas_wrong_types() -> None:
    load = orjson.loads(ekpc_messages(1)[0])
    assert reason(dict(load, mw="1861"), Kind.LOAD) is Reason.WRONG_TYPE
    assert reason(dict(load, zone=" "), Kind.LOAD) is Reason.WRONG_TYPE
    gas = orjson.loads(gas_message("2/17/2021", "23.86"))
    assert reason(dict(gas, price=False), Kind.GAS) is Reason.WRONG_TYPE
    assert reason(dict(gas, unit=None), Kind.GAS) is Reason.MISSING_FIELD
    assert reason(dict(gas, unit=1), Kind.GAS) is Reason.WRONG_TYPE


def test_non_finite_cannot_come_out_of_the_parser() -> None:
    """``non_finite`` stays a documented code, but orjson refuses every non-finite literal."""
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1.8e308"):
        raw = orjson.dumps(price())[:-1] + b',"extra":' + literal + b"}"
        assert reason(raw) is Reason.NOT_JSON
    assert reason(price(lmp=1.7e308)) is Reason.OUT_OF_BAND  # the largest finite ones are just numbers


@pytest.mark.parametrize(
    ("interval_start", "expected"),
    [
        ("2024-07-01T14:05:00Z", None),
        ("2024-07-01T14:05:00z", Reason.NAIVE_TIMESTAMP),  # ISO 8601 wants an upper-case Z
        ("2024-07-01T14:05:00+00:00", None),
        ("2024-07-01T14:05:00-00:00", None),
        ("2024-07-01T14:05:00+10:00", None),
        ("2024-07-01T14:05:00+05:45", None),  # Nepal: a real whole-minute offset
        ("2024-07-01T14:05:00.000-04:00", None),
        ("2024-07-01 14:05:00-04:00", None),  # RFC 3339 allows a space
        ("2024-03-10T02:05:00-05:00", None),  # a US spring-forward hour, given as a fixed offset
        ("2024-11-03T01:05:00-04:00", None),  # the repeated autumn hour, first time
        ("2024-11-03T01:05:00-05:00", None),  # ... and second time: unambiguous with the offset
        ("2024-07-01T14:05:00", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01T14:05", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01T14:05:00+10:00:30", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01T14:05:00 EST", Reason.NAIVE_TIMESTAMP),
        ("01/07/2024 14:05", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01T24:00:00Z", Reason.NAIVE_TIMESTAMP),
        ("", Reason.NAIVE_TIMESTAMP),
        ("2024-07-01T14:05:30Z", Reason.BAD_INTERVAL),
        ("2024-07-01T14:05:00.5Z", Reason.BAD_INTERVAL),
        ("2024-07-01T14:07:00Z", Reason.BAD_INTERVAL),
    ],
)
def test_timestamp_edges(interval_start: str, expected: Reason | None) -> None:
    assert reason(price(interval_start=interval_start)) is expected


def test_naive_timestamp_detail_says_which() -> None:
    naive = check(price(interval_start="2024-07-01T14:05:00"))
    date_only = check(price(interval_start="2024-07-01"))
    garbage = check(price(interval_start="yesterday\nnoon"))
    assert isinstance(naive, Rejected) and "no UTC offset" in naive.detail
    assert isinstance(date_only, Rejected) and "date without time" in date_only.detail
    assert isinstance(garbage, Rejected) and "not ISO 8601" in garbage.detail
    assert "\n" not in garbage.detail


def test_same_instant_with_different_offsets_has_the_same_event_time() -> None:
    times = {
        check(price(interval_start=text)).event_time_ms  # type: ignore[union-attr]
        for text in ("2024-07-01T18:05:00Z", "2024-07-01T14:05:00-04:00", "2024-07-02T04:05:00+10:00")
    }
    assert times == {1_719_857_100_000}


@pytest.mark.parametrize(
    ("minutes", "start", "expected"),
    [
        (5, "2024-07-01T14:55:00Z", None),
        (15, "2024-07-01T14:45:00Z", None),
        (15, "2024-07-01T14:50:00Z", Reason.BAD_INTERVAL),
        (30, "2024-07-01T14:30:00+10:00", None),
        (30, "2024-07-01T14:15:00Z", Reason.BAD_INTERVAL),
        (60, "2024-07-01T14:00:00-05:00", None),
        (60, "2024-07-01T14:30:00Z", Reason.BAD_INTERVAL),
        (60, "2024-07-01T14:00:00+05:30", None),  # the grid is the local wall clock of the offset
        (10, "2024-07-01T14:00:00Z", Reason.BAD_INTERVAL),  # not in the allowed set
        (0, "2024-07-01T14:00:00Z", Reason.BAD_INTERVAL),
        (-5, "2024-07-01T14:00:00Z", Reason.BAD_INTERVAL),
        (1440, "2024-07-01T00:00:00Z", Reason.BAD_INTERVAL),
    ],
)
def test_interval_edges(minutes: int, start: str, expected: Reason | None) -> None:
    result = check(price(interval_minutes=minutes, interval_start=start))
    assert (result.reason if isinstance(result, Rejected) else None) is expected
    if isinstance(result, Accepted):
        assert result.interval_ms == minutes * 60_000


def test_allowed_intervals_come_from_the_policy() -> None:
    record = price(interval_minutes=10, interval_start="2024-07-01T14:10:00Z")
    assert reason(record) is Reason.BAD_INTERVAL
    assert reason(record, allowed_interval_minutes=frozenset({10})) is None
    daily = price(interval_minutes=1440, interval_start="2024-07-01T00:00:00Z")
    assert reason(daily, allowed_interval_minutes=frozenset({1440})) is None


def test_future_timestamp_limit_is_inclusive() -> None:
    limit_ms = NOW_MS + POLICY.max_future_ms
    at_limit = datetime.fromtimestamp(limit_ms / 1000, tz=UTC)
    assert at_limit.minute % 5 == 0 and at_limit.second == 0
    assert reason(price(interval_start=at_limit.isoformat())) is None
    later = (at_limit + timedelta(minutes=5)).isoformat()
    result = check(price(interval_start=later))
    assert isinstance(result, Rejected) and result.reason is Reason.FUTURE_TIMESTAMP
    gas = orjson.loads(gas_message("2/17/2021", "23.86"))
    assert reason(dict(gas, trade_date="2030-03-22"), Kind.GAS) is None
    assert reason(dict(gas, trade_date="2030-03-23"), Kind.GAS) is Reason.FUTURE_TIMESTAMP


@pytest.mark.parametrize(
    ("market", "lmp", "expected"),
    [
        ("PJM", 3700.0, None),
        ("PJM", 3700.01, Reason.OUT_OF_BAND),
        ("PJM", -1000.0, None),
        ("PJM", -1000.01, Reason.OUT_OF_BAND),
        ("ercot", 5000.0, None),  # market is upper-cased before the band lookup
        ("ERCOT", 5000.01, Reason.OUT_OF_BAND),
        ("ERCOT", -250.01, Reason.OUT_OF_BAND),
        ("NOWHERE", 20000.0, None),  # the default band
        ("NOWHERE", 20000.01, Reason.OUT_OF_BAND),
    ],
)
def test_price_band_edges(market: str, lmp: float, expected: Reason | None) -> None:
    record = price(market=market, lmp=lmp, energy=..., congestion=..., loss=...)
    assert reason(record) is expected


def test_bands_come_from_the_policy() -> None:
    record = price(lmp=5000.0, energy=..., congestion=..., loss=...)
    assert reason(record) is Reason.OUT_OF_BAND
    assert reason(record, price_bands={"PJM": Band(-1000.0, 5000.0)}) is None


def test_load_and_gas_bands() -> None:
    load = orjson.loads(ekpc_messages(1)[0])
    assert reason(dict(load, mw=0), Kind.LOAD) is None
    assert reason(dict(load, mw=-0.01), Kind.LOAD) is Reason.OUT_OF_BAND
    assert reason(dict(load, mw=500_000.01), Kind.LOAD) is Reason.OUT_OF_BAND
    gas = orjson.loads(gas_message("2/17/2021", "23.86"))
    assert reason(dict(gas, price=1000), Kind.GAS) is None
    assert reason(dict(gas, price=1000.01), Kind.GAS) is Reason.OUT_OF_BAND
    assert reason(dict(gas, price=-50.01), Kind.GAS) is Reason.OUT_OF_BAND


@pytest.mark.parametrize(
    ("lmp", "expected"),
    [
        (42.17, None),
        (42.18, None),  # diff exactly 0.01
        (42.16, None),
        (42.1801, Reason.COMPONENT_MISMATCH),  # diff 0.0101
        (42.1599, Reason.COMPONENT_MISMATCH),
        (41.0, Reason.COMPONENT_MISMATCH),
    ],
)
def test_component_edges(lmp: float, expected: Reason | None) -> None:
    # energy + congestion + loss = 40.01 + 1.52 + 0.64 = 42.17
    assert reason(price(lmp=lmp)) is expected


def test_component_mismatch_detail() -> None:
    result = check(price(lmp=41.0))
    assert isinstance(result, Rejected)
    assert result.detail == "lmp 41.0 != energy+congestion+loss 42.17 (tolerance 0.01)"


def test_check_order_first_failure_decides() -> None:
    # missing beats wrong type; wrong type beats a naive timestamp; naive beats out of band.
    assert reason(price(node=..., lmp="x")) is Reason.MISSING_FIELD
    assert reason(price(lmp="x", interval_start="2024-07-01T14:05:00")) is Reason.WRONG_TYPE
    assert reason(price(interval_start="2024-07-01T14:05:00", lmp=1e9)) is Reason.NAIVE_TIMESTAMP
    assert reason(price(interval_minutes=7, lmp=1e9)) is Reason.BAD_INTERVAL
    assert reason(price(interval_start="2031-01-01T00:00:00Z", lmp=1e9)) is Reason.FUTURE_TIMESTAMP
    assert reason(price(lmp=1e9)) is Reason.OUT_OF_BAND
    assert reason(b'{"lmp":1,"lmp":2}') is Reason.DUPLICATE_KEY  # before missing fields


def test_validate_does_not_depend_on_earlier_calls() -> None:
    raw = orjson.dumps(price())
    first = check(raw)
    second = check(raw)
    assert first == second and first is not second
