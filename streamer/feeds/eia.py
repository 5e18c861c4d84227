"""EIA Henry Hub daily spot price CSV (series RNGWHHD, USD/MMBtu).

Four preamble lines, then ``Day,<title>``; dates are ``MM/D/YYYY``, newest first, so rows are emitted oldest
first. A blank price is skipped and counted (never sent as null). The Kafka timestamp of a gas message is the
trade date at 00:00 UTC: a daily price has no interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

from streamer.errors import FeedError
from streamer.feeds.base import BLANK_VALUE, DUPLICATE, FeedStats, RawMessage, encode, parse_number
from streamer.feeds.localtime import to_ms
from streamer.topics import Kind

__all__ = ["read_eia"]

_PREAMBLE_LINES = 4
SOURCE = "eia"


def read_eia(path: Path, stats: FeedStats | None = None) -> Iterator[RawMessage]:
    stats = FeedStats() if stats is None else stats
    prices: dict[date, float] = {}
    for trade_date, price in _rows(path, stats):
        if trade_date in prices:
            stats.skipped[DUPLICATE] += 1
        else:
            prices[trade_date] = price
    for trade_date in sorted(prices):
        payload = {
            "market": "EIA",
            "hub": "HENRY",
            "trade_date": trade_date.isoformat(),
            "price": prices[trade_date],
            "unit": "USD/MMBtu",
            "version": 1,
            "source": SOURCE,
        }
        timestamp_ms = to_ms(datetime.combine(trade_date, time(), tzinfo=UTC))
        yield encode(Kind.GAS, "EIA:HENRY", payload, timestamp_ms, stats)


def _rows(path: Path, stats: FeedStats) -> Iterator[tuple[date, float]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read: {exc}") from exc
    if len(lines) <= _PREAMBLE_LINES or not lines[_PREAMBLE_LINES].startswith("Day,"):
        raise FeedError(
            f"{path}: not an EIA daily price file (no 'Day,' header on line {_PREAMBLE_LINES + 1})"
        )
    for number, line in enumerate(lines[_PREAMBLE_LINES + 1 :], start=_PREAMBLE_LINES + 2):
        if not line.strip():
            continue
        stats.rows_read += 1
        where = f"{path}:{number}"
        day_text, _, price_text = line.partition(",")
        try:
            month, day, year = (int(part) for part in day_text.strip().split("/"))
            trade_date = date(year, month, day)
        except ValueError:
            raise FeedError(f"{where}: bad date {day_text!r}") from None
        price = parse_number(price_text, where)
        if price is None:
            stats.skipped[BLANK_VALUE] += 1
        else:
            yield trade_date, price
