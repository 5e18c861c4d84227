"""AEMO NEM price-and-demand CSV (``REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE``).

``SETTLEMENTDATE`` is the END of a 30-minute trading interval in NEM time (UTC+10, no daylight saving), so the
interval starts 30 minutes earlier. Every row yields a price message (``RRP``, AUD/MWh, no components: AEMO
publishes only the price) and a load message (``TOTALDEMAND``, MW), both keyed ``AEMO:<REGION>``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from streamer.errors import FeedError
from streamer.feeds.base import BLANK_VALUE, FeedStats, RawMessage, encode, parse_number
from streamer.feeds.localtime import to_ms
from streamer.topics import Kind

__all__ = ["NEM_TIME", "read_aemo"]

NEM_TIME = timezone(timedelta(hours=10), "NEM")
_INTERVAL = timedelta(minutes=30)
_COLUMNS = ("REGION", "SETTLEMENTDATE", "TOTALDEMAND", "RRP")
SOURCE = "aemo-dispatch"


def read_aemo(path: Path, stats: FeedStats | None = None) -> Iterator[RawMessage]:
    stats = FeedStats() if stats is None else stats
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise FeedError(f"{path}: not an AEMO price-and-demand file (no {', '.join(missing)} column)")
            for row in reader:
                stats.rows_read += 1
                yield from _row_messages(path, reader.line_num, row, stats)
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read: {exc}") from exc


def _row_messages(path: Path, line: int, row: dict[str, str], stats: FeedStats) -> Iterator[RawMessage]:
    region = row["REGION"].strip()
    try:
        end = datetime.strptime(row["SETTLEMENTDATE"].strip(), "%Y/%m/%d %H:%M:%S").replace(tzinfo=NEM_TIME)
    except ValueError as exc:
        raise FeedError(f"{path}:{line}: bad SETTLEMENTDATE {row['SETTLEMENTDATE']!r}") from exc
    start = end - _INTERVAL
    start_ms = to_ms(start)
    key = f"AEMO:{region}"
    common = {"interval_start": start.isoformat(), "interval_minutes": 30}
    where = f"{path}:{line}"
    rrp, demand = parse_number(row["RRP"], where), parse_number(row["TOTALDEMAND"], where)
    if rrp is None:
        stats.skipped[BLANK_VALUE] += 1
    else:
        price = {"market": "AEMO", "node": region, **common, "lmp": rrp, "currency": "AUD"}
        yield encode(Kind.PRICES, key, {**price, "version": 1, "source": SOURCE}, start_ms, stats)
    if demand is None:
        stats.skipped[BLANK_VALUE] += 1
    else:
        load = {"market": "AEMO", "zone": region, **common, "mw": demand}
        yield encode(Kind.LOAD, key, {**load, "version": 1, "source": SOURCE}, start_ms, stats)
