"""The harness keeps its garbage collector out of the measured feed, and restores it afterwards."""

from __future__ import annotations

import gc

import pytest

from streamer.benchmark.collector import collector_paused, long_lived_frozen


def test_the_collector_is_paused_inside_and_restored_even_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the feed failed")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_was_allocated_before_is_left_out_of_collections_until_the_end() -> None:
    held = [[i] for i in range(10_000)]
    with long_lived_frozen():
        frozen = gc.get_freeze_count()
        assert frozen >= len(held)
        assert not any(obj is held for obj in gc.get_objects())  # no collection walks it
        young = [[i] for i in range(100)]
        assert gc.get_freeze_count() == frozen and any(obj is young for obj in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(obj is held for obj in gc.get_objects())  # tracked again
