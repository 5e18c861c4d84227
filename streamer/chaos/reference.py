"""The bars an uninterrupted single worker would publish for the same inputs, computed in this process with
the worker's own processor over a temporary RocksDB, to compare a chaos run's bars with."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer.chaos.audit import OutputRecord, derived_identity
from streamer.dlq import Origin
from streamer.feeds.base import RawMessage
from streamer.processor import InMessage, processor_for
from streamer.settings import Settings
from streamer.state import StateStore
from streamer.state.rocksdb import RocksBackend, open_db, write_changes

__all__ = ["reference_bars"]

_BATCH = 2_000


def reference_bars(settings: Settings, inputs: Sequence[tuple[Origin, RawMessage]]) -> dict[Any, bytes]:
    """(topic, bar identity) -> digest of the bar's bytes, as the audit's ``Ledger`` keeps them."""
    ordered = sorted(inputs, key=lambda item: (item[0].partition, item[0].topic, item[0].offset))
    root = Path(tempfile.mkdtemp(prefix="streamer-reference-"))
    dbs: dict[int, Any] = {}

    def backend(partition: int) -> RocksBackend:
        if partition not in dbs:
            dbs[partition] = open_db(root / f"p{partition}")
        return RocksBackend(dbs[partition])

    processor = processor_for(
        settings,
        StateStore(backend, settings.state_cache_series, settings.state_cache_panes),
        lambda: int(time.time() * 1000),
        spread_bars=False,  # every bar of the inputs, though no batch comes after the last
    )
    bars: dict[Any, bytes] = {}
    try:
        for start in range(0, len(ordered), _BATCH):
            batch = [
                InMessage(o.topic, o.partition, o.offset, m.key, m.value, (), m.timestamp_ms)
                for o, m in ordered[start : start + _BATCH]
            ]
            result = processor.process(batch)
            for partition, changes in processor.take_changes().items():
                write_changes(dbs[partition], changes)
            processor.persisted()
            for out in result.derived:
                if out.outcome == "bar":
                    record = OutputRecord(out.topic, out.value)
                    ident = (record.topic, derived_identity(record.value))
                    bars.setdefault(ident, hashlib.blake2b(out.value or b"", digest_size=12).digest())
    finally:
        for db in dbs.values():
            db.close()
        shutil.rmtree(root, ignore_errors=True)
    return bars
