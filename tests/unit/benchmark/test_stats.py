"""The benchmark's arithmetic: steady windows, rates, CPU per event, tenths, percentiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.benchmark.stats import (
    Sample,
    fitted_last_vs_first,
    percentile,
    segment_cpu_us,
    segment_rates,
    segment_shares,
    steady_window,
    summarize_latencies,
    time_at,
)


def test_the_window_runs_from_the_first_output_to_the_last() -> None:
    samples = [Sample(0.0, 0, 0.0), Sample(1.0, 0, 0.5), Sample(2.0, 100, 1.0), Sample(4.0, 500, 2.0)]
    window = steady_window(samples, 500)
    assert (window.start.t_s, window.end.t_s) == (2.0, 4.0)
    assert window.events == 400
    assert window.events_per_s == 200.0
    assert window.cpu_us_per_event == pytest.approx(1.0 * 1e6 / 400)
    assert window.cpu_cores == pytest.approx(0.5)


def test_the_window_starts_once_the_backlog_is_produced() -> None:
    samples = [Sample(0.0, 0), Sample(1.0, 50), Sample(2.0, 150), Sample(3.0, 300)]
    window = steady_window(samples, 300, produced_at_s=1.5)
    assert window.start.t_s == 2.0
    assert window.events_per_s == 150.0


def test_the_window_counts_only_up_to_the_total() -> None:
    window = steady_window([Sample(0.0, 10), Sample(1.0, 120)], 100)
    assert window.events == 90
    assert window.events_per_s == 90.0


def test_a_run_that_finished_between_two_polls_still_gets_a_rate() -> None:
    window = steady_window([Sample(0.0, 0), Sample(0.02, 0), Sample(0.04, 2000)], 2000)
    assert window.start.t_s == 0.02
    assert window.events_per_s == pytest.approx(2000 / 0.02)


def test_a_single_sample_has_no_rate() -> None:
    window = steady_window([Sample(5.0, 100)], 100)
    assert window.events_per_s is None
    assert window.cpu_cores is None


def test_the_window_needs_the_total() -> None:
    with pytest.raises(ValueError, match="never reach"):
        steady_window([Sample(0.0, 0), Sample(1.0, 10)], 11)
    with pytest.raises(ValueError):
        steady_window([Sample(0.0, 1)], 0)


def test_time_at_interpolates_between_samples() -> None:
    samples = [Sample(0.0, 0), Sample(2.0, 100), Sample(3.0, 100), Sample(4.0, 300)]
    assert time_at(samples, 50) == 1.0
    assert time_at(samples, 100) == 2.0
    assert time_at(samples, 200) == 3.5
    assert time_at(samples, 0) == 0.0
    with pytest.raises(ValueError):
        time_at(samples, 301)


def test_tenths_of_a_run_that_slows_down() -> None:
    # 1000 outputs: the first half at 100/s, the second at 50/s; the first output at t=10.
    samples = [Sample(0.0, 0), Sample(10.0, 0)]
    samples += [Sample(10.0 + k, 100 * k) for k in range(1, 6)]
    samples += [Sample(15.0 + 2 * k, 500 + 100 * k) for k in range(1, 6)]
    rates = segment_rates(samples, 1000)
    assert len(rates) == 10
    # Tenths start at the first output (t=10, 100 outputs): each is 90 outputs.
    assert rates[0] == pytest.approx(100.0)
    assert rates[-1] == pytest.approx(50.0)


def test_cpu_per_event_by_tenth_tells_more_work_from_waiting() -> None:
    # 1000 outputs at 100/s throughout; the worker uses 0.01 s of CPU per output for the first half, then
    # 0.02 s: the second half does twice the work per event.
    samples = [Sample(float(k), 100 * k, 0.01 * 100 * k) for k in range(6)]
    samples += [Sample(5.0 + k, 500 + 100 * k, 5.0 + 0.02 * 100 * k) for k in range(1, 6)]
    cpu = segment_cpu_us(samples, 1000, parts=5)
    assert cpu[0] == pytest.approx(10_000.0)
    assert cpu[-1] == pytest.approx(20_000.0)
    assert segment_rates(samples, 1000, parts=5)[-1] == pytest.approx(100.0)


def test_the_brokers_cpu_per_event_by_tenth_is_read_from_its_own_field() -> None:
    # The worker's CPU per event stays at 0.01 s; the broker's doubles in the second half (its cleaner
    # started compacting): the two are reported apart.
    samples = [Sample(float(k), 100 * k, 1.0 * k, (), 0.2 * k) for k in range(6)]
    samples += [Sample(5.0 + k, 500 + 100 * k, 5.0 + 1.0 * k, (), 1.0 + 0.4 * k) for k in range(1, 6)]
    assert segment_cpu_us(samples, 1000, parts=5) == pytest.approx([10_000.0] * 5)
    broker = segment_cpu_us(samples, 1000, parts=5, field="broker_cpu_s")
    assert broker[0] == pytest.approx(2_000.0)
    assert broker[-1] == pytest.approx(4_000.0)


def test_tenths_need_outputs() -> None:
    with pytest.raises(ValueError):
        segment_rates([Sample(0.0, 0)], 10)
    with pytest.raises(ValueError):
        segment_rates([Sample(0.0, 1)], 10, parts=0)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_summary() -> None:
    summary = summarize_latencies([30, 10, 20])
    assert summary is not None
    assert (summary.count, summary.p50_ms, summary.max_ms) == (3, 20, 30)
    assert summary.as_dict()["p99_ms"] == pytest.approx(29.8)
    assert summarize_latencies([]) is None


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_within_the_values(values: list[float]) -> None:
    ordered = sorted(values)
    p50, p90, p99 = (percentile(ordered, q) for q in (50, 90, 99))
    assert ordered[0] <= p50 <= p90 <= p99 <= ordered[-1] or math.isclose(p99, ordered[-1])


def test_the_fitted_ratio_reads_a_trend_through_noise_and_not_two_samples() -> None:
    flat_but_noisy = [2851, 3216, 2721, 2569, 2555, 2834, 2506, 2752, 2883, 2534]  # a soak run's tenths
    assert flat_but_noisy[-1] / flat_but_noisy[0] < 0.9
    fitted = fitted_last_vs_first(flat_but_noisy)
    assert fitted is not None and 0.9 < fitted < 1.0
    falling = [1266 - 98 * k for k in range(10)]  # a worker that slows down with time: 1266 -> 384/s
    assert fitted_last_vs_first(falling) == pytest.approx(384 / 1266)
    assert fitted_last_vs_first([None, 100.0, None, 100.0]) == pytest.approx(1.0)
    assert fitted_last_vs_first([100.0]) is None


def test_each_part_says_which_topics_its_outputs_went_to() -> None:
    # Two topics: the small one is drained in the first half, as a backlog consumer fetching every
    # partition at once drains a small topic early.
    samples = [
        Sample(0.0, 0, 0.0, (0, 0)),
        Sample(1.0, 100, 0.0, (50, 50)),
        Sample(2.0, 200, 0.0, (100, 100)),
        Sample(3.0, 300, 0.0, (200, 100)),
        Sample(4.0, 400, 0.0, (300, 100)),
    ]
    # The parts run from the first output seen (100) to the total: 100-200, 200-300, 300-400.
    assert segment_shares(samples, 400, 3) == [[0.5, 0.5], [1.0, 0.0], [1.0, 0.0]]
