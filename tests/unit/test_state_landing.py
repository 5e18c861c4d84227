"""The store's view of changes that are being written while the next batch is processed: what a read finds
before the backend holds them, and after."""

from __future__ import annotations

import pytest

from streamer.state import MemoryBackend, StateStore
from streamer.state.keys import pane_key, revision_key
from streamer.topics import Kind
from streamer.windows.panes import Pane

FIVE_MINUTES = 300_000


def _pane(start_ms: int, value: float) -> Pane:
    pane = Pane(start_ms)
    pane.add(start_ms, FIVE_MINUTES, value, start_ms + FIVE_MINUTES, offset=start_ms // FIVE_MINUTES)
    return pane


def test_reads_see_landing_changes_over_the_backend_until_they_landed() -> None:
    backend = MemoryBackend()
    store = StateStore(lambda partition: backend, series_capacity=1, pane_capacity=1)
    old, kept, new = (revision_key(Kind.PRICES, "PJM:A", t * FIVE_MINUTES) for t in (1, 2, 3))
    backend.apply([(old, b"old"), (kept, b"kept")])
    store.put_pane(0, Kind.PRICES, "PJM:A", _pane(0, 10.0))
    store.put_pane(0, Kind.PRICES, "PJM:A", _pane(FIVE_MINUTES, 11.0))
    backend.apply([(pane_key(Kind.PRICES, "PJM:A", 0), b"[0,0,-1,0,0,0,0,0,0,0,[],[],0,[]]")])
    store.delete_pane(0, Kind.PRICES, "PJM:A", 0)
    store.put(0, old, None)
    store.put(0, new, b"new")
    changes = {0: store.take_changes(0)}

    store.landing(changes)
    store.forget_partitions()  # the series' panes leave the cache while their changes are still landing
    assert store.cached_counts() == (0, 0)
    assert store.get(0, new) == b"new" and store.get(0, old) is None and store.get(0, kept) == b"kept"
    prefix = revision_key(Kind.PRICES, "", 0)[:2]
    assert [k for k, _ in store.scan(0, prefix, prefix + b"\xff")] == [kept, new]
    panes = store.read_panes(0, Kind.PRICES, "PJM:A")
    assert list(panes) == [FIVE_MINUTES] and panes[FIVE_MINUTES].open == 11.0

    backend.apply(changes[0])
    store.landed()
    assert store.get(0, new) == b"new" and store.get(0, old) is None
    assert list(store.read_panes(0, Kind.PRICES, "PJM:A")) == [FIVE_MINUTES]


def test_only_one_batch_lands_at_a_time() -> None:
    store = StateStore(lambda partition: MemoryBackend())
    store.landing({0: [(b"k", b"v")]})
    with pytest.raises(RuntimeError, match="still landing"):
        store.landing({0: [(b"k", b"w")]})
    store.landed()
    store.landing({0: [(b"k", b"w")]})
    assert store.get(0, b"k") == b"w"
