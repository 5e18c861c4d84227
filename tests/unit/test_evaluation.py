from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamer.cli.evaluate import evaluate, format_table
from streamer.detectors import LoadDropDetector
from streamer.evaluation import EvaluationRow, flag_series, runs, score
from streamer.evaluation_data import (
    LabelledSeries,
    load_aemo_sa1,
    load_dutch_power_demand,
    load_nab,
    load_pjm_hourly,
    sa1_price_series,
)

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], []),
        ([False, False], []),
        ([True], [(0, 0)]),
        ([True, True, False, True], [(0, 1), (3, 3)]),
        ([False, True, True], [(1, 2)]),
    ],
)
def test_runs(flags: list[bool], expected: list[tuple[int, int]]) -> None:
    assert runs(flags) == expected


def test_score_point_event_and_delay() -> None:
    labels = [False, True, True, True, False, False, True, True, False, False]
    flags = [False, False, True, False, False, True, False, False, False, True]
    s = score(labels, flags)
    assert (s.true_positives, s.flagged, s.labelled) == (1, 3, 5)
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(1 / 5)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 5) / (1 / 3 + 1 / 5))
    assert (s.events, s.events_detected, s.event_recall) == (2, 1, 0.5)
    assert (s.predicted_events, s.predicted_events_true) == (3, 1)
    assert s.mean_delay == 1.0 and s.median_delay == 1.0


def test_score_undefined_ratios_are_none() -> None:
    s = score([False, False], [False, False])
    assert (s.precision, s.recall, s.f1, s.event_recall, s.event_precision, s.mean_delay) == (None,) * 6
    with pytest.raises(ValueError):
        score([True], [])


def test_sa1_ground_truth_counts() -> None:
    series = sa1_price_series(load_aemo_sa1(DATA / "aemo_sa1"))
    assert len(series.values) == 35_088
    assert sum(series.labels) == 103  # 102 at or above 5,000 and the -1,000 floor hit


def test_dutch_labels_map_to_raw_indices() -> None:
    series = load_dutch_power_demand(DATA / "dutch_power_demand")
    assert len(series.values) == 35_040
    assert sum(series.labels) == 96 * 8
    first = series.labels.index(True)
    assert first == (972 + 60) * 8  # label line 973 (index 972) is the first "anomaly"
    assert series.event_ms[1] - series.event_ms[0] == 15 * 60_000


def test_nab_windows_and_pjm_sorting() -> None:
    nab = load_nab(DATA / "nab", "realKnownCause/nyc_taxi.csv")
    assert len(runs(nab.labels)) == 5
    assert nab.interval_ms == 30 * 60_000
    pjm = load_pjm_hourly(DATA / "pjm_hourly_kaggle" / "EKPC_hourly.csv", ("29-09-2013 01:00",))
    assert pjm.event_ms == sorted(pjm.event_ms)
    at = pjm.labels.index(True)
    assert pjm.values[at - 1 : at + 1] == [1073.0, 533.0]


def test_flag_series_marks_the_anomaly_points() -> None:
    series = LabelledSeries(
        "t", 3_600_000, [0, 1, 2, 3], [1000.0, 990.0, 400.0, 410.0], [False, False, True, False]
    )
    flags = flag_series(series, [LoadDropDetector()], "T:T")
    assert flags == [False, False, True, False]
    assert score(series.labels, flags).recall == 1.0


def test_evaluate_command_help_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(evaluate, ["--help"]).exit_code == 0
    assert runner.invoke(evaluate, ["--bogus"]).exit_code == 2
    missing = runner.invoke(evaluate, ["--data-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    broken = runner.invoke(evaluate, ["--data-dir", str(tmp_path)])  # exists, but holds no data
    assert broken.exit_code == 1


def test_table_lists_every_row() -> None:
    row = EvaluationRow("pjm EKPC_hourly", "load_drop", score([False, True], [False, True]))
    table = format_table([row, row])
    assert table.count("pjm EKPC_hourly") == 2
    assert "1/1" in table
    assert row.to_dict()["recall"] == 1.0
