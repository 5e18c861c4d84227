"""The RocksDB edge of the state store: a partition DB as a :class:`~streamer.state.store.Backend`, and one
batch of changes written atomically. Used on the DBs of the worker's Faust table and by benchmarks on their
own DBs; the rest of :mod:`streamer.state` does no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import rocksdict

from streamer.state.store import Change

__all__ = ["RocksBackend", "open_db", "write_changes"]


class RocksBackend:
    """Reads of one partition DB (``skip``: a key of someone else's, e.g. Faust's changelog offset)."""

    __slots__ = ("_db", "_skip")

    def __init__(self, db: Any, skip: bytes = b"") -> None:
        self._db = db
        self._skip = skip

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.items(from_key=start):
            if key >= stop:
                return
            if key != self._skip:
                yield key, value


def write_changes(db: Any, changes: Iterable[Change], extra: Iterable[Change] = ()) -> None:
    """Apply ``changes`` (and ``extra``) in one atomic write."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in (*changes, *extra):
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    db.write(batch)


def open_db(path: Path, write_buffer_bytes: int = 4 << 20, block_cache_bytes: int = 4 << 20) -> Any:
    """A RocksDB in raw-bytes mode with the same shape of options the worker's table DBs get."""
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(write_buffer_bytes)
    options.set_max_write_buffer_number(2)
    table = rocksdict.BlockBasedOptions()
    table.set_bloom_filter(10, block_based=True)
    table.set_block_cache(rocksdict.Cache(block_cache_bytes))
    options.set_block_based_table_factory(table)
    return rocksdict.Rdict(str(path), options=options)
