"""The CLI contract: every verb has --help, usage errors exit 2 and runtime failures exit 1, each with
one line on stderr. Run as real processes, as users and scripts run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from streamer.broker.local import free_port
from streamer.cli import cli, main

REPO = Path(__file__).resolve().parents[3]
CONTRACT_VERBS = {
    "demo",
    "dashboard",
    "worker",
    "kafka",
    "topics",
    "feed",
    "simulate",
    "dlq",
    "bench",
    "schemas",
    "sink",
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def _command_paths() -> list[tuple[str, ...]]:
    main(["--help"])  # registers the verbs
    paths: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(cli, ())
    return paths


def test_top_level_help_lists_every_contract_verb() -> None:
    result = _run("--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    missing = CONTRACT_VERBS - listed
    assert not missing, f"missing verbs: {missing}"


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "streamer")
def test_every_verb_has_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: streamer")
    assert len(out.splitlines()) > 2


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-verb",),
        ("worker", "--no-such-flag"),
        ("feed", "data/aemo_sa1", "--format", "csv"),
        ("feed", "does/not/exist.csv", "--format", "aemo"),
        ("simulate", "--corrupt-rate", "1.5"),
        ("kafka", "start", "--port", "0"),
        ("topics", "create", "--partitions", "0"),
        ("demo", "--data", "does/not/exist"),
        ("dashboard", "--lookback", "soon"),
        ("dashboard", "--bar-windows", "5x"),
        ("dashboard", "--web-port", "70000"),
        ("bench", "--variants", "quix,kafka-streams"),
        ("bench", "forever"),
        ("bench", "memory", "--partitions", "0"),
        ("sink", "parquet", "--out", "x", "--topics", "enriched.weather"),
        ("sink", "parquet", "--topics", "bars.prices"),
        ("sink", "parquet", "--out", "nosuch://bucket/x"),
    ],
    ids=lambda a: " ".join(a),
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamer: error: "), result.stderr


def test_runtime_failure_exits_1_with_one_line() -> None:
    result = _run("kafka", "status", "--port", str(free_port()))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not running" in lines[0]


def test_dashboard_without_a_broker_exits_1_with_one_line() -> None:
    result = _run("dashboard", "--bootstrap", f"127.0.0.1:{free_port()}", "--web-port", "0")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Kafka" in lines[0], result.stderr
    assert result.stdout == ""  # no URL is printed for a dashboard that is not serving


@pytest.mark.parametrize(
    ("verb", "name", "value", "message"),
    [
        (("topics", "create"), "STREAMER_PARTITIONS", "many", "'many' is not a valid integer"),
        (("worker",), "STREAMER_GRACE_MS", "soon", "'soon' is not a valid integer"),
        (("worker",), "STREAMER_BATCH_SIZE", "-5", "-5 is not in the range x>=1"),
        (("worker",), "STREAMER_DETECTORS", "ture", "'ture' is not a valid boolean"),
        (("worker",), "STREAMER_PRICE_BANDS", "PJM=high", "bad price band 'PJM=high'"),
        (("dlq", "replay"), "STREAMER_YES", "ture", "'ture' is not a valid boolean"),
        (("feed", "data/eia_henry_hub"), "STREAMER_FORMAT", "csv", "'csv' is not one of"),
        (("topics", "create"), "STREAMER_SECURITY_PROTOCOL", "TLS", "'TLS' is not one of"),
        (("topics", "create"), "STREAMER_SASL_USERNAME", "alice", "SASL credentials were given but"),
        (("worker",), "STREAMER_SECURITY_PROTOCOL", "SASL_SSL", "SASL_SSL needs --sasl-username"),
    ],
)
def test_bad_environment_setting_is_a_usage_error(
    verb: tuple[str, ...], name: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli", *verb],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={name: value, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_sink_without_a_broker_exits_1_with_one_line(tmp_path: Path) -> None:
    result = _run("sink", "parquet", "--bootstrap", f"127.0.0.1:{free_port()}", "--out", str(tmp_path / "h"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Kafka" in lines[0], result.stderr


def test_bench_accepts_exactly_the_variants_the_harness_runs() -> None:
    # The CLI keeps its own list so that `streamer --help` does not import the harness (aiohttp, aiokafka).
    from streamer.benchmark.variants import VARIANTS
    from streamer.cli.bench import _VARIANTS

    assert tuple(v.name for v in VARIANTS) == _VARIANTS
