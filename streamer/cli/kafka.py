"""``streamer kafka start|stop|status``: the project's own local Kafka broker."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from streamer.broker import KAFKA_VERSION, LocalBroker
from streamer.broker.fetch import cache_root
from streamer.cli.common import bootstrap_option, emit_json, fail, json_option, option, settings_from

__all__ = ["kafka"]


def _port_of(bootstrap: str | None, port: int | None) -> int:
    if port is not None:
        return port
    address = settings_from(bootstrap=bootstrap).bootstrap.split(",")[0]
    host, _, port_s = address.rpartition(":")
    if host not in {"127.0.0.1", "localhost"} or not port_s.isdigit():
        raise click.BadParameter(
            f"the local broker runs on loopback; got {address!r}", param_hint="--bootstrap"
        )
    return int(port_s)


def _home(home: Path | None, port: int) -> Path:
    return home if home is not None else cache_root() / "run" / f"broker-{port}"


_port_option = option("--port", type=click.IntRange(1, 65535), help="Loopback port (overrides --bootstrap).")
_home_option = option(
    "--kafka-home",
    "--home",
    "home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Broker state directory [default: <cache>/run/broker-PORT].",
)


@click.group()
def kafka() -> None:
    """Manage the local Apache Kafka broker (KRaft, fetched from Maven Central on first use)."""


@kafka.command()
@bootstrap_option
@_port_option
@_home_option
@option("--fresh", is_flag=True, help="Wipe the broker's data before starting.")
@option("--timeout-s", type=click.FloatRange(1), default=120.0, show_default=True, help="Wait this long.")
@json_option
def start(
    bootstrap: str | None, port: int | None, home: Path | None, fresh: bool, timeout_s: float, as_json: bool
) -> None:
    """Start the broker and print its bootstrap address as the last line. Idempotent."""
    port = _port_of(bootstrap, port)
    home = _home(home, port)
    state = LocalBroker.running_state(home)
    if state is not None:
        _report(state.bootstrap, as_json, f"Kafka {state.kafka_version} already running (pid {state.pid})")
        return
    if fresh and home.exists():
        shutil.rmtree(home)
    broker = LocalBroker(home, port=port)
    broker.start(timeout_s=timeout_s)
    _report(broker.bootstrap, as_json, f"Kafka {KAFKA_VERSION} started (logs: {broker.log_path})")


def _report(bootstrap: str, as_json: bool, message: str) -> None:
    if as_json:
        emit_json({"bootstrap": bootstrap})
    else:
        click.echo(message)
        click.echo(bootstrap)


@kafka.command()
@bootstrap_option
@_port_option
@_home_option
@json_option
def stop(bootstrap: str | None, port: int | None, home: Path | None, as_json: bool) -> None:
    """Stop the broker and wait until it has exited."""
    port = _port_of(bootstrap, port)
    home = _home(home, port)
    state = LocalBroker.read_state(home)
    if state is None:
        if as_json:
            emit_json({"stopped": False, "running": False})
        else:
            click.echo("Kafka is not running")
        return
    LocalBroker(home, port=state.port, controller_port=state.controller_port).stop()
    if as_json:
        emit_json({"stopped": True, "running": False})
    else:
        click.echo(f"Kafka stopped (pid {state.pid})")


@kafka.command()
@bootstrap_option
@_port_option
@_home_option
@json_option
def status(bootstrap: str | None, port: int | None, home: Path | None, as_json: bool) -> None:
    """Say whether the broker runs; exit 1 when it does not."""
    port = _port_of(bootstrap, port)
    state = LocalBroker.running_state(_home(home, port))
    if as_json:
        emit_json({"running": state is not None, "bootstrap": state.bootstrap if state else None})
    elif state is not None:
        click.echo(f"Kafka {state.kafka_version} running (pid {state.pid}) at {state.bootstrap}")
    if state is None:
        fail(f"Kafka is not running on port {port}")
