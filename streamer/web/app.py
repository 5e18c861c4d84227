"""The dashboard's HTTP application: the page, its static assets and the REST API. GET only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from streamer.web.api import add_api_routes
from streamer.web.market import MarketView
from streamer.web.stream import UpdateHub

__all__ = ["STATIC_DIR", "create_web_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


@web.middleware
async def _headers(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    else:
        response.headers.setdefault("Cache-Control", "no-cache")  # revalidate: an upgrade shows at once
    return response


def create_web_app(view: MarketView, hub: UpdateHub, status: Callable[[], dict[str, Any]]) -> web.Application:
    app = web.Application(middlewares=[_headers])

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def close_streams(app: web.Application) -> None:
        hub.close_all()  # ends every open event stream, so shutdown does not wait for them

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    add_api_routes(app, view, hub, status)
    app.on_shutdown.append(close_streams)
    return app
