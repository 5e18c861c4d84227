"""One series' summary entry: the last input offset applied, the newest interval, and detector state.

It is read and written for every event of the series, so it is kept small: the detectors' state is a few
numbers each, except the spike detector's window, of which only the values since its last full chunk are in
the summary (full chunks are separate entries written once; see :mod:`streamer.detectors.spike`).

``last_offset`` makes the detectors idempotent: after a crash the changelog may hold this entry but not the
partition's meta (next offset), so a record is processed again; its offset is not above ``last_offset``, and
the detectors do not see it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streamer import jsonbytes
from streamer.detectors import DetectorSet
from streamer.state.keys import chunk_key, series_key
from streamer.state.store import Change
from streamer.topics import Kind

__all__ = ["SeriesState"]


class SeriesState:
    __slots__ = ("detectors", "key", "kind", "last_offset", "newest_ms")

    def __init__(
        self,
        kind: Kind,
        key: str,
        detectors: DetectorSet,
        last_offset: int = -1,
        newest_ms: int | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.detectors = detectors
        self.last_offset = last_offset
        self.newest_ms = newest_ms

    def encode(self) -> list[Change]:
        changes: list[Change] = [
            (chunk_key(self.kind, self.key, slot), data)
            for slot, data in self.detectors.take_chunks(self.key)
        ]
        summary = [self.last_offset, self.newest_ms, self.detectors.dump_key(self.key)]
        changes.append((series_key(self.kind, self.key), jsonbytes.dumps(summary)))
        return changes

    def evicted(self) -> None:
        self.detectors.forget(self.key)

    @classmethod
    def decode(
        cls,
        kind: Kind,
        key: str,
        detectors: DetectorSet,
        data: bytes,
        read_chunk: Callable[[int], bytes | None],
    ) -> SeriesState:
        last_offset, newest_ms, parts = orjson.loads(data)
        if parts:
            detectors.load_key(key, parts, read_chunk)
        return cls(kind, key, detectors, int(last_offset), newest_ms)

    @staticmethod
    def stale_part(data: bytes) -> Any:
        """The stale-feed detector's part of an encoded summary (None if it has none)."""
        parts = orjson.loads(data)[2]
        return None if not parts else parts.get("stale_feed")
