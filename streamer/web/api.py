"""The dashboard's read-only REST API, as JSON (orjson). The page itself uses nothing else.

| route | answer |
|---|---|
| ``GET /api/status`` | the reader (partitions, history still loading or live, lookback) and record counts |
| ``GET /api/latest?kind=&market=&q=&limit=`` | latest record per series, filtered, in key order |
| ``GET /api/latest/{kind}/{key}`` | latest record of one series (404 if unknown) |
| ``GET /api/bars/{kind}/{key}?window=&from=&to=`` | bars of one series and window, oldest first |
| ``GET /api/anomalies?key=&kind=&type=&severity=&limit=`` | recent anomalies, newest first |
| ``GET /api/dlq?minutes=`` | dead letters by reason: totals, and per minute for the last ``minutes`` |
| ``GET /api/markets`` | freshness per market: newest event time and how old it is |
| ``GET /api/stream?kind=&key=`` | Server-Sent Events with every change (and the new bars of one series) |

Every route is a GET; nothing here changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from streamer.topics import Kind
from streamer.web.market import MINUTE_MS, MarketView
from streamer.web.stream import UpdateHub, sse_handler

__all__ = ["BadRequest", "add_api_routes", "json_response"]

_MAX_LIMIT = 100_000


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


class BadRequest(ValueError):
    """A query parameter the API cannot use; answered with 400 and ``{"error": ...}``."""


def _bad(message: str) -> BadRequest:
    return BadRequest(message)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_bad_requests(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, status=400)

    return wrapped


def _kind(text: str | None, *, required: bool = False) -> Kind | None:
    if text is None or text == "":
        if required:
            raise _bad("kind is required: prices, load or gas")
        return None
    try:
        return Kind(text)
    except ValueError:
        raise _bad(f"unknown kind {text!r}: use prices, load or gas") from None


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low} and {high}")
    return value


def _time(request: web.Request, name: str) -> int | None:
    """Epoch milliseconds, or ISO 8601 with an offset."""
    text = request.query.get(name)
    if text is None or text == "":
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name} must be epoch milliseconds or ISO 8601 with an offset, got {text!r}") from None
    if when.tzinfo is None:
        raise _bad(f"{name} {text!r} has no UTC offset")
    return int(when.timestamp() * 1000)


def add_api_routes(
    app: web.Application, view: MarketView, hub: UpdateHub, status: Callable[[], dict[str, Any]]
) -> None:
    async def get_status(request: web.Request) -> web.Response:
        return json_response(status())

    async def get_latest_list(request: web.Request) -> web.Response:
        kind = _kind(request.query.get("kind"))
        limit = _int(request, "limit", _MAX_LIMIT, 1, _MAX_LIMIT)
        records = view.latest_list(
            kind=kind,
            market=request.query.get("market") or None,
            contains=request.query.get("q") or None,
        )
        return json_response(
            {"total": len(records), "records": [r.as_json() for r in records[:limit]]},
        )

    async def get_latest(request: web.Request) -> web.Response:
        kind = _kind(request.match_info["kind"], required=True)
        assert kind is not None
        key = request.match_info["key"]
        record = view.latest(kind, key)
        if record is None:
            return json_response({"error": f"no {kind.value} record for {key!r}"}, status=404)
        return json_response(record.as_json())

    async def get_bars(request: web.Request) -> web.Response:
        kind = _kind(request.match_info["kind"], required=True)
        assert kind is not None
        key = request.match_info["key"]
        windows = view.bar_windows(kind, key)
        window = request.query.get("window") or (windows[0] if windows else "")
        from_ms, to_ms = _time(request, "from"), _time(request, "to")
        bars = view.bars(kind, key, window, from_ms, to_ms) if window else []
        return json_response(
            {
                "kind": kind.value,
                "key": key,
                "window": window,
                "windows": windows,
                "bars": [b.as_json() for b in bars],
            }
        )

    async def get_anomalies(request: web.Request) -> web.Response:
        items = view.anomalies(
            key=request.query.get("key") or None,
            kind=_kind(request.query.get("kind")),
            type_=request.query.get("type") or None,
            severity=request.query.get("severity") or None,
            limit=_int(request, "limit", 100, 1, _MAX_LIMIT),
        )
        return json_response({"anomalies": [a.as_json() for a in items]})

    async def get_dlq(request: web.Request) -> web.Response:
        minutes = _int(request, "minutes", 60, 1, view.limits.dlq_minutes)
        rows = view.dlq_by_minute()
        since = rows[-1][0] - (minutes - 1) * MINUTE_MS if rows else None
        return json_response(
            {
                "totals": view.dlq_totals(),
                "minutes": [[m, counts] for m, counts in rows if since is not None and m >= since],
            }
        )

    async def get_markets(request: web.Request) -> web.Response:
        now_ms = int(time.time() * 1000)
        return json_response({"markets": [m.as_json(now_ms) for m in view.markets()]})

    async def get_stream(request: web.Request) -> web.StreamResponse:
        kind = _kind(request.query.get("kind"))
        key = request.query.get("key") or None
        return await sse_handler(request, hub, kind, key)

    app.router.add_get("/api/status", _answers_bad_requests(get_status))
    app.router.add_get("/api/latest", _answers_bad_requests(get_latest_list))
    app.router.add_get("/api/latest/{kind}/{key:.+}", _answers_bad_requests(get_latest))
    app.router.add_get("/api/bars/{kind}/{key:.+}", _answers_bad_requests(get_bars))
    app.router.add_get("/api/anomalies", _answers_bad_requests(get_anomalies))
    app.router.add_get("/api/dlq", _answers_bad_requests(get_dlq))
    app.router.add_get("/api/markets", _answers_bad_requests(get_markets))
    app.router.add_get("/api/stream", _answers_bad_requests(get_stream))
