"""Loaders for the labelled evaluation files under ``data/`` (see data/README.md for their quirks).

These read files, so they are not part of the domain core; the evaluation and the tests use them.
Every loader returns series in event-time order with integer epoch milliseconds.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "AEMO_INTERVAL_MS",
    "NEM_TZ",
    "AemoRow",
    "LabelledSeries",
    "load_aemo_sa1",
    "load_dutch_power_demand",
    "load_nab",
    "load_pjm_hourly",
    "sa1_price_series",
]

NEM_TZ = timezone(timedelta(hours=10))  # NEM time: UTC+10, no daylight saving
AEMO_INTERVAL_MS = 30 * 60_000
DUTCH_INTERVAL_MS = 15 * 60_000
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class AemoRow:
    """One AEMO half-hour. ``event_ms`` is the interval START (SETTLEMENTDATE is the end)."""

    event_ms: int
    interval_start: str  # ISO 8601 in +10:00, as a raw price message would carry it
    price: float
    demand_mw: float


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """A univariate series with one ground-truth flag per point."""

    name: str
    interval_ms: int
    event_ms: list[int]
    values: list[float]
    labels: list[bool]


def _ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _nem_time(text: str) -> datetime:
    """``2008/01/01 00:30:00`` in NEM time (sliced by hand: strptime dominated the load time)."""
    if len(text) != 19 or text[4] != "/" or text[7] != "/" or text[13] != ":":
        raise ValueError(f"bad SETTLEMENTDATE {text!r}")
    return datetime(
        int(text[0:4]),
        int(text[5:7]),
        int(text[8:10]),
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
        tzinfo=NEM_TZ,
    )


def load_aemo_sa1(directory: Path) -> list[AemoRow]:
    """Every row of ``DATA*_SA1.csv`` in file-name order, rows in file order."""
    rows: list[AemoRow] = []
    for path in sorted(directory.glob("DATA*_SA1.csv")):
        with path.open(newline="") as handle:
            for rec in csv.DictReader(handle):
                end = _nem_time(rec["SETTLEMENTDATE"])
                start = end - timedelta(milliseconds=AEMO_INTERVAL_MS)
                rows.append(
                    AemoRow(_ms(start), start.isoformat(), float(rec["RRP"]), float(rec["TOTALDEMAND"]))
                )
    return rows


def sa1_price_series(
    rows: list[AemoRow], cap_level: float = 5000.0, floor: float = -1000.0
) -> LabelledSeries:
    """SA1 prices labelled as the README's ground truth: at or above ``cap_level``, or at the floor."""
    return LabelledSeries(
        "aemo_sa1_price",
        AEMO_INTERVAL_MS,
        [r.event_ms for r in rows],
        [r.price for r in rows],
        [r.price >= cap_level or r.price <= floor for r in rows],
    )


def load_pjm_hourly(path: Path, drop_hours: tuple[str, ...] = ()) -> LabelledSeries:
    """A Kaggle PJM zone file (``DD-MM-YYYY HH:MM``, unsorted), sorted by time.

    The timestamps are local wall-clock hours; they are read as if UTC, which keeps order and spacing
    except at DST changes, where the file itself repeats or skips an hour (both kept as they are).
    ``drop_hours`` (same format) are the labelled points.
    """
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        parsed = [
            (datetime.strptime(t, "%d-%m-%Y %H:%M").replace(tzinfo=UTC), t, float(v)) for t, v in reader
        ]
    parsed.sort(key=lambda item: item[0])  # stable: repeated DST hours keep file order
    wanted = set(drop_hours)
    return LabelledSeries(
        path.stem,
        HOUR_MS,
        [_ms(moment) for moment, _, _ in parsed],
        [value for _, _, value in parsed],
        [text in wanted for _, text, _ in parsed],
    )


def load_nab(root: Path, relative: str) -> LabelledSeries:
    """A NAB file with points inside ``labels/combined_windows.json`` windows labelled."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())[relative]
    bounds = [
        (datetime.fromisoformat(a).replace(tzinfo=UTC), datetime.fromisoformat(b).replace(tzinfo=UTC))
        for a, b in windows
    ]
    times: list[int] = []
    values: list[float] = []
    labels: list[bool] = []
    with (root / relative).open(newline="") as handle:
        for rec in csv.DictReader(handle):
            moment = datetime.fromisoformat(rec["timestamp"]).replace(tzinfo=UTC)
            times.append(_ms(moment))
            values.append(float(rec["value"]))
            labels.append(any(a <= moment <= b for a, b in bounds))
    interval_ms = min((b - a for a, b in itertools.pairwise(times) if b > a), default=HOUR_MS)
    return LabelledSeries(relative, interval_ms, times, values, labels)


def load_dutch_power_demand(directory: Path, start: str = "1997-01-01T00:00:00+01:00") -> LabelledSeries:
    """15-minute demand with ``PowerDemandLabel.csv``: label i covers raw points (i+60)*8 .. (i+60)*8+7."""
    values = [float(line) for line in (directory / "power_data.txt").read_text().split()]
    marks = [line.strip() == "anomaly" for line in (directory / "PowerDemandLabel.csv").read_text().split()]
    labels = [False] * len(values)
    for i, marked in enumerate(marks):
        if marked:
            for raw in range((i + 60) * 8, min((i + 61) * 8, len(values))):
                labels[raw] = True
    start_ms = _ms(datetime.fromisoformat(start))
    times = [start_ms + i * DUTCH_INTERVAL_MS for i in range(len(values))]
    return LabelledSeries("dutch_power_demand", DUTCH_INTERVAL_MS, times, values, labels)
