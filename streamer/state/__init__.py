"""The worker's state, keyed at the grain it changes, behind a bounded write-back cache. No Faust, no I/O
beyond the backend it is given (RocksDB through the Faust table in the worker; a dict in tests)."""

from __future__ import annotations

from streamer.state.series import SeriesState
from streamer.state.store import Backend, Change, MemoryBackend, StateStore

__all__ = ["Backend", "Change", "MemoryBackend", "SeriesState", "StateStore"]
