import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from streamer.cli.feed import feed, simulate
from streamer.errors import BrokerError

DATA = Path(__file__).parents[3] / "data"


@pytest.fixture
def closed_bootstrap() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_help() -> None:
    result = CliRunner().invoke(feed, ["--help"])
    assert result.exit_code == 0
    assert "--format" in result.output and "pjm-load" in result.output and "--limit" in result.output
    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0
    assert "--corrupt-rate" in result.output and "--duration-s" in result.output


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (feed, [str(DATA / "pyiso"), "--format", "csv"], "Invalid value for '--format'"),
        (feed, [str(DATA / "no-such-dir"), "--format", "eia"], "does not exist"),
        (feed, [str(DATA / "pyiso")], "Missing option '--format'"),
        (feed, [str(DATA / "nab"), "--format", "nyiso"], "no *lmp*.csv files"),
        (feed, [str(DATA / "pyiso"), "--format", "nyiso", "--rate", "0"], "Invalid value for '--rate'"),
        (simulate, ["--corrupt-rate", "1.5"], "Invalid value for '--corrupt-rate'"),
        (simulate, ["--corrupt-rate", "-0.1"], "Invalid value for '--corrupt-rate'"),
        (simulate, ["--count", "10", "--duration-s", "1"], "not both"),
    ],
)
def test_bad_arguments_are_usage_errors(command: click.Command, args: list[str], message: str) -> None:
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_unreachable_broker_raises_broker_error(closed_bootstrap: str) -> None:
    args = [
        str(DATA / "pyiso" / "nyiso_lmp.csv"),
        "--format",
        "nyiso",
        "--bootstrap",
        closed_bootstrap,
        "--json",
    ]
    result = CliRunner().invoke(feed, args)
    assert isinstance(result.exception, BrokerError)
    result = CliRunner().invoke(simulate, ["--count", "5", "--bootstrap", closed_bootstrap])
    assert isinstance(result.exception, BrokerError)
