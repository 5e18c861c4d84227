"""The order a batch is delivered in, which is what the at-least-once guarantee rests on. No Faust.

1. **process**: the processor decides every record's outputs and state changes (no I/O);
2. **send** every output and **wait** until the broker acknowledged all of them;
3. **persist** the state changes: written to the changelog and acknowledged, then to the local store;
4. only then may the caller **mark the inputs processed** (which lets their offsets be committed).

A crash before 2 completes re-processes the batch from unchanged state; between 2 and 3, its outputs are
published a second time (at most one batch per crash); after 3, the persisted state says the records are done
and they are skipped when consumed again. The stale-feed timer goes through the same steps, under the same
lock, so a timer tick never interleaves with a batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from streamer.processor import BatchResult, InMessage, OutMessage, Processor
from streamer.state.store import Change

__all__ = ["BatchDelivery", "Sender", "StateWriter"]


class Sender(Protocol):
    async def send_all(self, records: Sequence[OutMessage]) -> dict[tuple[str, int], int]:
        """Return once every record is acknowledged (the last offset per topic-partition)."""
        ...


class StateWriter(Protocol):
    async def write(self, changes: dict[int, list[Change]]) -> None:
        """Make ``changes`` (per partition, in order) durable."""
        ...


class BatchDelivery:
    """Runs :class:`Processor` batches and timer ticks through process -> send -> persist, one at a time."""

    def __init__(self, processor: Processor, sender: Sender, state: StateWriter) -> None:
        self.processor = processor
        self._sender = sender
        self._state = state
        self._lock = asyncio.Lock()

    async def deliver(self, batch: Sequence[InMessage]) -> BatchResult:
        """Process ``batch`` and return once its outputs and state are durable."""
        async with self._lock:
            result = self.processor.process(batch)
            if result.primary or result.derived:
                await self._sender.send_all(result.outputs)
            await self._persist()
            return result

    async def tick(self, wall_ms: int | None = None) -> list[OutMessage]:
        """Tick the stale-feed detectors; return their anomalies once sent and their state persisted."""
        async with self._lock:
            outputs = self.processor.tick(wall_ms)
            if outputs:
                await self._sender.send_all(outputs)
            await self._persist()
            return outputs

    async def _persist(self) -> None:
        changes = self.processor.take_changes()
        if changes:
            await self._state.write(changes)
        self.processor.persisted()
