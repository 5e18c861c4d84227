"""A latency phase's event-loop lag, from two scrapes of the workers' real /metrics exposition."""

from __future__ import annotations

import copy

from prometheus_client import CollectorRegistry, generate_latest

from streamer.benchmark import report
from streamer.benchmark.loop_lag import loop_lag_over, parse_loop_sample
from streamer.metrics import PipelineMetrics
from tests.unit.benchmark.test_report import RESULTS


def _worker() -> tuple[CollectorRegistry, PipelineMetrics]:
    registry = CollectorRegistry()
    return registry, PipelineMetrics.create(registry)


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_the_phase_is_the_difference_of_two_scrapes_summed_over_workers() -> None:
    (reg_a, a), (reg_b, b) = _worker(), _worker()
    a.loop_lag.observe(0.3)  # before the phase: not the phase's
    a.loop_stalls.inc()
    before = parse_loop_sample(_scrape(reg_a)) + parse_loop_sample(_scrape(reg_b))
    for _ in range(985):
        a.loop_lag.observe(0.0005)
    for _ in range(14):  # 985 wakes within 1 ms are not 99% of 1,000; these make 999 within 25 ms
        b.loop_lag.observe(0.02)
    b.loop_lag.observe(0.09)
    b.loop_stalls.inc()
    after = parse_loop_sample(_scrape(reg_a)) + parse_loop_sample(_scrape(reg_b))
    phase = loop_lag_over(before, after)
    assert phase == {"wakes": 1000, "stalls": 1, "p99_ms_at_most": 25.0, "max_ms_at_most": 100.0}


def test_a_lag_above_every_bucket_and_a_phase_without_wakes() -> None:
    registry, metrics = _worker()
    before = parse_loop_sample(_scrape(registry))
    assert loop_lag_over(before, before) == {
        "wakes": 0,
        "stalls": 0,
        "p99_ms_at_most": None,
        "max_ms_at_most": None,
    }
    metrics.loop_lag.observe(7.0)
    phase = loop_lag_over(before, parse_loop_sample(_scrape(registry)))
    assert phase["p99_ms_at_most"] is None and phase["max_ms_at_most"] is None and phase["wakes"] == 1


def test_the_report_says_where_the_latency_phase_waited() -> None:
    results = copy.deepcopy(RESULTS)
    row = next(r for r in results["compare"]["variants"] if r["variant"] == "streamer-1")
    row["latency"]["loop_lag"] = {"wakes": 400, "stalls": 2, "p99_ms_at_most": 100.0, "max_ms_at_most": None}
    line = "streamer-1 event loop in the latency phase: lag p99 <= 100.0 ms, longest over the last bucket"
    assert line in report.text(results)
    assert "(400 wake-ups); 2 stalls logged" in report.text(results)
    assert "| streamer-1 event loop in the latency phase |" in report.markdown(results)
    assert "streamer-2 event loop" not in report.text(results)  # not read: no line
