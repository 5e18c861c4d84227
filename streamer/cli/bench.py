"""``streamer bench``: events/s of the full pipeline, a raw aiokafka passthrough and a plain Faust agent."""

from __future__ import annotations

from typing import Any

import click

from streamer.cli.common import emit_json, fail, json_option, option, security_options, settings_from
from streamer.errors import StreamerError

__all__ = ["bench", "format_results"]


def format_results(report: dict[str, Any]) -> str:
    """One line per mode (events/s steady, wall seconds incl. start-up), then the pipeline's ratios."""
    lines = [f"{'mode':<14}{'events':>9}{'events/s':>12}{'steady s':>10}{'wall s':>9}"]
    for row in report["results"]:
        rate = "n/a" if row["events_per_s"] is None else f"{row['events_per_s']:,}"
        lines.append(
            f"{row['mode']:<14}{row['events']:>9}{rate:>12}{row['steady_s']:>10.2f}{row['wall_s']:>9.2f}"
        )
    for name, ratio in report["ratios"].items():
        lines.append(f"{name}: {ratio:.3f}")
    return "\n".join(lines)


@click.command("bench")
@option(
    "--bootstrap",
    default=None,
    help="Kafka to measure on (with the security flags); without it a temporary local broker is started.",
)
@security_options
@option(
    "--messages", type=click.IntRange(1), default=50_000, show_default=True, help="Price messages per mode."
)
@option("--partitions", type=click.IntRange(1), default=2, show_default=True, help="Partitions per topic.")
@json_option
def bench(
    bootstrap: str | None, security: dict[str, Any], messages: int, partitions: int, as_json: bool
) -> None:
    """Measure events/s through the full pipeline, a raw aiokafka passthrough and a plain Faust agent."""
    from streamer.bench import run_benchmark

    settings = settings_from(**security, partitions=partitions)
    try:
        report = run_benchmark(bootstrap, messages, partitions=partitions, settings=settings)
    except StreamerError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(report)
        return
    click.echo(format_results(report))
