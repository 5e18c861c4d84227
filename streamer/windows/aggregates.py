"""The bar record of the contract and the time rendering it needs.

``window_start``/``window_end`` are rendered in the UTC offset of the series' own ``interval_start`` (of the
earliest pane of the window), or UTC when that was unknown. Thousands of series share the same window
boundaries, so rendered times are cached.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from streamer.topics import Kind

if TYPE_CHECKING:
    from streamer.windows.panes import Bar

__all__ = ["bar_record", "iso_ms", "utc_offset_min"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def iso_ms(ms: int, offset_min: int = 0) -> str:
    """ISO 8601 for epoch milliseconds in a fixed UTC offset, e.g. ``2009-01-29T13:00:00+10:00``."""
    tz = UTC if offset_min == 0 else timezone(timedelta(minutes=offset_min))
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).isoformat()


@functools.lru_cache(maxsize=1024)
def _offset_of_suffix(suffix: str) -> int:
    offset = datetime.fromisoformat("2000-01-01T00:00:00" + suffix).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def utc_offset_min(fields: Mapping[str, Any]) -> int:
    """The UTC offset (minutes) of ``fields["interval_start"]`` when it is an aware ISO string, else 0."""
    text = fields.get("interval_start")
    if not isinstance(text, str):
        return 0
    if text.endswith("Z"):
        return 0
    if len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        try:
            return _offset_of_suffix(text[-6:])
        except ValueError:
            return 0
    try:
        offset = datetime.fromisoformat(text).utcoffset()
    except ValueError:
        return 0
    return 0 if offset is None else int(offset.total_seconds()) // 60


def bar_record(key: str, kind: Kind, bar: Bar) -> dict[str, Any]:
    """The ``bars.*`` record. Market and node/zone come from the key ``MARKET:NAME``."""
    market, _, name = key.partition(":")
    start = iso_ms(bar.start_ms, bar.offset_min)
    end = iso_ms(bar.end_ms, bar.offset_min)
    if kind is Kind.LOAD:
        return {
            "key": key,
            "market": market,
            "zone": name,
            "window": bar.window,
            "window_start": start,
            "window_end": end,
            "mean": bar.mean,
            "min": bar.low,
            "max": bar.high,
            "count": bar.count,
        }
    return {
        "key": key,
        "market": market,
        "node": name,
        "window": bar.window,
        "window_start": start,
        "window_end": end,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "mean": bar.mean,
        "min": bar.low,
        "max": bar.high,
        "count": bar.count,
        "twap": bar.twap,
    }
