"""The corrupt-message catalogue (streamer.feeds.corrupt) gets exactly the reason it expects.

``simulate --corrupt-rate`` and the end-to-end accounting rely on this mapping, so it is checked here
against real NYISO rows (the only real rows with all three LMP components) and the DESIGN example.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from streamer.feeds.corrupt import ACCEPTED, CORRUPT, TOLERATED, CorruptCase
from streamer.policy import ValidationPolicy
from streamer.validation import Accepted, Rejected, validate
from tests.realdata import nyiso_price_records

DATA = Path(__file__).resolve().parents[2] / "data"
NOW_MS = 1_900_200_000_000
DESIGN_EXAMPLE = (
    b'{"market":"PJM","node":"WESTERN HUB","interval_start":"2024-07-01T14:05:00-04:00",'
    b'"interval_minutes":5,"lmp":42.17,"energy":40.01,"congestion":1.52,"loss":0.64,"currency":"USD",'
    b'"version":1,"source":"pjm-rt5"}'
)


def nyiso_messages() -> list[bytes]:
    return [orjson.dumps(record) for record in nyiso_price_records()]


BASES = [DESIGN_EXAMPLE, *nyiso_messages()]


@pytest.mark.parametrize("case", CORRUPT + TOLERATED, ids=lambda case: case.name)
def test_each_corrupt_case_gets_its_expected_reason(case: CorruptCase) -> None:
    rng = random.Random(case.name)
    policy = ValidationPolicy()
    for base in BASES:
        assert isinstance(validate(base, case.kind, policy, NOW_MS), Accepted)
        result = validate(case.make(rng, base), case.kind, policy, NOW_MS)
        if case.expected_reason == ACCEPTED:
            assert isinstance(result, Accepted), result
        else:
            assert isinstance(result, Rejected), (case.name, result)
            assert result.reason.value == case.expected_reason, (case.name, result.detail)
