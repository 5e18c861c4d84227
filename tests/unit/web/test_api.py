"""The REST API and the event stream, over HTTP, on a view fed the real SA1 outputs (no Kafka needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from streamer.processor import OutMessage
from streamer.topics import Kind
from streamer.web.app import create_web_app
from streamer.web.market import MarketView
from streamer.web.stream import UpdateHub
from tests.unit.web.sa1 import feed

VIEW = web.AppKey("view", MarketView)
HUB = web.AppKey("hub", UpdateHub)


@pytest.fixture
async def client(outputs: list[OutMessage]) -> AsyncIterator[TestClient]:
    view = MarketView()
    feed(view, outputs)
    view.add_dead_letter("not_json", 1_700_000_000_000)
    view.take_changes()
    hub = UpdateHub(view, lambda: {"live": True})
    app = create_web_app(view, hub, lambda: {"live": True, "series": view.series_count()})
    app[VIEW], app[HUB] = view, hub
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def get_json(client: TestClient, path: str, status: int = 200) -> dict:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return orjson.loads(await response.read())


async def test_latest_one_and_many(client: TestClient) -> None:
    listed = await get_json(client, "/api/latest?kind=prices")
    assert listed["total"] == 1 and listed["records"][0]["key"] == "AEMO:SA1"
    one = await get_json(client, "/api/latest/prices/AEMO:SA1")
    assert one["node"] == "SA1" and one["interval_start"] == "2009-01-31T23:30:00+10:00" and "lmp" in one
    assert (await get_json(client, "/api/latest?q=nothing"))["total"] == 0
    assert (await get_json(client, "/api/latest?limit=1"))["total"] == 2
    await get_json(client, "/api/latest/gas/AEMO:SA1", status=404)
    await get_json(client, "/api/latest/oil/AEMO:SA1", status=400)


async def test_bars_by_window_and_time_range(client: TestClient) -> None:
    whole = await get_json(client, "/api/bars/prices/AEMO%3ASA1?window=1h")
    assert whole["windows"] == ["1h", "5m"] and max(b["high"] for b in whole["bars"]) == pytest.approx(
        9999.92
    )
    day = await get_json(
        client,
        "/api/bars/prices/AEMO:SA1?window=1h&from=2009-01-29T00:00:00%2B10:00&to=2009-01-30T00:00:00%2B10:00",
    )
    assert [b["window_start"][:10] for b in day["bars"]] == ["2009-01-29"] * 24
    assert day["bars"][0]["count"] >= 1 and set(day["bars"][0]) >= {"open", "high", "low", "close", "twap"}
    await get_json(client, "/api/bars/prices/AEMO:SA1?from=yesterday", status=400)
    assert (await get_json(client, "/api/bars/prices/NOPE:X"))["bars"] == []


async def test_anomalies_dlq_markets_status(client: TestClient) -> None:
    recent = await get_json(client, "/api/anomalies?key=AEMO:SA1&limit=5")
    times = [a["event_ms"] for a in recent["anomalies"]]
    assert len(times) == 5 and times == sorted(times, reverse=True)
    await get_json(client, "/api/anomalies?limit=zero", status=400)
    assert (await get_json(client, "/api/dlq"))["totals"] == {"not_json": 1}
    (market,) = (await get_json(client, "/api/markets"))["markets"]
    assert market["market"] == "AEMO" and market["series"] == 2
    assert (await get_json(client, "/api/status"))["live"] is True


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_nothing_changes_anything(client: TestClient, method: str) -> None:
    for path in ("/api/latest", "/api/latest/prices/AEMO:SA1", "/api/dlq", "/api/stream"):
        response = await client.request(method, path)
        assert response.status == 405


async def test_page_and_assets_are_served(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and "lightweight-charts" in await page.text()
    script = await client.get("/static/app.js")
    assert script.status == 200 and "EventSource" in await script.text()
    assert (await client.get("/static/../api.py")).status in (403, 404)


async def next_event(response: ClientResponse) -> tuple[str, dict]:
    raw = await response.content.readuntil(b"\n\n")
    fields = dict(line.split(": ", 1) for line in raw.decode().strip().splitlines() if ": " in line)
    return fields.get("event", ""), orjson.loads(fields.get("data", "null") or "null")


async def test_stream_pushes_changes_and_the_chosen_series_bars(client: TestClient) -> None:
    view = client.server.app[VIEW]
    hub = client.server.app[HUB]
    response = await client.get("/api/stream?kind=prices&key=AEMO:SA1")
    assert response.headers["Content-Type"] == "text/event-stream"
    await response.content.readuntil(b"\n\n")  # retry hint
    assert (await next_event(response))[0] == "hello"
    record = {
        "key": "AEMO:SA1", "market": "AEMO", "node": "SA1", "lmp": 123.45, "late": False,
        "interval_start": "2009-02-01T00:00:00+10:00", "anomalies": [], "anomaly_score": 0.0,
    }  # fmt: skip
    view.add_enriched(Kind.PRICES, orjson.dumps(record), 1, 2)
    bar = {
        "key": "AEMO:SA1", "market": "AEMO", "node": "SA1", "window": "1h", "open": 1.0, "high": 2.0,
        "low": 0.5, "close": 1.5, "mean": 1.2, "min": 0.5, "max": 2.0, "count": 2, "twap": 1.2,
        "window_start": "2009-02-01T00:00:00+10:00", "window_end": "2009-02-01T01:00:00+10:00",
    }  # fmt: skip
    view.add_bar(Kind.PRICES, orjson.dumps(bar))
    view.add_bar(Kind.LOAD, orjson.dumps({**bar, "zone": "SA1"}))  # another series: not sent to this page
    hub.flush()
    name, update = await next_event(response)
    assert name == "update"
    assert [(r["key"], r["lmp"]) for r in update["latest"]] == [("AEMO:SA1", 123.45)]
    assert update["bars"]["kind"] == "prices" and [b["high"] for b in update["bars"]["windows"]["1h"]] == [
        2.0
    ]
    hub.close_all()
    assert await response.content.read() == b""  # the server ended the stream
