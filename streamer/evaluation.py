"""Detector accuracy: point-wise and event-wise precision/recall and detection delay, on labelled series.

Definitions (all on one series of points in event-time order):

- point-wise: a point is predicted positive when any selected detector flags it (``event_ms`` of the anomaly);
  precision = TP / predicted, recall = TP / labelled, F1 their harmonic mean.
- event-wise: a true event is a maximal run of consecutive labelled points (a NAB window is one such run);
  a predicted event is a maximal run of consecutive flagged points. Event recall = true events with at least
  one flagged point / true events; event precision = predicted events overlapping a true event / predicted
  events.
- detection delay: for each detected true event, the index of its first flagged point minus the index of its
  first point, in intervals.

A ratio with an empty denominator is None ("undefined"), never a silent 0 or 1.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streamer.detectors import (
    AnomalyType,
    BandConfig,
    BandDetector,
    Detector,
    FlatlineConfig,
    FlatlineDetector,
    LoadDropConfig,
    LoadDropDetector,
    SpikeConfig,
    SpikeDetector,
)
from streamer.evaluation_data import (
    LabelledSeries,
    load_aemo_sa1,
    load_dutch_power_demand,
    load_nab,
    load_pjm_hourly,
    sa1_price_series,
)

__all__ = [
    "NAB_FILES",
    "EvaluationRow",
    "Scores",
    "flag_series",
    "run_evaluation",
    "runs",
    "score",
]

NAB_FILES = (
    "artificialNoAnomaly/art_flatline.csv",
    "artificialWithAnomaly/art_daily_flatmiddle.csv",
    "artificialWithAnomaly/art_daily_jumpsdown.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialWithAnomaly/art_increase_spike_density.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/nyc_taxi.csv",
)
PJM_DROPS = {"EKPC_hourly.csv": ("29-09-2013 01:00",), "DEOK_hourly.csv": ("22-04-2018 01:00",)}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True as inclusive ``(first, last)`` index pairs."""
    found: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            found.append((start, i - 1))
            start = None
    if start is not None:
        found.append((start, len(flags) - 1))
    return found


@dataclass(frozen=True, slots=True)
class Scores:
    points: int
    labelled: int
    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    events: int
    events_detected: int
    event_recall: float | None
    predicted_events: int
    predicted_events_true: int
    event_precision: float | None
    mean_delay: float | None
    median_delay: float | None


def score(labels: Sequence[bool], flags: Sequence[bool]) -> Scores:
    """Compare predicted ``flags`` with ground-truth ``labels`` (same length)."""
    if len(labels) != len(flags):
        raise ValueError("labels and flags differ in length")
    tp = sum(1 for a, b in zip(labels, flags, strict=True) if a and b)
    labelled, flagged = sum(labels), sum(flags)
    precision, recall = _ratio(tp, flagged), _ratio(tp, labelled)
    f1 = None
    if precision is not None and recall is not None and precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    true_events = runs(labels)
    delays: list[int] = []
    for first, last in true_events:
        hit = next((i for i in range(first, last + 1) if flags[i]), None)
        if hit is not None:
            delays.append(hit - first)
    predicted = runs(flags)
    predicted_true = sum(1 for first, last in predicted if any(labels[first : last + 1]))
    return Scores(
        points=len(labels),
        labelled=labelled,
        flagged=flagged,
        true_positives=tp,
        precision=precision,
        recall=recall,
        f1=f1,
        events=len(true_events),
        events_detected=len(delays),
        event_recall=_ratio(len(delays), len(true_events)),
        predicted_events=len(predicted),
        predicted_events_true=predicted_true,
        event_precision=_ratio(predicted_true, len(predicted)),
        mean_delay=statistics.fmean(delays) if delays else None,
        median_delay=float(statistics.median(delays)) if delays else None,
    )


def flag_series(
    series: LabelledSeries,
    detectors: Iterable[Detector],
    key: str,
    fields: dict[str, Any] | None = None,
    require_all: bool = False,
) -> list[bool]:
    """Feed the series through the detectors in order and flag the points anomalies name.

    By default a point is flagged when any detector names it; with ``require_all`` only when every
    detector does (e.g. a spike that is also near the cap).
    """
    detectors = list(detectors)
    record = {"interval_minutes": series.interval_ms // 60_000, **(fields or {})}
    index = {ms: i for i, ms in enumerate(series.event_ms)}
    found: list[set[AnomalyType]] = [set() for _ in series.values]
    for event_ms, value in zip(series.event_ms, series.values, strict=True):
        for detector in detectors:
            for anomaly in detector.observe(key, event_ms, value, record):
                found[index.get(anomaly.event_ms, index[event_ms])].add(anomaly.type)
    needed = len({d.type for d in detectors}) if require_all else 1
    return [len(types) >= needed for types in found]


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    dataset: str
    detectors: str
    scores: Scores

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "detectors": self.detectors, **asdict(self.scores)}


_Factory = Callable[[], list[Detector]]

# The cap-level alert: a robust spike whose value is also within 55% of the cap or floor (AEMO 2008-09:
# >= 4,500 or <= -450). The robust score alone cannot tell a 3,000 spike from a 5,000 one.
CAP_LEVEL_BAND = BandConfig(near_fraction=0.55)


def _sa1_variants() -> list[tuple[str, _Factory, bool]]:
    no_learning = SpikeConfig(learn_from_spikes=False)
    return [
        ("spike", lambda: [SpikeDetector()], False),
        ("spike(no-learn)", lambda: [SpikeDetector(no_learning)], False),
        ("band(5%)", lambda: [BandDetector()], False),
        ("spike OR band(5%)", lambda: [SpikeDetector(), BandDetector()], False),
        ("spike AND band(55%)", lambda: [SpikeDetector(), BandDetector(CAP_LEVEL_BAND)], True),
        (
            "spike(no-learn) AND band(55%)",
            lambda: [SpikeDetector(no_learning), BandDetector(CAP_LEVEL_BAND)],
            True,
        ),
    ]


def _telemetry_detectors(interval_ms: int) -> list[Detector]:
    day_n = max(3, 86_400_000 // interval_ms)
    spike = SpikeConfig(window_n=day_n, min_history=min(day_n, 12), threshold=6.0)
    return [SpikeDetector(spike), FlatlineDetector(FlatlineConfig(k=12)), LoadDropDetector()]


def run_evaluation(data_dir: Path) -> list[EvaluationRow]:
    """Every dataset of the report, with the detector variants compared on each."""
    rows: list[EvaluationRow] = []
    sa1 = sa1_price_series(load_aemo_sa1(data_dir / "aemo_sa1"))
    for name, make, require_all in _sa1_variants():
        flags = flag_series(sa1, make(), "AEMO:SA1", {"market": "AEMO"}, require_all)
        rows.append(EvaluationRow("aemo_sa1 (>=5000 or floor)", name, score(sa1.labels, flags)))

    for file_name, hours in PJM_DROPS.items():
        pjm = load_pjm_hourly(data_dir / "pjm_hourly_kaggle" / file_name, hours)
        flags = flag_series(pjm, [LoadDropDetector()], f"PJM:{pjm.name}")
        rows.append(EvaluationRow(f"pjm {pjm.name}", "load_drop", score(pjm.labels, flags)))

    for relative in NAB_FILES:
        nab = load_nab(data_dir / "nab", relative)
        flags = flag_series(nab, _telemetry_detectors(nab.interval_ms), "NAB:" + relative)
        rows.append(EvaluationRow(f"nab {relative}", "spike+flatline+load_drop", score(nab.labels, flags)))

    dutch = load_dutch_power_demand(data_dir / "dutch_power_demand")
    week_n = 7 * 86_400_000 // dutch.interval_ms
    variants: list[tuple[str, _Factory]] = [
        ("load_drop(step)", lambda: [LoadDropDetector()]),
        ("load_drop(vs week before, 30%)", lambda: [LoadDropDetector(LoadDropConfig(lag_n=week_n))]),
    ]
    for name, make in variants:
        flags = flag_series(dutch, make(), "DUTCH:DEMAND")
        rows.append(EvaluationRow("dutch_power_demand", name, score(dutch.labels, flags)))
    return rows
