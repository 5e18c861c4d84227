"""Server-Sent Events: what changed in the view, pushed to every open page.

The reader sets an event whenever it applied records; the hub then takes the view's changes at most every
``flush_ms`` and sends each subscriber one ``update`` event: the latest records that changed, new anomalies,
touched DLQ minutes, the markets' freshness, the reader's status and, for the series the page shows, its new
bars. A page that falls ``queue_size`` events behind is disconnected; the browser reconnects and the page
reloads its snapshot over REST, so nothing is silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from streamer.topics import Kind
from streamer.web.market import Changes, MarketView

__all__ = ["Subscription", "UpdateHub", "sse_handler"]

log = logging.getLogger(__name__)

_KEEPALIVE_S = 15.0


@dataclass(eq=False, slots=True)
class Subscription:
    """One open page: the series whose bars it shows (if any) and its queue of encoded events."""

    kind: Kind | None
    key: str | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(maxsize=64))


class UpdateHub:
    def __init__(
        self,
        view: MarketView,
        status: Callable[[], dict[str, Any]],
        *,
        flush_ms: int = 250,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.view = view
        self.status = status
        self.flush_ms = flush_ms
        self._clock_ms = clock_ms
        self._subscribers: set[Subscription] = set()

    def subscribe(self, kind: Kind | None, key: str | None) -> Subscription:
        sub = Subscription(kind, key)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def run(self, changed: asyncio.Event) -> None:
        """Push changes until cancelled, at most one update per ``flush_ms``."""
        while True:
            await changed.wait()
            changed.clear()
            self.flush()
            await asyncio.sleep(self.flush_ms / 1000)

    def flush(self) -> None:
        changes = self.view.take_changes()
        if not self._subscribers:
            return
        now_ms = self._clock_ms()
        shared = self._shared_payload(changes, now_ms)
        for sub in list(self._subscribers):
            payload = shared
            if sub.key is not None and sub.kind is not None:
                bars = {w: [b.as_json() for b in points] for (k, s, w), points in changes.bars.items()
                        if k == sub.kind and s == sub.key}  # fmt: skip
                if bars:
                    payload = {**shared, "bars": {"kind": sub.kind.value, "key": sub.key, "windows": bars}}
            self._send(sub, encode_event("update", payload))

    def _shared_payload(self, changes: Changes, now_ms: int) -> dict[str, Any]:
        payload: dict[str, Any] = {"now_ms": now_ms, "status": self.status()}
        if changes.latest:
            payload["latest"] = [r.as_json() for r in changes.latest]
        if changes.anomalies:
            payload["anomalies"] = [a.as_json() for a in changes.anomalies]
        if changes.dlq:
            payload["dlq"] = [[minute, counts] for minute, counts in changes.dlq.items()]
            payload["dlq_totals"] = self.view.dlq_totals()
        if changes.markets:
            payload["markets"] = [m.as_json(now_ms) for m in self.view.markets()]
        return payload

    def _send(self, sub: Subscription, event: bytes) -> None:
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.info("a page fell behind the updates; disconnecting it so it reloads")
            self._close(sub)

    def _close(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def close_all(self) -> None:
        for sub in list(self._subscribers):
            self._close(sub)


def encode_event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


async def sse_handler(
    request: web.Request, hub: UpdateHub, kind: Kind | None, key: str | None
) -> web.StreamResponse:
    """``text/event-stream`` until the page goes away or the server stops."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    sub = hub.subscribe(kind, key)
    try:
        await response.write(b"retry: 2000\n\n" + encode_event("hello", {"status": hub.status()}))
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=_KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event is None:
                break
            await response.write(event)
    except ConnectionResetError:
        return response  # the page went away
    finally:
        hub.unsubscribe(sub)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
