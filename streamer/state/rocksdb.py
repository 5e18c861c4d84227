"""The RocksDB edge of the state store: a partition DB as a :class:`~streamer.state.store.Backend`, and one
batch of changes written atomically. Used on the DBs of the worker's Faust table and by benchmarks on their
own DBs; the rest of :mod:`streamer.state` does no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rocksdict

from streamer.state.store import Change

__all__ = ["RocksBackend", "RocksMemory", "open_db", "write_changes"]


class RocksBackend:
    """Reads of one partition DB (``skip``: a key of someone else's, e.g. Faust's changelog offset)."""

    __slots__ = ("_db", "_skip")

    def __init__(self, db: Any, skip: bytes = b"") -> None:
        self._db = db
        self._skip = skip

    def reads(self, db: Any) -> bool:
        """Whether this reads ``db`` (and not an earlier, closed DB of the same partition)."""
        return self._db is db

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


@dataclass(frozen=True)
class RocksMemory:
    """One block cache and one memtable budget shared by every partition DB of a process.

    RocksDB's defaults give each DB its own cache and memtables, so a worker's RocksDB memory grew with the
    partitions it owns (16 partitions at 4 MiB of cache and 2 x 4 MiB of memtables each: 192 MiB). Here the
    cache is one LRU for all of them and a write buffer manager flushes the biggest memtables once all of
    them together reach ``write_buffers_bytes`` (and makes writes wait for a flush above it), so the total
    stays within the two settings however many partitions (and standbys) a worker holds.
    """

    block_cache_bytes: int
    write_buffers_bytes: int
    bloom_bits: int = 10
    max_open_files: int = 256
    cache: Any = field(init=False, repr=False, compare=False)
    manager: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache", rocksdict.Cache(self.block_cache_bytes))
        # allow_stall: a write waits for a flush while all memtables together are over the budget. Without
        # it the budget is only a hint: under CPU load, 16 DBs held 4.5x a 2 MiB budget while flushes lagged.
        object.__setattr__(self, "manager", rocksdict.WriteBufferManager(self.write_buffers_bytes, True))

    @property
    def memtable_bytes(self) -> int:
        """One DB's memtable: a quarter of the budget, at most 4 MiB (two per DB: one filling, one
        flushing)."""
        return max(64 * 1024, min(4 << 20, self.write_buffers_bytes // 4))

    def options(self) -> Any:
        """Options for one more DB (raw-bytes mode) that shares this budget."""
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.memtable_bytes)
        options.set_max_write_buffer_number(2)
        options.set_write_buffer_manager(self.manager)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_bits, block_based=True)
        table.set_block_cache(self.cache)
        # Index and filter blocks live in the shared cache too, not beside it in every open file.
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        return options


def open_db(path: Path, memory: RocksMemory | None = None) -> Any:
    """A RocksDB in raw-bytes mode with the options the worker's table DBs get (its own 4 MiB cache and
    16 MiB of memtables unless ``memory`` is shared)."""
    memory = memory if memory is not None else RocksMemory(4 << 20, 16 << 20)
    return rocksdict.Rdict(str(path), options=memory.options())
