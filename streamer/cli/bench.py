"""``streamer bench [compare|memory|restore|soak]``: the worker against its peers, and its state's costs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from streamer.cli.common import emit_json, fail, json_option, option, security_options, settings_from
from streamer.errors import StreamerError

__all__ = ["bench"]

_MEASUREMENTS = ("compare", "memory", "restore", "soak")
# streamer.benchmark.variants.VARIANTS by name (a unit test keeps them equal): not imported for --help
_VARIANTS = ("passthrough", "passthrough-x6", "faust-naive", "quix", "streamer-1", "streamer-2")


def _variants(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in _VARIANTS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(_VARIANTS)}, comma-separated")
    return names


@click.command("bench")
@click.argument("measurement", type=click.Choice(_MEASUREMENTS), default="compare", required=False)
@option(
    "--bootstrap",
    default=None,
    help="Kafka to measure on (with the security flags); without it a temporary local broker is started.",
)
@security_options
@option("--messages", type=click.IntRange(1), help="compare: backlog messages per variant [200000].")
@option(
    "--nodes", type=click.IntRange(1), help="Price nodes [compare, restore 2000; memory 98000; soak 300]."
)
@option("--zones", type=click.IntRange(0), help="Load zones [compare, restore 50; memory 2000; soak 0].")
@option("--partitions", type=click.IntRange(1), help="Partitions per topic [memory 16; others 4].")
@option("--intervals", type=click.IntRange(1), help="memory, soak: 5-minute intervals per series [48; 2016].")
@option("--keys", type=click.IntRange(1), help="restore: state keys to restore [1000000].")
@option(
    "--corrupt-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.02,
    show_default=True,
    help="Share of corrupt messages.",
)
@option("--seed", type=int, default=2024, show_default=True, help="Seed of the simulated market.")
@option(
    "--variants",
    callback=_variants,
    help=f"compare: which, comma-separated [{','.join(_VARIANTS)}].",
)
@option(
    "--latency-s",
    type=click.FloatRange(0.1),
    default=20.0,
    show_default=True,
    help="compare: longest latency phase per variant, at half its rate.",
)
@option(
    "--latency-rate",
    type=click.FloatRange(1.0),
    help="compare: feed every variant's latency phase at this many events/s instead of half its own rate, "
    "so that runs of one variant compare at one load (the p99 target is at half load: not judged then).",
)
@option(
    "--timeout-s",
    type=click.FloatRange(1.0),
    default=1800.0,
    show_default=True,
    help="Longest wait for one phase of one variant to start or end, or for a run's next output.",
)
@option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file to merge this run into [bench/results/<date>.json]; the plot goes next to it.",
)
@option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the run's logs and data dirs here [a temporary directory, removed after].",
)
@option("--plot/--no-plot", default=True, show_default=True, help="Write the PNG next to the results.")
@option(
    "--report",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run nothing: print this results file (with --markdown: the README's table).",
)
@option("--markdown", is_flag=True, help="Print the results as the README's Markdown table.")
@json_option
def bench(
    measurement: str,
    bootstrap: str | None,
    security: dict[str, Any],
    variants: tuple[str, ...] | None,
    results: Path | None,
    work_dir: Path | None,
    plot: bool,
    report: Path | None,
    markdown: bool,
    as_json: bool,
    **sizes: Any,
) -> None:
    """Measure the worker against a raw passthrough, a plain Faust agent and Quix Streams (compare), its
    RSS with 100k series (memory), its changelog restore (restore) or its rate over 7 days of data (soak).

    Writes bench/results/<date>.json and its PNG. Each run's outputs, latency method and targets are
    described in the README's Performance section.
    """
    from streamer.benchmark import report as rendering

    if report is not None:
        _print(rendering.load(report), as_json, markdown)
        return
    from streamer.benchmark.harness import BenchOptions, run_benchmark

    settings = settings_from(**security)
    options = BenchOptions(measurement=measurement, results=results, plot=plot, work_dir=work_dir, **sizes)
    if variants:
        options = replace(options, variants=variants)
    try:
        data, path = run_benchmark(settings, bootstrap, options)
    except StreamerError as exc:
        fail(str(exc), exc.exit_code)
        return
    if not as_json and not markdown:
        click.echo(f"results: {path}")
    _print(data, as_json, markdown)


def _print(data: dict[str, Any], as_json: bool, markdown: bool) -> None:
    from streamer.benchmark import report as rendering

    if as_json:
        emit_json(data)
    elif markdown:
        click.echo(rendering.markdown(data), nl=False)
    else:
        click.echo(rendering.text(data))
