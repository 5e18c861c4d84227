"""A fixed piece of the worker's own work, timed in the harness right before a measurement: how fast the
machine ran Python at that moment.

The machines behind this project's benchmarks differ by up to four times between sessions, and drift within
minutes: seven identical 200k-message runs of one worker within 15 minutes spent 93-142 µs of CPU per event.
A benchmark compares rates measured minutes apart (one worker against two, the first tenth of a soak
against the last), so each measurement records the reference beside it: the processor (validation,
revisions, windows, detectors, enrichment; no Kafka, state in memory) over the first messages of the run's
own feed, on one thread, while nothing of the run is going. It is there to read the numbers by; nothing
is adjusted with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from streamer.benchmark.workload import as_consumed
from streamer.feeds.base import RawMessage
from streamer.processor import processor_for
from streamer.settings import Settings
from streamer.state import StateStore
from streamer.state.store import MemoryBackend

__all__ = ["REFERENCE_MESSAGES", "reference_us_per_event"]

REFERENCE_MESSAGES = 6_000  # about 0.4 s at 60 µs per event: three intervals of a 2,000-node market
_BATCH = 200  # the worker's default batch


def reference_us_per_event(messages: Iterable[RawMessage], settings: Settings) -> float:
    """CPU microseconds per message of this thread for a fresh processor over ``messages`` (in batches of
    200, each batch's state changes applied to in-memory partitions as the worker persists them)."""
    inputs = as_consumed(messages, settings.topics, settings.partitions)
    if not inputs:
        raise ValueError("no messages to time the reference on")
    backends: dict[int, MemoryBackend] = {}

    def backend(partition: int) -> MemoryBackend:
        return backends.setdefault(partition, MemoryBackend())

    now_ms = max((m.timestamp_ms or 0 for m in inputs), default=0)
    # Every bar its messages close, in the batch that closes it: a fixed amount of work for the messages.
    processor = processor_for(settings, StateStore(backend), lambda: now_ms, spread_bars=False)
    started = time.thread_time()
    for i in range(0, len(inputs), _BATCH):
        processor.process(inputs[i : i + _BATCH])
        for partition, changes in processor.take_changes().items():
            backend(partition).apply(changes)
        processor.persisted()
    return (time.thread_time() - started) * 1e6 / len(inputs)
