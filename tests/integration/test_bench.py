"""``streamer bench`` end to end at a tiny size on the session broker: every variant (the Quix peer included)
runs on the real broker and lands in the report with sane numbers, and the other measurements run too.

Sizes are tiny, so the numbers mean nothing: the test checks that each is there and plausible (positive,
finite, internally consistent), never a timing threshold."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamer.admin import existing_topics
from streamer.benchmark.harness import BenchOptions, run_benchmark
from streamer.benchmark.variants import VARIANTS
from streamer.broker import LocalBroker
from streamer.settings import load_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


async def _bench_topics_left(bootstrap: str, before: set[str]) -> set[str]:
    """Topics a compare created and left behind, once the broker's metadata has caught up (up to 10 s)."""
    left: set[str] = set()
    for _ in range(50):
        left = {t for t in await existing_topics(bootstrap) - before if "bench-" in t}
        if not left:
            break
        await asyncio.sleep(0.2)
    return left


def _small_compare(bootstrap: str, results_path: Path, messages: int, *flags: str) -> list[str]:
    """``streamer bench compare`` on a market of 52 series, its results as JSON on stdout."""
    return [
        *(sys.executable, "-m", "streamer.cli", "bench", "compare", "--bootstrap", bootstrap),
        *("--messages", str(messages), "--nodes", "45", "--zones", "5", "--timeout-s", "180"),
        *("--results", str(results_path), "--json", *flags),
    ]


def test_compare_runs_every_variant(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    results_path = tmp_path / "results" / "today.json"
    command = _small_compare(kafka_broker.bootstrap, results_path, 2000, "--latency-s", "1")
    before = asyncio.run(existing_topics(kafka_broker.bootstrap))
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    results = orjson.loads(run.stdout)
    assert results == orjson.loads(results_path.read_bytes())
    assert results_path.with_suffix(".png").stat().st_size > 10_000
    compare = results["compare"]
    assert compare["workload"]["messages"] == 2000 and compare["workload"]["series"] == 52
    rows = {row["variant"]: row for row in compare["variants"]}
    assert list(rows) == [v.name for v in VARIANTS]
    for name, row in rows.items():
        assert "error" not in row, f"{name}: {row.get('error')}"
        assert row["events"] == 2000
        assert row["processes"] == (2 if name == "streamer-2" else 1)
        for field in ("events_per_s", "peak_rss_mib", "steady_s", "reference_us_per_event"):
            assert _positive(row[field]), f"{name} {field} = {row[field]!r}"
        # CPU is counted in clock ticks (10 ms): a tiny window of a fast variant may see none.
        assert math.isfinite(row["cpu_us_per_event"]) and row["cpu_us_per_event"] >= 0, name
        assert 20 < row["peak_rss_mib"] < 4096, name
        assert 0.0 < row["machine_busy"] <= 1.0, name  # the harness at least was busy
        latency = row["latency"]
        assert latency["inputs"] >= 1 and latency["outputs"] == latency["inputs"], name
        assert 1 <= latency["count"] <= latency["inputs"], name
        assert _positive(latency["rate_per_s"]) and latency["rate_per_s"] <= row["events_per_s"] / 2 + 1
        assert 0 <= latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"], name
        assert latency["max_ms"] < 180_000, name
        # the workers' event-loop lag over the phase, read from their /metrics (20 wake-ups a second each)
        if name.startswith("streamer-"):
            assert latency["loop_lag"]["wakes"] >= row["processes"], (name, latency["loop_lag"])
        else:
            assert "loop_lag" not in latency, name
    # every record each variant wrote was counted before its topics went: the passthroughs one output per
    # input, the six-copy one five more copies of each, backlog and latency phase alike
    for name, copies in (("passthrough", 1), ("passthrough-x6", 6)):
        inputs = 2000 + rows[name]["latency"]["inputs"]
        assert rows[name]["records_written"] == copies * inputs, (name, rows[name]["records_written"])
    for name in ("faust-naive", "quix", "streamer-1", "streamer-2"):  # outputs and changelogs
        assert rows[name]["records_written"] > 2000 + rows[name]["latency"]["inputs"], name
    # ... and no variant's topics were left on the broker
    assert asyncio.run(_bench_topics_left(kafka_broker.bootstrap, before)) == set()
    markdown = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "bench", "--report", str(results_path), "--markdown"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert markdown.returncode == 0, markdown.stderr
    for name in rows:
        assert f"| {name} | " in markdown.stdout
    assert "| streamer vs quix | >= 2x |" in markdown.stdout


def test_soak_and_restore_run(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    settings = load_settings({})
    path = tmp_path / "r.json"
    soak = BenchOptions("soak", nodes=20, zones=5, intervals=40, results=path, plot=False, timeout_s=180)
    before = asyncio.run(existing_topics(kafka_broker.bootstrap))
    results, _ = run_benchmark(settings, kafka_broker.bootstrap, soak)
    assert asyncio.run(_bench_topics_left(kafka_broker.bootstrap, before)) == set()  # deleted once measured
    section = results["soak"]
    assert section["workload"]["messages"] == 1000
    assert len(section["tenths_events_per_s"]) == 10
    assert all(_positive(rate) for rate in section["tenths_events_per_s"])
    assert len(section["tenths_cpu_us_per_event"]) == 10
    # /proc counts CPU in 10 ms ticks: a tenth of this small run may show none, the run as a whole does
    assert all(cpu >= 0 for cpu in section["tenths_cpu_us_per_event"])
    assert _positive(sum(section["tenths_cpu_us_per_event"]))
    assert section["tenths_broker_cpu_us_per_event"] is None  # an external broker's process is not ours
    assert len(section["reference_us_per_event"]) == 2  # the machine's speed before and after
    assert all(_positive(us) for us in section["reference_us_per_event"])
    assert _positive(section["last_vs_first_tenth"]) and _positive(section["peak_rss_mib"])
    shares = section["tenths_output_share"]
    assert set(shares) == {"enriched.prices", "enriched.load", "enriched.gas", "dlq"}
    sums = [math.fsum(shares[topic][tenth] for topic in shares) for tenth in range(10)]
    # a tenth with no outputs of its own (none between its bounds) shows all 0
    assert all(total == pytest.approx(1.0, abs=0.01) or total == 0.0 for total in sums), sums
    assert sum(total > 0.99 for total in sums) >= 3, sums
    # 20 price nodes to 5 load zones: prices in most tenths (the load topic may be done before the first)
    assert sum(share > 0.5 for share in shares["enriched.prices"]) >= 3, shares
    # a revision entry per valid event at least, each written once; the summaries and panes more often
    assert 900 <= section["changelog_live_keys"] <= section["changelog_records"]
    restore = BenchOptions("restore", keys=3000, nodes=40, zones=5, results=path, plot=False, timeout_s=180)
    results, _ = run_benchmark(settings, kafka_broker.bootstrap, restore)
    section = results["restore"]
    assert section["state_keys"] >= 2000  # a revision entry per valid event, and more
    assert section["changelog_records"] >= section["state_keys"]
    assert _positive(section["restore_ready_s"]) and _positive(section["restore_first_output_s"])
    assert section["restore_s"] == min(section["restore_ready_s"], section["restore_first_output_s"])
    assert _positive(section["baseline_ready_s"])
    assert results["soak"]["workload"]["intervals"] == 40  # both sections in one file
    assert asyncio.run(_bench_topics_left(kafka_broker.bootstrap, before)) == set()


def test_compare_feeds_the_latency_phase_at_a_chosen_rate(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    """``--latency-rate`` holds every variant's latency phase at one load, so runs compare at equal load."""
    results_path = tmp_path / "fixed.json"
    flags = ("--variants", "passthrough", "--latency-s", "2", "--latency-rate", "150", "--no-plot")
    command = _small_compare(kafka_broker.bootstrap, results_path, 1000, *flags)
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    compare = orjson.loads(run.stdout)["compare"]
    assert compare["latency_rate"] == 150.0
    (row,) = compare["variants"]
    assert "error" not in row, row.get("error")
    latency = row["latency"]
    assert latency["rate_per_s"] == 150.0  # not half of the passthrough's thousands per second
    assert latency["inputs"] == 300 and latency["outputs"] == 300
    bad = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "bench", "compare", "--latency-rate", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert bad.returncode != 0 and "--latency-rate" in bad.stderr
