"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked without it:
it parses, it pins the same Kafka version as the project, every streamer command in it is one the CLI
accepts, every STREAMER_* variable is a real flag's, host tools get their own listener, the workers wait
for topic creation, and they have a health check and time to stop cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from streamer.broker import KAFKA_VERSION
from streamer.cli import cli, main
from streamer.cli.common import SettingOption

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _streamer_services() -> dict[str, list[str]]:
    return {
        name: service["command"]
        for name, service in COMPOSE["services"].items()
        if service.get("image") == "streamer:local"
    }


def test_kafka_service_runs_the_pinned_broker_in_kraft_mode() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_streamer_services_use_the_worker_image_and_the_broker() -> None:
    services = _streamer_services()
    assert {"topics", "worker", "feed"} <= set(services)
    for name in services:
        assert COMPOSE["services"][name]["environment"]["STREAMER_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("name", sorted(_streamer_services()))
def test_compose_commands_parse_with_the_real_cli(name: str) -> None:
    main(["--help"])  # registers the verbs
    args = _streamer_services()[name]
    command: click.Command = cli
    ctx = cli.make_context("streamer", list(args), resilient_parsing=False)
    while isinstance(command, click.Group) and ctx.protected_args + ctx.args:
        sub_name, *rest = ctx.protected_args + ctx.args
        sub = command.get_command(ctx, sub_name)
        assert sub is not None, f"{name}: unknown verb {sub_name!r}"
        command, ctx = sub, sub.make_context(sub_name, rest, parent=ctx)


def test_dockerfile_copies_paths_that_exist() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    assert re.search(r"^ENTRYPOINT \[\"streamer\"\]", dockerfile, re.M)


def _listeners(value: str) -> dict[str, str]:
    return dict(item.split("://", 1) for item in value.split(","))


def test_host_tools_reach_the_broker_on_their_own_listener() -> None:
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert advertised["PLAINTEXT"] == "kafka:9092"  # what the containers use
    assert advertised["HOST"] == "localhost:9094"  # what kcat or streamer on the host use
    assert "9094:9094" in kafka["ports"]
    assert _listeners(env["KAFKA_LISTENERS"])["HOST"] == ":9094"
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(advertised) | {env["KAFKA_CONTROLLER_LISTENER_NAMES"]} <= set(protocols)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"


@pytest.mark.parametrize("name", ["worker", "feed"])
def test_workers_and_feed_wait_for_topic_creation(name: str) -> None:
    depends = COMPOSE["services"][name]["depends_on"]
    assert depends["topics"] == {"condition": "service_completed_successfully"}
    assert depends["kafka"] == {"condition": "service_healthy"}
    assert COMPOSE["services"]["topics"]["command"] == ["topics", "create"]
    assert COMPOSE["services"]["topics"]["restart"] == "no"


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_worker_health_check_and_clean_stop() -> None:
    worker = COMPOSE["services"]["worker"]
    test = " ".join(worker["healthcheck"]["test"])
    assert "http://127.0.0.1:6066/healthz" in test
    assert _seconds(worker["stop_grace_period"]) >= 30
    assert _seconds(worker["healthcheck"]["start_period"]) >= 30  # table recovery before the first check


def test_compose_variables_are_real_flags() -> None:
    main(["--help"])
    known: set[str] = set()
    commands: list[click.Command] = [cli]
    while commands:
        command = commands.pop()
        known |= {
            p.envvar for p in command.params if isinstance(p, SettingOption) and isinstance(p.envvar, str)
        }
        if isinstance(command, click.Group):
            commands += command.commands.values()
    for name in _streamer_services():
        variables = set(COMPOSE["services"][name]["environment"])
        assert variables <= known, variables - known
