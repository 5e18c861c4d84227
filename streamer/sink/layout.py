"""Where the history sink's files go and what their names say. Pure: no I/O.

``<base>/topic=<topic>/market=<market>/date=<YYYY-MM-DD>/part-<partition>-<first>-<last>-<files>.parquet``

A *roll* is what the sink writes at once for one (topic, partition): the records of offsets ``first`` to
``last`` (inclusive; gaps are transaction markers), split by market and day into ``files`` files, one per
directory, all with the same name. The name is enough to tell whether a roll is complete (all ``files``
of it exist), so the files themselves are the sink's progress: after a crash, each partition resumes after
the last offset of its newest complete roll, and the files of an incomplete roll (a crash between two
renames) are deleted and written again. Files are written under a temporary name (a leading dot, which
Hive, Spark and DuckDB's ``*.parquet`` globs skip) and renamed when complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = ["Roll", "hive_dir", "market_of", "parse_name", "parse_temp_name", "temp_name"]

_NAME = re.compile(r"^part-(\d{5})-(\d{20})-(\d{20})-(\d{4})\.parquet$")
_TEMP = re.compile(r"^\.(part-(\d{5})-\d{20}-\d{20}-\d{4}\.parquet)\.[0-9a-f]+\.tmp$")


@dataclass(frozen=True, slots=True, order=True)
class Roll:
    """One roll of one topic partition: offsets ``first``..``last``, written as ``files`` files."""

    partition: int
    first: int
    last: int
    files: int

    @property
    def name(self) -> str:
        return f"part-{self.partition:05d}-{self.first:020d}-{self.last:020d}-{self.files:04d}.parquet"


def parse_name(name: str) -> Roll | None:
    """The roll a final file name belongs to, or None for any other name."""
    match = _NAME.match(name)
    if match is None:
        return None
    partition, first, last, files = (int(g) for g in match.groups())
    return Roll(partition, first, last, files)


def temp_name(final: str, token: str) -> str:
    return f".{final}.{token}.tmp"


def parse_temp_name(name: str) -> int | None:
    """The partition of a temporary file of the sink, or None for any other name."""
    match = _TEMP.match(name)
    return None if match is None else int(match.group(2))


def _escape(value: str) -> str:
    # Hive escapes path-special characters in partition values as %XX; market names rarely have any.
    return quote(value, safe=" ,:;+@-_.~")


def hive_dir(base: str, topic: str, market: str, day: str) -> str:
    """``base/topic=T/market=M/date=D`` (``market`` escaped as Hive does)."""
    return f"{base.rstrip('/')}/topic={topic}/market={_escape(market)}/date={day}"


def market_of(directory_part: str) -> str:
    """The market of a ``market=...`` path segment."""
    return unquote(directory_part.removeprefix("market="))
