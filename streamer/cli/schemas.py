"""``streamer schemas``: the published JSON Schemas of every topic, printed or written to a folder."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from streamer.cli.common import fail, option
from streamer.schemas.catalog import SCHEMA_FILE_BY_TOPIC, load_schema, render

__all__ = ["schemas"]


@click.command()
@option(
    "--topic",
    verb="schemas",
    type=click.Choice(list(SCHEMA_FILE_BY_TOPIC)),
    help="Only this topic's schema (unprefixed name; dlq: the schema of its headers) [default: all].",
)
@option(
    "--out",
    verb="schemas",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the schema files into this folder (created if missing) and list them, instead of printing.",
)
def schemas(topic: str | None, out: Path | None) -> None:
    """The published JSON Schemas (draft 2020-12) of the topics' records.

    Without --out: one topic's schema, or a JSON object of every topic's schema by topic name.
    Every output record carries the header streamer.schema_version: its schema's major version.
    """
    topics = [topic] if topic is not None else list(SCHEMA_FILE_BY_TOPIC)
    if out is None:
        payload = load_schema(topics[0]) if topic is not None else {t: load_schema(t) for t in topics}
        click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in topics:
            path = out / SCHEMA_FILE_BY_TOPIC[name]
            path.write_bytes(render(load_schema(name)))
            click.echo(f"{name:16} {path}")
    except OSError as exc:
        fail(f"cannot write the schemas to {out}: {exc.strerror or exc}")
