"""``streamer demo`` as a user runs it, on the session's broker (``--external-broker``): ``--once`` runs and
summarises; by default it prints the dashboard's URL first and serves until interrupted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.contracts import ContractChecker
from tests.integration.kafka_io import REPO, read_outputs

pytestmark = pytest.mark.integration

SYNTHETIC = 400


def demo_args(bootstrap: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "streamer.cli", "demo",
        "--external-broker", "--bootstrap", bootstrap,
        "--synthetic", str(SYNTHETIC), "--corrupt-rate", "0.1", "--timeout-s", "240", "--json",
        *extra,
    ]  # fmt: skip


def demo_env(prefix: str) -> dict[str, str]:
    return {**os.environ, "STREAMER_TOPIC_PREFIX": prefix, "STREAMER_APP_ID": f"{prefix}app"}


def check_accounted(summary: dict) -> None:
    sent = sum(summary["sent"].values())
    outputs = summary["outputs"]
    accounted = sum(n for topic, n in outputs.items() if ".enriched." in topic or topic.endswith(".dlq"))
    assert sent > 2_900 + SYNTHETIC - 10 and accounted >= sent, summary
    assert summary["expected_corrupt_by_reason"] and summary["dlq_by_reason"], summary
    assert summary["anomalies_by_type"].get("price_spike", 0) > 0, summary


async def check_contracts(bootstrap: str, prefix: str, summary: dict) -> None:
    """Every record the demo published keeps its topic's contract, and all were read."""
    checker = ContractChecker(prefix, passthrough={"ptid"})
    checked = checker.check_all(await read_outputs(bootstrap, prefix))
    outputs = {topic.removeprefix(prefix): n for topic, n in summary["outputs"].items()}
    assert all(checked[topic] >= n for topic, n in outputs.items() if n), (checked, outputs)
    assert {"enriched.prices", "enriched.load", "bars.prices", "anomalies", "dlq"} <= set(checked), checked


async def test_demo_once_runs_and_summarises(bootstrap: str, topic_prefix: str) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        demo_args(bootstrap, "--once"),
        cwd=REPO,
        env=demo_env(topic_prefix),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # no dashboard: only the summary
    summary = orjson.loads(lines[0])
    check_accounted(summary)
    await check_contracts(bootstrap, topic_prefix, summary)


def start_demo(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )


async def test_demo_prints_the_dashboard_url_first_and_serves_until_interrupted(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "demo.err"
    proc = start_demo(demo_args(bootstrap, "--web-port", "0"), demo_env(topic_prefix), log)
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=120)
        url = orjson.loads(first)["dashboard"]
        assert url.startswith("http://127.0.0.1:")
        summary = orjson.loads(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=300))
        check_accounted(summary)
        await check_contracts(bootstrap, topic_prefix, summary)
        assert proc.poll() is None  # still serving after the summary
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                async with session.get(f"{url}api/bars/prices/AEMO:SA1?window=1h") as response:
                    bars = (await response.json())["bars"]
                if (bars and max(b["high"] for b in bars) > 9_000) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert max(b["high"] for b in bars) == pytest.approx(9999.92)
            async with session.get(f"{url}api/dlq") as response:
                assert sum((await response.json())["totals"].values()) > 0
        os.killpg(proc.pid, signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 120) == 0, await asyncio.to_thread(log.read_text)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
