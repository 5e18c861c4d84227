"""The worker's operational HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``. GET only.

``/healthz`` and ``/readyz`` answer 200 with ``{"ok": true}`` or 503 with the reasons, as JSON, so a
Kubernetes probe, ``curl`` and an operator all read the same thing.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamer.health import Verdict

__all__ = ["add_probe_routes", "probe_app"]


def _verdict(check: Callable[[], Verdict]) -> Callable[[web.Request], object]:
    async def handler(request: web.Request) -> web.Response:
        verdict = check()
        return web.Response(
            body=orjson.dumps(verdict.as_dict()),
            status=200 if verdict.ok else 503,
            content_type="application/json",
        )

    return handler


def add_probe_routes(
    app: web.Application,
    registry: CollectorRegistry,
    liveness: Callable[[], Verdict],
    readiness: Callable[[], Verdict],
) -> None:
    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", _verdict(liveness))  # type: ignore[arg-type]
    app.router.add_get("/readyz", _verdict(readiness))  # type: ignore[arg-type]


def probe_app(
    registry: CollectorRegistry, liveness: Callable[[], Verdict], readiness: Callable[[], Verdict]
) -> web.Application:
    app = web.Application()
    add_probe_routes(app, registry, liveness, readiness)
    return app
