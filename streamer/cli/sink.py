"""``streamer sink parquet``: output topics into Hive-partitioned Parquet files (local or object storage)."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from streamer.cli.common import (
    bootstrap_option,
    emit_json,
    fail,
    json_option,
    option,
    prefix_option,
    security_options,
    settings_from,
)

__all__ = ["sink"]

_DEFAULT_TOPICS = "enriched.prices,enriched.load,enriched.gas,bars.prices,bars.load,anomalies,late"


def _topics(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from streamer.sink import SINK_TOPICS

    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in SINK_TOPICS]
    if unknown or not names:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'none given'}; choose from {', '.join(SINK_TOPICS)}"
        )
    return names


def _out(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from streamer.sink.storage import Storage

    if value is not None:
        try:
            Storage.from_uri(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.group()
def sink() -> None:
    """Keep the history of the output topics outside Kafka."""


@sink.command()
@bootstrap_option
@prefix_option
@security_options
@option(
    "--topics",
    default=_DEFAULT_TOPICS,
    show_default=True,
    callback=_topics,
    help="Output topics to keep, comma-separated (unprefixed names).",
)
@option(
    "--out",
    required=True,
    callback=_out,
    help="Where the files go: a local folder, or a URL pyarrow supports (s3://bucket/path, gs://..., hdfs://...).",
)
@option("--sink-group", default="streamer-sink-parquet", show_default=True, help="The sink's consumer group.")
@option(
    "--roll-size-bytes",
    type=click.IntRange(1),
    default=64 * 1024 * 1024,
    show_default=True,
    help="Roll a partition's file(s) once this many bytes of record values are buffered.",
)
@option(
    "--roll-age-ms",
    type=click.IntRange(1),
    default=60_000,
    show_default=True,
    help="Roll a partition's file(s) this long after their first record, however small.",
)
@option(
    "--exit-at-end",
    is_flag=True,
    help="Stop once everything up to the end offsets seen at start is written (a batch run).",
)
@json_option
def parquet(
    bootstrap: str | None,
    topic_prefix: str | None,
    security: dict[str, Any],
    topics: tuple[str, ...],
    out: str,
    sink_group: str,
    roll_size_bytes: int,
    roll_age_ms: int,
    exit_at_end: bool,
    as_json: bool,
) -> None:
    """Write output topics to Hive-partitioned Parquet: topic=T/market=M/date=YYYY-MM-DD/part-*.parquet.

    Columns are typed from the published contracts (streamer schemas), zstd-compressed. A SIGKILL at any
    moment and a restart lose no row and write none twice: the files record which offsets they hold.
    SIGINT/SIGTERM writes what is buffered and stops.
    """
    from streamer.sink import SinkOptions, run_sink

    settings = settings_from(**security, bootstrap=bootstrap, topic_prefix=topic_prefix)
    options = SinkOptions(
        bootstrap=settings.bootstrap,
        contracts={f"{settings.topic_prefix}{topic}": topic for topic in topics},
        out=out,
        group_id=sink_group,
        roll_bytes=roll_size_bytes,
        roll_age_ms=roll_age_ms,
        exit_at_end=exit_at_end,
        security=settings.kafka_security,
    )
    try:
        report = asyncio.run(run_sink(options))
    except OSError as exc:
        fail(f"writing to {out} failed: {exc}")
        return
    if as_json:
        emit_json(report.to_dict())
    else:
        r = report.to_dict()
        click.echo(
            f"{r['rows']} rows in {r['files']} files ({r['file_bytes']} bytes), {r['rows_per_s']} rows/s"
        )
