"""The two backends of the state store agree: the in-memory one used by tests and in-process runs reads
exactly what the worker's RocksDB reads after the same changes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.state import MemoryBackend
from streamer.state.rocksdb import RocksBackend, open_db, write_changes
from streamer.state.store import Change

# Few distinct keys, so batches delete, re-add and overwrite the same ones; prefixes of each other and bytes
# at both ends of the range, so scan bounds fall between, on and around them.
_keys = st.sampled_from([b"\x00", b"a", b"a\x00", b"ab", b"b", b"ba", b"b\xff", b"c", b"\xff"])
_change = st.tuples(_keys, st.one_of(st.none(), st.binary(min_size=1, max_size=4)))
_batches = st.lists(st.lists(_change, max_size=12), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(batches=_batches, bounds=st.lists(st.tuples(_keys, _keys), min_size=1, max_size=5))
def test_memory_backend_reads_what_rocksdb_reads(
    batches: list[list[Change]], bounds: list[tuple[bytes, bytes]]
) -> None:
    memory = MemoryBackend()
    with tempfile.TemporaryDirectory() as root:
        db = open_db(Path(root) / "p0")
        try:
            rocks = RocksBackend(db)
            for changes in batches:
                memory.apply(changes)
                write_changes(db, changes)
                for start, stop in bounds:
                    assert list(memory.scan(start, stop)) == list(rocks.scan(start, stop))
                for key, _ in changes:
                    assert memory.get(key) == rocks.get(key)
        finally:
            db.close()


def test_a_scan_does_not_yield_an_entry_deleted_while_it_runs() -> None:
    backend = MemoryBackend()
    backend.apply([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    seen = []
    for key, value in backend.scan(b"a", b"z"):
        seen.append((key, value))
        if key == b"a":
            backend.apply([(b"b", None)])
    assert seen == [(b"a", b"1"), (b"c", b"3")]
