import random
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from streamer.feeds.corrupt import ACCEPTED, CORRUPT, TOLERATED, CorruptCase
from streamer.feeds.nyiso import read_nyiso
from streamer.policy import DEFAULT_PRICE_BANDS
from streamer.reasons import Reason

# A real price message with all three components (NYISO CAPITL, 2016-02-18 00:00 EST).
VALID = next(iter(read_nyiso(Path(__file__).parents[3] / "data" / "pyiso" / "nyiso_lmp.csv"))).value or b""
CASES = {case.name: case for case in CORRUPT}


def _make(case: CorruptCase, seed: int = 1) -> bytes | None:
    return case.make(random.Random(seed), VALID)


def test_catalogue_matches_the_contract_table() -> None:
    assert {name: case.expected_reason for name, case in CASES.items()} == {
        "empty_bytes": "empty_value",
        "tombstone": "empty_value",
        "invalid_utf8": "not_utf8",
        "truncated_json": "not_json",
        "nan_literal": "not_json",
        "infinity_literal": "not_json",
        "overflow_1e400": "not_json",
        "deep_nesting": "not_json",
        "megabyte_payload": "too_large",
        "top_level_array": "not_object",
        "top_level_number": "not_object",
        "top_level_string": "not_object",
        "duplicate_key": "duplicate_key",
        "missing_lmp": "missing_field",
        "lmp_as_string": "wrong_type",
        "naive_timestamp": "naive_timestamp",
        "interval_7_minutes": "bad_interval",
        "future_2099": "future_timestamp",
        "above_cap": "out_of_band",
        "component_mismatch": "component_mismatch",
    }
    assert {case.expected_reason for case in CORRUPT} <= set(Reason)
    assert [(c.name, c.expected_reason) for c in TOLERATED] == [("utf8_bom", ACCEPTED)]


def test_empty_and_tombstone() -> None:
    assert _make(CASES["empty_bytes"]) == b""
    assert _make(CASES["tombstone"]) is None


def test_invalid_utf8_is_otherwise_the_same_json() -> None:
    value = _make(CASES["invalid_utf8"]) or b""
    with pytest.raises(UnicodeDecodeError):
        value.decode()
    assert orjson.loads(value.replace(b"\xff\xfe", b"")) == orjson.loads(VALID)


@pytest.mark.parametrize("name", ["truncated_json", "nan_literal", "infinity_literal", "overflow_1e400"])
def test_not_json_cases_fail_to_parse(name: str) -> None:
    for seed in range(20):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(_make(CASES[name], seed) or b"")


def test_literals_replace_the_lmp_only() -> None:
    for name, literal in (("nan_literal", b'"lmp":NaN,'), ("infinity_literal", b'"lmp":Infinity,')):
        assert literal in (_make(CASES[name]) or b"")
    assert b'"lmp":1e400,' in (_make(CASES["overflow_1e400"]) or b"")


def test_deep_nesting_is_small_but_too_deep() -> None:
    value = _make(CASES["deep_nesting"]) or b""
    assert len(value) == 10_000 and value.startswith(b"[" * 5_000)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(value)


def test_megabyte_payload_is_a_valid_object_over_a_megabyte() -> None:
    value = _make(CASES["megabyte_payload"]) or b""
    obj = orjson.loads(value)
    assert len(value) > 1_000_000 and obj.pop("padding") == "x" * 1_000_000
    assert obj == orjson.loads(VALID)


def test_top_level_cases_parse_to_non_objects() -> None:
    assert isinstance(orjson.loads(_make(CASES["top_level_array"]) or b""), list)
    assert isinstance(orjson.loads(_make(CASES["top_level_number"]) or b""), float)
    assert isinstance(orjson.loads(_make(CASES["top_level_string"]) or b""), str)


def test_duplicate_key_repeats_lmp_with_another_value() -> None:
    value = _make(CASES["duplicate_key"]) or b""
    assert value.count(b'"lmp":') == 2
    assert value.startswith(b'{"lmp":22.53,')


def test_field_edits_change_one_thing() -> None:
    original = orjson.loads(VALID)

    def edited(name: str) -> dict[str, object]:
        obj = orjson.loads(_make(CASES[name]) or b"")
        assert isinstance(obj, dict)
        return obj

    missing = edited("missing_lmp")
    assert "lmp" not in missing and missing == {k: v for k, v in original.items() if k != "lmp"}
    assert edited("lmp_as_string")["lmp"] == "21.53"
    naive = edited("naive_timestamp")["interval_start"]
    assert naive == "2016-02-18T00:00:00" and datetime.fromisoformat(str(naive)).tzinfo is None
    assert edited("interval_7_minutes")["interval_minutes"] == 7
    assert edited("future_2099")["interval_start"] == "2099-02-18T00:00:00-05:00"


def test_above_cap_keeps_the_identity_so_only_the_band_is_wrong() -> None:
    obj = orjson.loads(_make(CASES["above_cap"]) or b"")
    assert obj["lmp"] == 99999.0 > max(band.cap for band in DEFAULT_PRICE_BANDS.values())
    assert abs(obj["lmp"] - (obj["energy"] + obj["congestion"] + obj["loss"])) <= 0.01


def test_component_mismatch_is_off_by_five() -> None:
    obj = orjson.loads(_make(CASES["component_mismatch"]) or b"")
    assert abs(obj["lmp"] - (obj["energy"] + obj["congestion"] + obj["loss"]) + 5.0) < 1e-9


def test_bom_case_is_the_valid_message_behind_a_bom() -> None:
    value = TOLERATED[0].make(random.Random(1), VALID) or b""
    assert value == b"\xef\xbb\xbf" + VALID
