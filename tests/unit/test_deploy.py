"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked without it:
it parses, it pins the same Kafka version as the project, and every streamer command in it is one the
CLI accepts."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from streamer.broker import KAFKA_VERSION
from streamer.cli import cli, main

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
