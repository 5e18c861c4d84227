"""Keep the harness's own garbage collector out of what it measures.

The harness holds every message of a run (a backlog and the latency phase's inputs: 400k objects for the
default 200k-message compare). Each full collection walked them all, and one during the paced feed stopped
the feed for 100-160 ms: the inputs stamped just before it waited that long to leave, and those due during
it were sent in one burst afterwards, so a pause of the load generator counted as the variant's latency
(in one run, every input over 50 ms: one such pause made a p99 of 84 ms out of a p50 of 4 ms).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused", "long_lived_frozen"]


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Everything allocated so far is left out of later collections (:func:`gc.freeze`) until the end."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside; what piles up is collected once the block ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
