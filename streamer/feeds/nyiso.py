"""NYISO zonal real-time LBMP CSV.

Columns ``Time Stamp,Name,PTID,LBMP,Marginal Cost Losses,Marginal Cost Congestion``.

Time: stamps are US/Eastern local time without an offset. NYISO stamps real-time LBMP intervals at their END
(the shipped file starts at 00:15, not 00:00), so an interval starts one cadence earlier. The cadence is read
from the file (the smallest step between distinct stamps; 15 minutes in ``data/pyiso/nyiso_lmp.csv``) and
becomes ``interval_minutes``; a file with a single stamp is taken as the 5-minute real-time cadence.

Prices: NYISO publishes congestion with the opposite sign to the LMP identity used here, so
``congestion = -published`` and ``energy = lmp - loss - congestion`` (exact decimal arithmetic), which makes
``lmp == energy + congestion + loss`` hold to the cent.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from streamer.errors import FeedError
from streamer.feeds.base import BLANK_VALUE, FeedStats, RawMessage, encode
from streamer.feeds.localtime import EASTERN, localize_in_order, to_ms
from streamer.topics import Kind

__all__ = ["read_nyiso"]

SOURCE = "nyiso-rt"
_DEFAULT_CADENCE_MIN = 5
_ALLOWED_CADENCE_MIN = frozenset({5, 15, 30, 60})
_LBMP, _LOSS, _CONGESTION = (
    "LBMP ($/MWHr)",
    "Marginal Cost Losses ($/MWHr)",
    "Marginal Cost Congestion ($/MWHr)",
)
_COLUMNS = ("Time Stamp", "Name", _LBMP, _LOSS, _CONGESTION)


class _Row(NamedTuple):
    end: datetime  # naive US/Eastern, interval end
    lmp: Decimal
    loss: Decimal
    published_congestion: Decimal
    ptid: str


def read_nyiso(path: Path, stats: FeedStats | None = None) -> Iterator[RawMessage]:
    stats = FeedStats() if stats is None else stats
    by_node = _read_rows(path, stats)
    cadence_min = _cadence_minutes(path, by_node)
    step = timedelta(minutes=cadence_min)
    out: list[tuple[int, str, RawMessage]] = []
    for node, rows in by_node.items():
        starts = [row.end - step for row in rows]
        for (start, reason), row in zip(localize_in_order(starts, EASTERN), rows, strict=True):
            if start is None:
                stats.skipped[str(reason)] += 1
                continue
            congestion = -row.published_congestion
            energy = row.lmp - row.loss - congestion
            payload: dict[str, object] = {
                "market": "NYISO",
                "node": node,
                "interval_start": start.isoformat(),
                "interval_minutes": cadence_min,
                "lmp": _float(row.lmp),
                "energy": _float(energy),
                "congestion": _float(congestion),
                "loss": _float(row.loss),
                "currency": "USD",
                "version": 1,
                "source": SOURCE,
            }
            if row.ptid:
                payload["ptid"] = int(row.ptid) if row.ptid.isdigit() else row.ptid
            start_ms = to_ms(start)
            out.append((start_ms, node, encode(Kind.PRICES, f"NYISO:{node}", payload, start_ms, stats)))
    out.sort(key=lambda item: (item[0], item[1]))
    for _, _, message in out:
        yield message


def _float(value: Decimal) -> float:
    return float(value) + 0.0  # + 0.0 turns -0.0 (a negated 0.00) into 0.0


def _read_rows(path: Path, stats: FeedStats) -> dict[str, list[_Row]]:
    by_node: dict[str, list[_Row]] = defaultdict(list)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = (line for line in handle if line.strip())  # the file starts with a blank line
            reader = csv.DictReader(lines)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise FeedError(f"{path}: not a NYISO LBMP file (no {', '.join(missing)} column)")
            for number, row in enumerate(reader, start=1):
                stats.rows_read += 1
                where = f"{path}: data row {number}"
                try:
                    end = datetime.strptime(row["Time Stamp"].strip(), "%m/%d/%Y %H:%M:%S")  # noqa: DTZ007
                except ValueError:
                    raise FeedError(f"{where}: bad Time Stamp {row['Time Stamp']!r}") from None
                values = [(row[c] or "").strip() for c in (_LBMP, _LOSS, _CONGESTION)]
                if not all(values):
                    stats.skipped[BLANK_VALUE] += 1
                    continue
                try:
                    lmp, loss, congestion = (Decimal(v) for v in values)
                except InvalidOperation:
                    raise FeedError(f"{where}: not a number in {values!r}") from None
                if not all(d.is_finite() for d in (lmp, loss, congestion)):
                    raise FeedError(f"{where}: not a finite number in {values!r}")
                name = row["Name"].strip()
                by_node[name].append(_Row(end, lmp, loss, congestion, (row.get("PTID") or "").strip()))
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read: {exc}") from exc
    return by_node


def _cadence_minutes(path: Path, by_node: dict[str, list[_Row]]) -> int:
    stamps = sorted({row.end for rows in by_node.values() for row in rows})
    steps = {later - earlier for earlier, later in pairwise(stamps)}
    if not steps:
        return _DEFAULT_CADENCE_MIN
    minutes = int(min(steps) / timedelta(minutes=1))
    if minutes not in _ALLOWED_CADENCE_MIN:
        raise FeedError(f"{path}: stamps are {min(steps)} apart, not a 5/15/30/60-minute cadence")
    return minutes
