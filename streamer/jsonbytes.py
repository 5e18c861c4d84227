"""JSON bytes that are kept: outputs waiting for their batch's acknowledgement, state entries waiting to be
written.

orjson 3.13 returns each document in a buffer of at least 4 KiB (8 KiB for a ~1 KB record), whatever its
length: 100k small documents held 393 MiB of RSS, their exact copies 18 MiB (3.10 and 3.11 hold about 1 KiB
each). A batch that closes every series' windows keeps hundreds of thousands of bars at once; with 100k series
one such batch took the worker's RSS up by 2.2 GiB. An exact copy costs about 0.2 us per document.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["dumps"]


def dumps(obj: Any) -> bytes:
    """``orjson.dumps(obj)`` in an object of its own length."""
    return bytes(memoryview(orjson.dumps(obj)))
