"""``streamer topics create``: the contract's topics, with the configured prefix and partitions."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from streamer.admin import create_topics
from streamer.cli.common import (
    bootstrap_option,
    emit_json,
    json_option,
    option,
    prefix_option,
    security_options,
    settings_from,
)

__all__ = ["topics"]


@click.group()
def topics() -> None:
    """Manage the pipeline's Kafka topics."""


@topics.command()
@bootstrap_option
@prefix_option
@security_options
@option("--partitions", type=click.IntRange(1), help="Partitions per topic [default 4].")
@option("--replication-factor", type=click.IntRange(1), help="Replicas per partition [default 1].")
@json_option
def create(
    bootstrap: str | None,
    topic_prefix: str | None,
    security: dict[str, Any],
    partitions: int | None,
    replication_factor: int | None,
    as_json: bool,
) -> None:
    """Create every missing topic of the contract (raw, enriched, bars, anomalies, late, dlq, dlq.audit)."""
    settings = settings_from(
        **security,
        bootstrap=bootstrap,
        topic_prefix=topic_prefix,
        partitions=partitions,
        replication_factor=replication_factor,
    )
    outcome = asyncio.run(create_topics(settings))
    if as_json:
        emit_json(outcome)
        return
    for name, what in outcome.items():
        click.echo(f"{what:8} {name}")
