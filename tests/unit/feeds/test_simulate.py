from collections import Counter
from datetime import datetime

import orjson
import pytest

from streamer.feeds.corrupt import CORRUPT
from streamer.feeds.simulate import SERIES, generate
from streamer.policy import DEFAULT_PRICE_BANDS
from streamer.topics import Kind

NOW_MS = 1_795_500_000_000  # 2026-11-24T04:00:00Z


Valid = list[tuple[bytes, Kind, dict[str, float | str], int]]


def _f(obj: dict[str, float | str], name: str) -> float:
    return float(obj[name])


def test_same_seed_same_messages_other_seed_other_messages() -> None:
    first = list(generate(7, 500, 0.1, NOW_MS))
    assert first == list(generate(7, 500, 0.1, NOW_MS))
    assert first != list(generate(8, 500, 0.1, NOW_MS))


def test_exact_count_and_reasons() -> None:
    out = list(generate(3, 3_000, 0.2, NOW_MS))
    assert len(out) == 3_000
    reasons = Counter(reason for _, reason in out)
    corrupt = sum(n for reason, n in reasons.items() if reason is not None)
    assert 450 < corrupt < 750
    assert set(reasons) - {None} == {case.expected_reason for case in CORRUPT}


def test_rates_zero_and_one() -> None:
    assert {reason for _, reason in generate(1, 400, 0.0, NOW_MS)} == {None}
    assert None not in {reason for _, reason in generate(1, 400, 1.0, NOW_MS)}
    with pytest.raises(ValueError, match="corrupt_rate"):
        list(generate(1, 1, 1.5, NOW_MS))
    with pytest.raises(ValueError, match="count"):
        list(generate(1, -1, 0.0, NOW_MS))


@pytest.fixture(scope="module")
def valid() -> Valid:
    out = generate(11, 4_000, 0.1, NOW_MS)
    return [(m.key, m.kind, orjson.loads(m.value or b""), m.timestamp_ms or 0) for m, r in out if r is None]


def test_valid_messages_are_unique_per_key_interval_version(valid: Valid) -> None:
    identities = [
        (key, kind, obj.get("interval_start") or obj["trade_date"], obj["version"])
        for key, kind, obj, _ in valid
    ]
    assert len(identities) == len(set(identities))


def test_nothing_is_in_the_future_and_time_only_moves_forward(valid: Valid) -> None:
    five_minute = [(obj, ts) for _, kind, obj, ts in valid if kind is not Kind.GAS]
    assert all(ts <= NOW_MS for _, _, _, ts in valid)
    times = [ts for _, ts in five_minute]
    assert times == sorted(times)
    for obj, ts in five_minute:
        start = datetime.fromisoformat(str(obj["interval_start"]))
        assert start.utcoffset() is not None and start.timestamp() * 1000 == ts
        assert ts % 300_000 == 0 and obj["interval_minutes"] == 5


def test_prices_sit_in_their_band_and_components_add_up(valid: Valid) -> None:
    prices = [obj for _, kind, obj, _ in valid if kind is Kind.PRICES]
    for obj in prices:
        band = DEFAULT_PRICE_BANDS[str(obj["market"])]
        assert band.contains(_f(obj, "lmp"))
        if "energy" in obj:
            total = _f(obj, "energy") + _f(obj, "congestion") + _f(obj, "loss")
            assert abs(_f(obj, "lmp") - total) <= 0.01
    assert {str(obj["market"]) for obj in prices} == {"PJM", "ERCOT", "CAISO", "AEMO"}


def test_every_series_and_kind_appears(valid: Valid) -> None:
    keys = {(kind, key) for key, kind, _, _ in valid}
    assert keys == {(s.kind, s.key.encode()) for s in SERIES}
    loads = [obj for _, kind, obj, _ in valid if kind is Kind.LOAD]
    assert all(_f(obj, "mw") > 0 for obj in loads)
