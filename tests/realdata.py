"""Raw messages built from the real data files in ``data/``, for tests that validate real rows.

Deliberately minimal CSV reading, independent of ``streamer.feeds``, so the validator's tests do not
depend on the converters they would otherwise share a bug with."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
NEM = timezone(timedelta(hours=10))  # AEMO: UTC+10, no DST
EASTERN_WINTER = timezone(timedelta(hours=-5))


def aemo_price_records(
    month: str = "200901", start: int = 0, stop: int | None = None
) -> list[dict[str, Any]]:
    """SA1 prices; SETTLEMENTDATE is the interval END, so the interval starts 30 minutes earlier."""
    with (DATA / "aemo_sa1" / f"DATA{month}_SA1.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[start:stop]
    records = []
    for row in rows:
        end = datetime.strptime(row["SETTLEMENTDATE"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=NEM)
        records.append(
            {
                "market": "AEMO",
                "node": row["REGION"],
                "interval_start": (end - timedelta(minutes=30)).isoformat(),
                "interval_minutes": 30,
                "lmp": float(row["RRP"]),
                "currency": "AUD",
                "version": 1,
                "source": "aemo-dispatch",
            }
        )
    return records


def nyiso_price_records(version: int = 1) -> list[dict[str, Any]]:
    """NYISO zonal LBMP (15-minute, winter): the published congestion has the opposite sign of the
    LMP's congestion term, so congestion = -published and energy = lmp - loss + published."""
    lines = (DATA / "pyiso" / "nyiso_lmp.csv").read_text().lstrip("\n").splitlines()[1:]
    records = []
    for stamp, name, _ptid, lbmp, losses, congestion in csv.reader(lines):
        when = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=EASTERN_WINTER)
        lmp, loss, published = float(lbmp), float(losses), float(congestion)
        records.append(
            {
                "market": "NYISO",
                "node": name,
                "interval_start": when.isoformat(),
                "interval_minutes": 15,
                "lmp": lmp,
                "energy": round(lmp - loss + published, 2),
                "congestion": -published,
                "loss": loss,
                "currency": "USD",
                "version": version,
                "source": "nyiso-rt",
            }
        )
    return records
