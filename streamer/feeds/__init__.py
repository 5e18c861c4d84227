"""Feeds: real data files and a synthetic generator turned into raw-topic messages.

The converters are pure (files in, :class:`RawMessage` out);
only :mod:`streamer.feeds.produce` talks to Kafka.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streamer.errors import FeedError
from streamer.feeds.aemo import read_aemo
from streamer.feeds.base import FeedStats, RawMessage, Reader
from streamer.feeds.eia import read_eia
from streamer.feeds.nyiso import read_nyiso
from streamer.feeds.pjm_load import read_pjm_load

__all__ = ["FORMATS", "PATTERNS", "FeedStats", "RawMessage", "Reader", "files_for", "read_path"]

FORMATS: dict[str, Reader] = {
    "aemo": read_aemo,
    "pjm-load": read_pjm_load,
    "eia": read_eia,
    "nyiso": read_nyiso,
}

# Which files of a directory belong to a format (other CSVs in the same folder are left alone).
PATTERNS: dict[str, str] = {
    "aemo": "*.csv",
    "pjm-load": "*_hourly.csv",
    "eia": "*.csv",
    "nyiso": "*lmp*.csv",
}


def files_for(path: Path, fmt: str) -> list[Path]:
    """The file itself, or the matching files of a directory in name order."""
    if fmt not in FORMATS:
        raise FeedError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if path.is_dir():
        files = sorted(p for p in path.glob(PATTERNS[fmt]) if p.is_file())
        if not files:
            raise FeedError(f"{path}: no {PATTERNS[fmt]} files for format {fmt}")
        return files
    if not path.is_file():
        raise FeedError(f"{path}: no such file or directory")
    return [path]


def read_path(path: Path, fmt: str, stats: FeedStats | None = None) -> Iterator[RawMessage]:
    """Every message of a file, or of each matching file of a directory in name order."""
    files = files_for(path, fmt)
    reader = FORMATS[fmt]
    stats = FeedStats() if stats is None else stats
    for file in files:
        yield from reader(file, stats)
