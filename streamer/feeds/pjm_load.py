"""PJM hourly zone load, Kaggle layout (``Datetime,<ZONE>_MW``; ``DD-MM-YYYY HH:MM``).

Stamps are hour-ENDING US/Eastern local time (``00:00`` closes the previous day), so an interval starts one
hour before its stamp. Rows are not sorted: they are emitted in event-time order. At the autumn change the
repeated local hour is listed twice (EDT first, then EST): both are emitted, with their distinct offsets. The
spring hour that does not exist has no row; it is counted as ``dst_gap``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from streamer.errors import FeedError
from streamer.feeds.base import (
    BLANK_VALUE,
    DST_GAP,
    MISSING_INTERVAL,
    FeedStats,
    RawMessage,
    encode,
    parse_number,
)
from streamer.feeds.localtime import EASTERN, localize_in_order, spring_forward_days, to_ms
from streamer.topics import Kind

__all__ = ["read_pjm_load"]

_HOUR_MS = 3_600_000
SOURCE = "pjm-load"


def read_pjm_load(path: Path, stats: FeedStats | None = None) -> Iterator[RawMessage]:
    stats = FeedStats() if stats is None else stats
    zone, rows = _read_rows(path, stats)
    starts = [end - timedelta(hours=1) for end, _ in rows]  # naive wall-clock arithmetic, then localised
    kept: list[tuple[int, datetime, float]] = []
    for (start, reason), (_, mw) in zip(localize_in_order(starts, EASTERN), rows, strict=True):
        if start is None:
            stats.skipped[str(reason)] += 1
        else:
            kept.append((to_ms(start), start, mw))
    kept.sort(key=lambda item: item[0])
    gaps = spring_forward_days((start.date() for _, start, _ in kept), EASTERN)
    if gaps:
        stats.skipped[DST_GAP] += gaps
    key = f"PJM:{zone}"
    previous_ms: int | None = None
    for start_ms, start, mw in kept:
        if previous_ms is not None and start_ms - previous_ms > _HOUR_MS:
            stats.skipped[MISSING_INTERVAL] += (start_ms - previous_ms) // _HOUR_MS - 1
        previous_ms = start_ms
        payload = {
            "market": "PJM",
            "zone": zone,
            "interval_start": start.isoformat(),
            "interval_minutes": 60,
            "mw": mw,
            "version": 1,
            "source": SOURCE,
        }
        yield encode(Kind.LOAD, key, payload, start_ms, stats)


def _read_rows(path: Path, stats: FeedStats) -> tuple[str, list[tuple[datetime, float]]]:
    """The zone and the (naive hour-ending stamp, MW) rows in file order. Blank values are counted."""
    rows: list[tuple[datetime, float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if len(header) != 2 or header[0].strip() != "Datetime" or not header[1].endswith("_MW"):
                raise FeedError(f"{path}: not a PJM hourly load file (header {header!r})")
            zone = header[1].strip().removesuffix("_MW")
            for record in reader:
                if not record:
                    continue
                stats.rows_read += 1
                where = f"{path}:{reader.line_num}"
                end = _parse_stamp(record[0], where)
                mw = parse_number(record[1] if len(record) > 1 else "", where)
                if mw is None:
                    stats.skipped[BLANK_VALUE] += 1
                else:
                    rows.append((end, mw))
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read: {exc}") from exc
    return zone, rows


def _parse_stamp(text: str, where: str) -> datetime:
    """``DD-MM-YYYY HH:MM`` as a naive local datetime (sliced by hand: strptime is the slow part)."""
    text = text.strip()
    try:
        if len(text) != 16 or text[2] != "-" or text[5] != "-" or text[10] != " " or text[13] != ":":
            raise ValueError(text)
        return datetime(int(text[6:10]), int(text[3:5]), int(text[0:2]), int(text[11:13]), int(text[14:16]))  # noqa: DTZ001
    except ValueError:
        raise FeedError(f"{where}: bad Datetime {text!r}") from None
