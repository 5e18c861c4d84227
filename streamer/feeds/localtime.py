"""Local wall-clock stamps from ISO files, made unambiguous.

US files stamp intervals in local time without an offset. At the autumn change one local hour happens twice;
files list it twice, EDT first and EST second, so the n-th occurrence of a repeated stamp gets ``fold=n``.
At the spring change one local hour does not exist, so a file has no row for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from streamer.feeds.base import DUPLICATE, NONEXISTENT_TIME

__all__ = ["EASTERN", "localize_in_order", "spring_forward_days", "to_ms"]

EASTERN = ZoneInfo("America/New_York")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Integer epoch milliseconds of an aware datetime (no float rounding)."""
    return (moment - _EPOCH) // _MS


def _near_change(naive: datetime, tz: ZoneInfo) -> bool:
    """True when the stamp is repeated or skipped by a clock change (the two folds disagree)."""
    return naive.replace(tzinfo=tz, fold=0).utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset()


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def localize_in_order(
    naives: Iterable[datetime], tz: ZoneInfo
) -> Iterator[tuple[datetime | None, str | None]]:
    """For stamps in file order: ``(aware, None)`` or ``(None, skip_reason)``.

    The first occurrence of an ambiguous stamp is the earlier (daylight) instant, the second the later one.
    Any further repeat, and any repeat of an unambiguous stamp, is a duplicate.
    """
    seen: Counter[datetime] = Counter()
    for naive in naives:
        occurrence = seen[naive]
        seen[naive] += 1
        changing = _near_change(naive, tz)
        if changing and not _exists(naive, tz):
            yield None, NONEXISTENT_TIME
        elif occurrence == 0:
            yield naive.replace(tzinfo=tz, fold=0), None
        elif occurrence == 1 and changing:
            yield naive.replace(tzinfo=tz, fold=1), None
        else:
            yield None, DUPLICATE


def spring_forward_days(days: Iterable[date], tz: ZoneInfo) -> int:
    """How many of these local days lose an hour to daylight saving time."""
    count = 0
    for day in set(days):
        start = datetime.combine(day, time(), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
        if end.astimezone(UTC) - start.astimezone(UTC) < timedelta(days=1):
            count += 1
    return count
