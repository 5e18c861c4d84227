"""RocksDB's memory is bounded by the two settings, not multiplied by the partitions a worker holds."""

from __future__ import annotations

from pathlib import Path

from faust.types import TP

from streamer.faust_boundary import RestoringTable, TableState
from streamer.pipeline import STATE_TABLE, create_app
from streamer.settings import load_settings
from streamer.state.rocksdb import RocksMemory, open_db, write_changes

VALUE = bytes(range(256)) * 2


def test_sixteen_partition_dbs_stay_within_one_memtable_budget(tmp_path: Path) -> None:
    memory = RocksMemory(block_cache_bytes=1 << 20, write_buffers_bytes=2 << 20)
    dbs = [open_db(tmp_path / f"p{p}", memory) for p in range(16)]
    peak = 0
    for i in range(40_000):  # 20 MiB of values: ten times the budget, more than 16 own memtables would hold
        db = dbs[i % 16]
        write_changes(db, [(b"k%08d" % i, VALUE)])
        peak = max(peak, memory.manager.get_usage())
    assert peak > 0, "the DBs are not charged to the shared write buffer manager"
    # The manager flushes once the mutable memtables pass 90% of the budget, and a write waits above it.
    assert peak <= 1.25 * memory.write_buffers_bytes, peak
    for i in range(0, 40_000, 997):
        assert dbs[i % 16][b"k%08d" % i] == VALUE
    assert 0 < memory.cache.get_usage() <= memory.block_cache_bytes
    for db in dbs:
        db.close()


def test_the_worker_table_partitions_share_the_settings_budget(tmp_path: Path) -> None:
    settings = load_settings(
        {"data_dir": tmp_path, "rocksdb_block_cache_bytes": 3 << 20, "rocksdb_write_buffer_bytes": 5 << 20}
    )
    app = create_app(settings)
    table = app.tables[STATE_TABLE]
    assert isinstance(table, RestoringTable)
    memory = table.rocksdb_memory
    assert memory is not None
    assert (memory.block_cache_bytes, memory.write_buffers_bytes) == (3 << 20, 5 << 20)
    state = TableState(table)
    for partition in range(4):
        state.write(partition, [(b"series-%d" % partition, VALUE)], changelog_offset=7)
    assert memory.manager.get_usage() > 0, "the table's partition DBs do not use the shared budget"
    assert state.backend(2).get(b"series-2") == VALUE


def test_a_partition_revoked_and_assigned_again_reopens_while_a_backend_of_it_was_cached(
    tmp_path: Path,
) -> None:
    """Faust leaves closing a revoked partition's DB to the garbage collector; a reference still alive
    (here the bulk writer's cached backend) kept its lock, and the reopen when the partition came back
    failed with 'lock hold by current process', which crashed the worker in a chaos run."""
    app = create_app(load_settings({"data_dir": tmp_path}))
    table = app.tables[STATE_TABLE]
    state = TableState(table)
    state.write(0, [(b"series-0", VALUE)], changelog_offset=3)
    stale = state.backend(0)
    changelog = TP(table.changelog_topic.get_topic_name(), 0)
    table.data.revoke_partitions(table, {changelog})
    assert state.backend(0).get(b"series-0") == VALUE  # reopened, not refused
    assert table.data.persisted_offset(changelog) == 3
    assert stale is not state.backend(0)
