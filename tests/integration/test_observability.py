"""A running worker is observable: a real Prometheus server scrapes the counters it should, and /healthz
catches a stall (the broker frozen under a backlog) within the stall timeout and recovers after it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.broker.local import free_port
from streamer.feeds.simulate import generate, market_series
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.integration.kafka_io import kill, produce, read_all, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 4


async def _get(url: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r,
    ):
        body = await r.read()
        return r.status, (await r.json(content_type=None)) if r.content_type == "application/json" else body


async def _wait_http(url: str, worker: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert worker.poll() is None, "the worker exited"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await _get(url)
            return
        assert time.monotonic() < deadline, f"{url} never answered"
        await asyncio.sleep(0.5)


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """A real Prometheus server scraping ``target`` every second; yields its base URL."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: streamer\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_ready(base, proc, tmp_path / "prometheus.log")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _wait_until_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Until Prometheus answers ``/-/ready`` with 200: before that its API answers 503 (a fresh clone's CI
    once queried it that early under load)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, "Prometheus exited:\n" + log.read_text(errors="replace")[-2000:]
        # a 503 is an HTTPError, an OSError like a refused connection
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
            if response.status == 200:
                return
        assert time.monotonic() < deadline, (
            "Prometheus never became ready:\n" + log.read_text(errors="replace")[-2000:]
        )
        time.sleep(0.2)


async def _query(base: str, promql: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/api/v1/query", params={"query": promql}) as response,
    ):
        body = await response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_prometheus_scrapes_exactly_the_mix_that_was_sent(
    bootstrap: str, topic_prefix: str, tmp_path: Path
):
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": PARTITIONS})
    await create_topics(settings)
    names = settings.topics
    now_ms = int(time.time() * 1000)
    generated = list(generate(11, 3_000, 0.08, now_ms, market_series(60, 5)))
    expected: Counter[str] = Counter(reason or "valid" for _, reason in generated)
    await produce(bootstrap, [(names.raw(m.kind), m.key, m.value, []) for m, _ in generated])
    web_port = free_port()
    worker = start_worker(
        bootstrap, topic_prefix, tmp_path / "w", "--partitions", str(PARTITIONS), "--web-port", str(web_port)
    )
    try:
        await _wait_http(f"http://127.0.0.1:{web_port}/metrics", worker)
        with prometheus(tmp_path, f"127.0.0.1:{web_port}") as base:
            outputs = [names.enriched(k) for k in Kind] + [names.dlq]
            await read_all(bootstrap, outputs, at_least=len(generated), workers=[worker])
            deadline = time.monotonic() + 60
            while True:  # until Prometheus has scraped the final counts
                consumed = await _query(base, "sum(streamer_records_consumed_total)")
                if consumed and float(consumed[0]["value"][1]) >= len(generated):
                    break
                assert time.monotonic() < deadline, f"Prometheus saw {consumed}"
                await asyncio.sleep(1)
            rejected = {
                r["metric"]["reason"]: int(float(r["value"][1]))
                for r in await _query(base, "sum by (reason) (streamer_rejected_total)")
            }
            enriched = await _query(
                base, f'sum(streamer_records_produced_total{{topic=~"{topic_prefix}enriched.*"}})'
            )
            up = await _query(base, "up")
            loop_wakes = await _query(base, "sum(streamer_event_loop_lag_seconds_count)")
    finally:
        kill(worker)
    assert int(float(consumed[0]["value"][1])) == len(generated)
    assert rejected == {reason: n for reason, n in expected.items() if reason != "valid"}
    assert int(float(enriched[0]["value"][1])) == expected["valid"]
    assert [r["value"][1] for r in up] == ["1"]
    assert float(loop_wakes[0]["value"][1]) > 10  # the loop watch ran on the worker's loop, 20 wakes/s
    print(f"\nprometheus: {len(generated)} consumed, {expected['valid']} enriched, rejected {rejected}")


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of this test's own: it is frozen on purpose."""
    broker = LocalBroker(tmp_path_factory.mktemp("stall-kafka") / "node-1", heap_mb=512)
    broker.start(timeout_s=180)
    try:
        yield broker
    finally:
        broker.stop()


def _freeze(broker: LocalBroker, sig: signal.Signals) -> None:
    state = LocalBroker.read_state(broker.home)
    assert state is not None
    os.killpg(state.pid, sig)


async def test_healthz_catches_a_stall_within_the_timeout_and_recovers(
    own_broker: LocalBroker, tmp_path: Path
):
    bootstrap = own_broker.bootstrap
    prefix = "stall."
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": PARTITIONS})
    await create_topics(settings)
    names = settings.topics
    messages = [m for m, _ in generate(5, 150_000, 0.0, int(time.time() * 1000), market_series(500, 0))]
    await produce(bootstrap, [(names.raw(m.kind), m.key, m.value, []) for m in messages])
    web_port = free_port()
    stall_ms = 5_000
    worker = start_worker(
        bootstrap,
        prefix,
        tmp_path / "w",
        "--partitions",
        str(PARTITIONS),
        "--web-port",
        str(web_port),
        "--stall-timeout-ms",
        str(stall_ms),
    )
    healthz = f"http://127.0.0.1:{web_port}/healthz"
    try:
        await _wait_http(healthz, worker)
        deadline = time.monotonic() + 120
        while (await _get(f"http://127.0.0.1:{web_port}/readyz"))[0] != 200:  # assigned and recovered
            assert time.monotonic() < deadline, "the worker never became ready"
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # processing the backlog
        assert (await _get(healthz))[0] == 200
        _freeze(own_broker, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            while True:
                status, body = await _get(healthz)
                if status == 503:
                    break
                assert time.monotonic() - frozen_at < stall_ms / 1000 + 10, "the stall was never reported"
                await asyncio.sleep(0.25)
            detected_s = time.monotonic() - frozen_at
            assert any("no progress" in reason for reason in body["reasons"]), body
        finally:
            _freeze(own_broker, signal.SIGCONT)
        resumed_at = time.monotonic()
        while (await _get(healthz))[0] != 200:
            assert time.monotonic() - resumed_at < 90, "healthz never recovered after the broker resumed"
            await asyncio.sleep(0.5)
        recovered_s = time.monotonic() - resumed_at
    finally:
        kill(worker)
    print(
        f"\nstall: /healthz 503 {detected_s:.1f}s after the broker froze (timeout {stall_ms / 1000:.0f}s),",
        f"200 again {recovered_s:.1f}s after it resumed",
    )
