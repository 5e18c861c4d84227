"""The latency phase's per-input samples: written beside the run's logs, read back, and grouped into the
episodes a p99 is made of."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamer.benchmark.latency import Episode, Sample, episodes, read_samples, write_samples
from streamer.errors import BenchmarkError

REPO = Path(__file__).resolve().parents[3]


def _steady(start_ms: int, count: int, every_ms: int, latency_ms: int) -> list[Sample]:
    return [Sample(start_ms + i * every_ms, latency_ms, "enriched.price", i % 4) for i in range(count)]


def test_samples_round_trip_in_send_order(tmp_path: Path) -> None:
    samples = [
        Sample(30, 5, "enriched.price", 1),
        Sample(10, 7, "dlq", 0),
        Sample(20, 120, "enriched.load", 3),
    ]
    path = tmp_path / "streamer-1.latency.csv"
    write_samples(path, samples)
    assert read_samples(path) == sorted(samples)
    assert path.read_text().splitlines()[0] == "sent_ms,latency_ms,topic,partition"


def test_a_file_of_other_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("when,how_late\n1,2\n")
    with pytest.raises(BenchmarkError, match="expected the columns sent_ms,latency_ms,topic,partition"):
        read_samples(path)


def test_slow_inputs_sent_close_together_are_one_episode_worst_first() -> None:
    quiet = _steady(0, 1000, 2, 4)  # 2 s at 500/s, all fast
    stall = _steady(500, 50, 2, 0)  # sent 500-598 ms: waited for one 300 ms hold, less the later they came
    stall = [s._replace(latency_ms=300 - (s.sent_ms - 500)) for s in stall]
    blip = [Sample(1500, 80, "dlq", 2), Sample(1560, 60, "dlq", 2)]
    found = episodes(quiet + stall + blip, slow_ms=50)
    assert found == [Episode(500, 598, 50, 300), Episode(1500, 1560, 2, 80)]


def test_slow_inputs_far_apart_are_episodes_of_their_own() -> None:
    found = episodes([Sample(0, 90, "t", 0), Sample(250, 70, "t", 0), Sample(260, 10, "t", 0)], slow_ms=50)
    assert found == [Episode(0, 0, 1, 90), Episode(250, 250, 1, 70)]
    assert episodes(_steady(0, 100, 1, 50), slow_ms=50) == []  # at the bound is not late


def test_the_script_lines_an_episode_up_with_the_logs(tmp_path: Path) -> None:
    base = 1_796_212_800_000  # 2026-12-02 12:00:00 UTC
    samples = _steady(base, 500, 4, 5)
    samples += [Sample(base + 1000 + i, 200 - i, "enriched.price", 0) for i in range(0, 100, 5)]
    csv_path = tmp_path / "streamer-1.latency.csv"
    write_samples(csv_path, samples)
    worker = tmp_path / "streamer-1.w0.log"
    worker.write_text(
        "[2026-12-02 11:59:58,000] [1] [WARNING] long before: not shown\n"
        "[2026-12-02 12:00:01,150] [1] [WARNING] the event loop ran again after 180 ms\n"
        "  File ... (a stack line under it)\n"
    )
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "latency_episodes.py"), str(csv_path), "--log", str(worker)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "20 over 50 ms in 1 episodes" in done.stdout
    assert "12:00:01.000-12:00:01.095 (sent): 20 inputs late, worst 200 ms" in done.stdout
    assert "the event loop ran again after 180 ms" in done.stdout
    assert "long before" not in done.stdout


def test_the_script_refuses_a_missing_file_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "latency_episodes.py"), str(tmp_path / "none.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("latency_episodes: ") and len(done.stderr.strip().splitlines()) == 1
