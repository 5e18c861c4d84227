"""The byte layout of state keys in a partition's store. Pure functions, no I/O.

Every entry of a raw topic-partition's state lives in one RocksDB (one per table partition, co-partitioned
with the raw topics), so keys need not name the partition. They start with a type byte and the kind byte,
and sort the way the scans need them:

- ``s K series``             the series summary (last applied offset, newest interval, detector state);
- ``h K len series slot``    a full chunk of the spike detector's history (a ring of slots);
- ``p K len series time``    a window pane: a series' panes are one short prefix scan, and a restart
                             finds every open pane with one scan of the kind;
- ``r K time series``        a revision entry (version, digest, origin), time first: pruning the ones past
                             the horizon is one range scan;
- ``m K``                    the partition's meta entry (watermark, next offset to process, ...).

Times are signed milliseconds shifted by 2^63 and written big-endian, so byte order is time order, before
1970 too.
"""

from __future__ import annotations

import struct

from streamer.topics import Kind

__all__ = [
    "KIND_BYTE",
    "chunk_key",
    "meta_key",
    "pane_key",
    "pane_prefix",
    "pane_start",
    "parse_pane_key",
    "parse_series_key",
    "revision_key",
    "revision_prefix",
    "series_key",
    "series_pane_prefix",
    "series_prefix",
    "time_bytes",
]

KIND_BYTE: dict[Kind, bytes] = {Kind.PRICES: b"P", Kind.LOAD: b"L", Kind.GAS: b"G"}
_SHIFT = 1 << 63
_TIME = struct.Struct(">Q")
_SLOT = struct.Struct(">H")


def time_bytes(ms: int) -> bytes:
    return _TIME.pack(ms + _SHIFT)


def _time(data: bytes) -> int:
    return int(_TIME.unpack(data)[0]) - _SHIFT


def series_prefix(kind: Kind) -> bytes:
    return b"s" + KIND_BYTE[kind]


def series_key(kind: Kind, key: str) -> bytes:
    return b"s" + KIND_BYTE[kind] + key.encode()


def parse_series_key(data: bytes) -> str:
    return data[2:].decode()


def chunk_key(kind: Kind, key: str, slot: int) -> bytes:
    name = key.encode()
    return b"h" + KIND_BYTE[kind] + _SLOT.pack(len(name)) + name + _SLOT.pack(slot)


def pane_prefix(kind: Kind) -> bytes:
    return b"p" + KIND_BYTE[kind]


def series_pane_prefix(kind: Kind, key: str) -> bytes:
    name = key.encode()
    return b"p" + KIND_BYTE[kind] + _SLOT.pack(len(name)) + name


def pane_key(kind: Kind, key: str, start_ms: int) -> bytes:
    return series_pane_prefix(kind, key) + time_bytes(start_ms)


def pane_start(data: bytes) -> int:
    """The pane start of a :func:`pane_key`."""
    return _time(data[-8:])


def parse_pane_key(data: bytes) -> tuple[int, str]:
    """``(pane start, series key)`` of a :func:`pane_key`."""
    (length,) = _SLOT.unpack(data[2:4])
    return _time(data[4 + length :]), data[4 : 4 + length].decode()


def revision_prefix(kind: Kind) -> bytes:
    return b"r" + KIND_BYTE[kind]


def revision_key(kind: Kind, key: str, interval_start_ms: int) -> bytes:
    return b"r" + KIND_BYTE[kind] + time_bytes(interval_start_ms) + key.encode()


def meta_key(kind: Kind) -> bytes:
    return b"m" + KIND_BYTE[kind]
