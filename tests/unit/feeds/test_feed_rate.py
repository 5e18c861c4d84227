import pytest

from streamer.feeds.rate import TokenBucket


def test_burst_is_free_then_debt_sets_the_delay() -> None:
    bucket = TokenBucket(100.0, now_s=0.0, burst=5.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(0.0) == pytest.approx(0.01)  # one token short at 100/s
    assert bucket.take(0.0) == pytest.approx(0.02)  # debt adds up, so callers may sleep once for many


def test_refill_over_time_never_exceeds_the_burst() -> None:
    bucket = TokenBucket(10.0, now_s=0.0, burst=2.0)
    assert bucket.take(0.0, 2) == 0.0
    assert bucket.take(0.1) == 0.0  # 0.1 s refilled exactly one token
    assert bucket.take(100.0, 2) == 0.0  # a long pause saves up only the burst
    assert bucket.take(100.0) == pytest.approx(0.1)


def test_average_rate_is_the_configured_rate() -> None:
    bucket, now_s = TokenBucket(250.0, now_s=0.0), 0.0
    for _ in range(10_000):
        now_s += bucket.take(now_s)  # a caller that sleeps exactly the returned delay
    assert 10_000 / now_s == pytest.approx(250.0, rel=0.01)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0.0, now_s=0.0)
