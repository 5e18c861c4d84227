"""Usage of the ``dlq`` group without a broker: help, bad arguments (exit 2), unreachable broker (exit 1)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from streamer.cli import main
from streamer.cli.dlq import dlq


@pytest.mark.parametrize("verb", ["stats", "show", "replay"])
def test_help(verb: str) -> None:
    result = CliRunner().invoke(dlq, [verb, "--help"])
    assert result.exit_code == 0
    for flag in ("--reason", "--topic", "--since", "--until", "--offset", "--bootstrap", "--topic-prefix"):
        assert flag in result.output


def test_replay_help_lists_its_options() -> None:
    result = CliRunner().invoke(dlq, ["replay", "--help"])
    for flag in ("--to", "--dry-run", "--rate", "--max", "--transform", "--max-replays", "--yes", "--group"):
        assert flag in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["show", "--since", "2025-07-01T14:00:00"],
        ["show", "--until", "yesterday"],
        ["stats", "--offset", "x:1"],
        ["replay", "--dry-run", "--transform", "nocolon"],
        ["replay", "--dry-run", "--transform", "no_such_module_xyz:f"],
        ["replay", "--rate", "0", "--dry-run"],
        ["replay", "--max-replays", "0", "--dry-run"],
        ["replay"],  # not a terminal and no --yes
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamer: error:")


def test_unreachable_broker_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "stats", "--bootstrap", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "127.0.0.1:1" in err[0]
