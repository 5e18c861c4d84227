"""``streamer feed`` (real data files) and ``streamer simulate`` (synthetic, with corrupt messages)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamer.cli.common import (
    bootstrap_option,
    emit_json,
    json_option,
    option,
    prefix_option,
    security_options,
    settings_from,
)
from streamer.errors import FeedError
from streamer.feeds import FORMATS, FeedStats, RawMessage, files_for, read_path
from streamer.feeds.produce import ProduceSummary, produce
from streamer.feeds.simulate import SERIES, generate, market_series

__all__ = ["feed", "simulate"]


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@option(
    "--format", "fmt", required=True, type=click.Choice(sorted(FORMATS)), help="Layout of the data files."
)
@bootstrap_option
@prefix_option
@security_options
@option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Messages per second.")
@option("--limit", type=click.IntRange(min=0), default=None, help="Send at most N messages.")
@json_option
def feed(
    path: Path,
    fmt: str,
    bootstrap: str | None,
    topic_prefix: str | None,
    security: dict[str, Any],
    rate: float | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Replay real data files (a file, or every matching file of a directory) into the raw topics."""
    settings = settings_from(**security, bootstrap=bootstrap, topic_prefix=topic_prefix)
    try:
        files_for(path, fmt)
    except FeedError as exc:
        raise click.BadParameter(str(exc), param_hint="PATH") from None
    stats = FeedStats()
    messages: Iterable[RawMessage] = read_path(path, fmt, stats)
    if limit is not None:
        messages = itertools.islice(messages, limit)
    with _progress(f"feed {path.name}", limit, enabled=not as_json) as on_progress:
        summary = asyncio.run(
            produce(
                messages,
                settings.bootstrap,
                settings.topics,
                rate=rate,
                progress=on_progress,
                security=settings.kafka_security,
            )
        )
    report = {"format": fmt, "path": str(path), **summary.as_dict(), **stats.as_dict()}
    if as_json:
        emit_json(report)
    else:
        _print_summary(summary, stats.skipped, "skipped rows", extra={"rows read": stats.rows_read})


@click.command()
@option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1000.0,
    show_default=True,
    help="Messages per second.",
)
@option(
    "--corrupt-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of corrupt messages, from the corrupt catalogue.",
)
@option("--count", type=click.IntRange(min=0), default=None, help="Send N messages [default 1000].")
@option(
    "--duration-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Send for S seconds at --rate instead of a count.",
)
@option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same messages).")
@option(
    "--nodes",
    type=click.IntRange(min=1),
    default=None,
    help="Simulate a market of N price nodes (with --zones load zones) instead of the 14 named series.",
)
@option("--zones", type=click.IntRange(min=0), default=50, show_default=True, help="Load zones with --nodes.")
@bootstrap_option
@prefix_option
@security_options
@json_option
def simulate(
    rate: float,
    corrupt_rate: float,
    count: int | None,
    duration_s: float | None,
    seed: int,
    nodes: int | None,
    zones: int,
    bootstrap: str | None,
    topic_prefix: str | None,
    security: dict[str, Any],
    as_json: bool,
) -> None:
    """Send synthetic prices, load and gas, with a share of corrupt messages, into the raw topics."""
    if count is not None and duration_s is not None:
        raise click.UsageError("give --count or --duration-s, not both")
    total = int(rate * duration_s) if duration_s is not None else (1000 if count is None else count)
    settings = settings_from(**security, bootstrap=bootstrap, topic_prefix=topic_prefix)
    expected: Counter[str] = Counter()
    now_ms = time.time_ns() // 1_000_000
    series_set = SERIES if nodes is None else market_series(nodes, zones)

    def messages() -> Iterator[RawMessage]:
        for message, reason in generate(seed, total, corrupt_rate, now_ms, series_set):
            expected[reason or "valid"] += 1
            yield message

    with _progress("simulate", total, enabled=not as_json) as on_progress:
        summary = asyncio.run(
            produce(
                messages(),
                settings.bootstrap,
                settings.topics,
                rate=rate,
                progress=on_progress,
                security=settings.kafka_security,
            )
        )
    valid = expected.pop("valid", 0)
    report = {"seed": seed, **summary.as_dict(), "valid": valid, "corrupt": dict(sorted(expected.items()))}
    if as_json:
        emit_json(report)
    else:
        _print_summary(summary, expected, "corrupt (expected reason)", extra={"valid": valid})


@contextmanager
def _progress(label: str, total: int | None, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _print_summary(
    summary: ProduceSummary, by_reason: Counter[str], title: str, extra: dict[str, Any]
) -> None:
    table = Table(show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("messages", justify="right")
    for topic, n in sorted(summary.sent.items()):
        table.add_row(topic, f"{n:,}")
    table.add_row("total", f"{summary.total:,}", style="bold")
    for name, n in extra.items():
        table.add_row(name, f"{n:,}")
    for reason, n in sorted(by_reason.items()):
        table.add_row(f"{title}: {reason}", f"{n:,}")
    table.caption = f"{summary.elapsed_s:.2f}s, {summary.total / max(summary.elapsed_s, 1e-9):,.0f} msg/s"
    Console().print(table)
