"""``streamer dashboard``: the reader, the update hub and the HTTP server, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from streamer.errors import StreamerError
from streamer.topics import TopicNames
from streamer.web.app import create_web_app
from streamer.web.lookback import Lookback
from streamer.web.market import MarketView, ViewLimits
from streamer.web.reader import OutputReader
from streamer.web.stream import UpdateHub

__all__ = ["Dashboard", "DashboardOptions", "run_dashboard"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    host: str = "127.0.0.1"
    port: int = 6067  # a worker serves 6066
    lookback: Lookback = field(default_factory=lambda: Lookback(records=50_000))
    limits: ViewLimits = field(default_factory=ViewLimits)
    flush_ms: int = 250
    client_options: dict[str, Any] = field(default_factory=dict, repr=False)  # Kafka security; a secret
    extra_routes: Callable[[web.Application], None] | None = None  # e.g. a worker's probes


class Dashboard:
    """``async with Dashboard(...) as dash: print(dash.url)``. The constructor does no I/O."""

    def __init__(self, bootstrap: str, names: TopicNames, options: DashboardOptions) -> None:
        self.options = options
        self.view = MarketView(options.limits)
        self.reader = OutputReader(
            bootstrap, names, self.view, options.lookback, client_options=options.client_options
        )
        self.hub = UpdateHub(self.view, self.status, flush_ms=options.flush_ms)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""

    def status(self) -> dict[str, Any]:
        reader = self.reader.status()
        return {
            "live": reader.live,
            "topics": list(reader.topics),
            "partitions": reader.partitions,
            "history_pending": reader.history_pending,
            "lookback": reader.lookback,
            "series": self.view.series_count(),
            "records": dict(self.view.records),
            "unreadable": dict(self.view.unreadable),
            "pages": self.hub.subscribers,
        }

    async def start(self) -> str:
        await self.reader.start()
        try:
            web_app = create_web_app(self.view, self.hub, self.status)
            if self.options.extra_routes is not None:
                self.options.extra_routes(web_app)
            runner = web.AppRunner(web_app, access_log=None)
            await runner.setup()
            self._runner = runner
            site = web.TCPSite(runner, self.options.host, self.options.port)
            try:
                await site.start()
            except OSError as exc:
                raise StreamerError(
                    f"cannot serve on {self.options.host}:{self.options.port}: {exc.strerror or exc}"
                ) from None
        except BaseException:
            await self.stop()
            raise
        host, port = _bound_address(runner)
        self.url = f"http://{host}:{port}/"
        self._tasks = [
            asyncio.create_task(self._guard(self.reader.run(), "reader")),
            asyncio.create_task(self._guard(self.hub.run(self.reader.changed), "update hub")),
        ]
        return self.url

    async def _guard(self, work: Any, name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the dashboard's %s failed", name)
            raise

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        await self.reader.stop()

    def failed(self) -> BaseException | None:
        """The error of a background task that stopped on its own, if any."""
        for task in self._tasks:
            if task.done() and not task.cancelled():
                return task.exception()
        return None

    async def __aenter__(self) -> Dashboard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _bound_address(runner: web.AppRunner) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            host = str(address[0])
            return (f"[{host}]" if ":" in host else host), int(address[1])
    raise StreamerError("the dashboard server has no address")


async def serve(
    bootstrap: str, names: TopicNames, options: DashboardOptions, on_ready: Callable[[str], None]
) -> None:
    """Serve until SIGINT or SIGTERM; a failing reader is a runtime error."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Dashboard(bootstrap, names, options) as dashboard:
        on_ready(dashboard.url)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            error = dashboard.failed()
            if error is not None:
                raise StreamerError(f"the dashboard stopped: {error}")


def run_dashboard(
    bootstrap: str, names: TopicNames, options: DashboardOptions, on_ready: Callable[[str], None]
) -> None:
    asyncio.run(serve(bootstrap, names, options, on_ready))
