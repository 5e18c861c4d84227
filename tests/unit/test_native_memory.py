"""The allocator hands back memory the worker freed (the worker's image and CI run glibc)."""

from __future__ import annotations

import resource

from streamer.native_memory import limit_arenas, release_free_memory


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def test_freed_holes_in_the_heap_go_back_to_the_system() -> None:
    # ~190 MiB from malloc itself, not from Python's small-object pools
    blocks = [bytes(20_000) for _ in range(10_000)]
    del blocks[::2]  # holes between live blocks: free() alone cannot shrink the heap
    before = _rss_mib()
    assert release_free_memory()
    after = _rss_mib()
    assert before - after > 50, f"RSS {before:.0f} -> {after:.0f} MiB"
    assert len(blocks) == 5_000


def test_the_arena_limit_is_accepted() -> None:
    assert limit_arenas(2)
