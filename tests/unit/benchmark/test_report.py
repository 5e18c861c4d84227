"""The results file, ratios, targets and the README's Markdown, from a hand-made run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from streamer.benchmark import report


def _row(name: str, rate: int, cpu: float, p99: float) -> dict[str, Any]:
    return {
        "variant": name,
        "events_per_s": rate,
        "cpu_us_per_event": cpu,
        "peak_rss_mib": 100.0,
        "latency": {"rate_per_s": rate / 2, "p50_ms": p99 / 3, "p99_ms": p99, "count": 10},
        "machine_busy": 0.5 if name.endswith("-1") else 0.974,
    }


RESULTS: dict[str, Any] = {
    "date": "2026-01-02",
    "machine": {"cpus": 2, "python": "3.11.7", "broker": "Kafka 4.1.1 on loopback"},
    "compare": {
        "workload": {"messages": 200_000, "nodes": 2000, "zones": 50, "partitions": 4, "corrupt_rate": 0.02},
        "latency_s": 20.0,
        "variants": [
            _row("passthrough", 40_000, 20.0, 15.0),
            _row("faust-naive", 4_000, 250.0, 40.0),
            _row("quix", 3_000, 300.0, 30.0),
            _row("streamer-1", 9_000, 95.0, 45.0),
            _row("streamer-2", 15_000, 100.0, 60.0),
        ],
    },
    "soak": {
        "workload": {"series": 302, "intervals": 2016},
        "tenths_events_per_s": [1000, 990, 980, 970, 960, 950, 940, 930, 920, 910],
        "last_vs_first_tenth": 0.91,
        "rss_mib_by_tenth": [200.0] * 10,
        "peak_rss_mib": 210.0,
    },
}


def test_ratios_are_streamer_against_each_peer() -> None:
    ratios = report.ratios(RESULTS)
    assert ratios["streamer-1 / quix"] == 3.0
    assert ratios["streamer-1 / passthrough"] == 0.225
    assert ratios["streamer-2 / streamer-1"] == pytest.approx(1.667)


def test_targets_carry_the_measured_values() -> None:
    by_name = {t.name: t for t in report.targets(RESULTS)}
    assert by_name["streamer vs quix"].met is True
    assert by_name["streamer vs passthrough"].met is False
    assert by_name["streamer CPU per event"].met is True
    assert by_name["2 workers vs 1"].met is False
    assert by_name["streamer p99 at half load"].value == 45.0
    assert by_name["last tenth vs first (7 days)"].met is True
    assert by_name["1M-key restore"].value is None and by_name["1M-key restore"].met is None
    assert by_name["RSS with 100k series"].as_dict()["met"] is None


def test_markdown_has_a_row_per_variant_and_the_targets() -> None:
    text = report.markdown(RESULTS)
    lines = text.splitlines()
    assert lines[0].startswith(
        "Measured 2026-01-02 by `streamer bench` on 2 cores, Python 3.11.7, Kafka 4.1.1 on"
    )
    header = (
        "| variant | events/s | CPU µs/event | peak RSS MiB | p50 ms | p99 ms | at events/s | machine busy |"
    )
    assert header in lines
    assert "| streamer-1 | 9,000 | 95.0 | 100 | 15.0 | 45.0 | 4,500 | 50% |" in lines
    assert "| streamer-2 | 15,000 | 100.0 | 100 | 20.0 | 60.0 | 7,500 | 97% |" in lines
    assert any(line.startswith("| no slowdown: 302 series x 2,016 intervals") for line in lines)
    # a soak stored before the fitted ratio was: the same line, through its tenths
    assert "(0.91x; on a line through all ten: 0.91x)" in text
    assert "| 2 workers vs 1 | >= 1.7x | 1.67 x | **no** |" in lines
    assert "| 1M-key restore | <= 30 s | n/a  | n/a |" in lines
    assert "streamer-1 / quix: **3.00**" in text


def test_a_failed_variant_is_shown_with_its_error() -> None:
    results = {"compare": {"variants": [{"variant": "quix", "error": "quix exited with code 1: boom"}]}}
    assert "| quix | failed: quix exited with code 1: boom |" in report.markdown(results)
    assert "failed: quix exited" in report.text(results)
    assert report.ratios(results)["streamer-1 / quix"] is None


def test_text_summary() -> None:
    text = report.text(RESULTS)
    assert "200,000 messages over 2,000 price nodes and 50 load zones" in text
    assert "target streamer vs quix >= 2x: 3.00 x (met)" in text


def test_runs_of_a_day_merge_into_one_file(tmp_path: Path) -> None:
    path = tmp_path / "results" / "2026-01-02.json"
    when = dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
    first = report.merge(report.load(path), "soak", {"peak_rss_mib": 1.0}, when)
    report.save(path, first)
    later = when + dt.timedelta(hours=1)
    second = report.merge(report.load(path), "restore", {"restore_ready_s": 12.5}, later)
    report.save(path, second)
    again = report.merge(report.load(path), "soak", {"peak_rss_mib": 2.0}, later)
    report.save(path, again)
    loaded = report.load(path)
    assert loaded["soak"] == {"peak_rss_mib": 2.0, "measured_at": "2026-01-02T11:00:00+00:00"}
    assert loaded["restore"]["restore_ready_s"] == 12.5
    assert loaded["date"] == "2026-01-02"
    with pytest.raises(ValueError):
        report.merge(loaded, "nonsense", {}, when)
    assert report.load(tmp_path / "none.json") == {}


def test_a_soak_whose_tenths_hold_different_kinds_says_so() -> None:
    # A mixed backlog: its small load topic was consumed in the first tenths (a measured run's shares).
    shares = {
        "enriched.load": [0.521, 1.0, 0.112, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "enriched.prices": [0.467, 0.0, 0.866, 0.976, 0.975, 0.976, 0.975, 0.976, 0.976, 0.975],
        "dlq": [0.012, 0.0, 0.021, 0.024, 0.025, 0.024, 0.025, 0.024, 0.024, 0.025],
    }
    mixed = {**RESULTS, "soak": {**RESULTS["soak"], "tenths_output_share": shares}}
    text = report.text(mixed)
    assert "NOT comparable, the tenths hold different kinds (" in text
    assert "(enriched.load 52% -> 0%, enriched.prices 47% -> 98%)" in text
    steady = {k: [v[-1]] * 10 for k, v in shares.items()}
    uniform = {**RESULTS, "soak": {**RESULTS["soak"], "tenths_output_share": steady}}
    assert "NOT comparable" not in report.text(uniform)


def test_the_changelog_a_restore_reads_is_shown_beside_the_keys() -> None:
    soak = {**RESULTS["soak"], "changelog_records": 1_234_567, "changelog_live_keys": 610_000}
    restore = {"state_keys": 1_049_489, "changelog_records": 2_247_012, "restore_s": 15.9}
    text = report.markdown({**RESULTS, "soak": soak, "restore": restore})
    assert "peak 210 MiB; changelog after it: 1,234,567 records for 610,000 live keys |" in text
    assert "| restore: 1,049,489 state keys from 2,247,012 records of the changelog, empty data dir |" in text
    # results from before the fields: the rows as they were
    older = report.markdown({**RESULTS, "restore": {"state_keys": 5, "restore_s": 1.0}})
    assert "changelog after it" not in older
    assert "| restore: 5 state keys from the changelog, empty data dir |" in older


def test_a_borrowed_measurement_says_which_day_it_is_from() -> None:
    older = {"date": "2026-01-01", "memory": {"peak_rss_mib": 459.0, "workload": {"series": 100_002}}}
    table = report.markdown(report.borrow(RESULTS, older, "memory"))
    assert "peak RSS 459 MiB" in table
    assert "events/s (measured 2026-01-01: `bench/results/2026-01-01.json`) |" in table
    assert "| RSS with 100k series | <= 512 MiB | 459.00 MiB | yes |" in table
    assert "(measured" not in report.markdown(RESULTS)  # the file's own sections carry no date
    with pytest.raises(ValueError, match="no 'restore' section in the results of 2026-01-01"):
        report.borrow(RESULTS, older, "restore")
    with pytest.raises(
        ValueError, match="only memory, restore, soak can come from another day, not 'compare'"
    ):
        report.borrow(RESULTS, {**older, "compare": RESULTS["compare"]}, "compare")


def test_latency_not_measured_at_half_load_is_marked_and_says_why() -> None:
    # 2026-12-01's table run: the harness fed the passthrough's phase at 94% of its rate on a saturated
    # machine, and faust-naive's outputs came 1.1 s after the feed ended; quix and streamer held the load.
    rows = {
        "passthrough": {
            "rate_per_s": 13822.7,
            "achieved_rate_per_s": 13035.6,
            "drain_s": 0.0,
            "p99_ms": 4645.0,
        },
        "faust-naive": {"rate_per_s": 482.5, "achieved_rate_per_s": 481.7, "drain_s": 1.11, "p99_ms": 2106.5},
        "quix": {"rate_per_s": 335.4, "achieved_rate_per_s": 334.9, "drain_s": 0.0, "p99_ms": 1961.2},
        "streamer-1": {"rate_per_s": 1061.1, "achieved_rate_per_s": 1059.2, "drain_s": 0.0, "p99_ms": 199.0},
    }
    results = {
        "compare": {
            "variants": [
                {"variant": name, "events_per_s": 2 * lat["rate_per_s"], "latency": {**lat, "p50_ms": 1.0}}
                for name, lat in rows.items()
            ]
        }
    }
    assert [report.latency_off_load(lat) for lat in rows.values()] == [
        "the feed reached 94% of 13,823/s",
        "outputs were written until 1.1 s after the feed",
        None,
        None,
    ]
    lines = report.markdown(results).splitlines()
    assert next(line for line in lines if line.startswith("| passthrough |")).count("\\*") == 2
    assert "| 1.0 | 199.0 | 1,061 |" in next(line for line in lines if line.startswith("| streamer-1 |"))
    note = (
        "* not at half load, so not comparable: passthrough (the feed reached 94% of 13,823/s); "
        "faust-naive (outputs were written until 1.1 s after the feed)"
    )
    assert "\\" + note in lines
    assert note in report.text(results).splitlines()
    assert "not at half load" not in report.markdown(RESULTS)


def test_a_latency_phase_at_a_chosen_rate_is_named_and_not_judged_against_the_half_load_target() -> None:
    fixed = {**RESULTS, "compare": {**RESULTS["compare"], "latency_rate": 1300.0}}
    assert "latency at 1,300 events/s for every variant for up to 20.0 s" in report.text(fixed)
    assert "latency at half of each variant's rate" in report.text(RESULTS)
    p99 = {t.name: t for t in report.targets(fixed)}["streamer p99 at half load"]
    assert p99.value is None and p99.met is None
    assert {t.name: t for t in report.targets(RESULTS)}["streamer p99 at half load"].value == 45.0


def test_the_machines_speed_before_each_variant_and_around_the_soak_is_shown() -> None:
    variants = [
        {**row, "reference_us_per_event": us}
        for row, us in zip(RESULTS["compare"]["variants"], [50.1, 50.4, 49.8, 51.0, 63.2], strict=True)
    ]
    soak = {**RESULTS["soak"], "reference_us_per_event": [50.0, 61.5]}
    text = report.text({**RESULTS, "compare": {**RESULTS["compare"], "variants": variants}, "soak": soak})
    assert (
        "machine reference before each variant (the processor in the harness, CPU µs/event): passthrough "
        "50.1, faust-naive 50.4, quix 49.8, streamer-1 51.0, streamer-2 63.2"
    ) in text
    assert "; machine reference 50.0 -> 61.5 µs/event (before -> after)" in text
    # results from before the field: no such line
    assert "machine reference" not in report.text(RESULTS)
