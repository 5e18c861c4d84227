"""``streamer dlq stats|show|replay``: inspect the dead-letter topic, fix and replay it, safely.

Thin: parses flags into :class:`~streamer.dlqtool.filters.Filters` and a
:class:`~streamer.dlqtool.replay.ReplayRequest`, calls the package, prints the result.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

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
from streamer.dlqtool.filters import (
    Filters,
    OffsetStart,
    TimeBound,
    parse_offset,
    parse_when,
    replay_group_id,
)
from streamer.dlqtool.inspect import read_audit_totals, read_records, read_stats
from streamer.dlqtool.record import DlqRecord
from streamer.dlqtool.replay import ReplayReport, ReplayRequest, run_replay
from streamer.dlqtool.transform import load_transform
from streamer.errors import ConfigError
from streamer.settings import Settings

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Selection:
    """Settings and record filters built from the shared flags."""

    settings: Settings
    filters: Filters


def _filter_options(func: F) -> F:
    """The selection flags shared by every verb, handed to the command as one ``selection``."""
    options = [
        option("--reason", "reasons", multiple=True, help="Only this reject reason (repeatable)."),
        option(
            "--topic",
            "topics",
            multiple=True,
            help="Only records from this origin topic, e.g. raw.prices (repeatable; the prefix is added).",
        ),
        option("--since", help="From this time (inclusive): ISO 8601 with offset, or 30m, 2h, 1d ago."),
        option("--until", help="Up to this time (exclusive): ISO 8601 with offset, or 30m, 2h, 1d ago."),
        option("--offset", help="From DLQ offset N in every partition, or P:N for partition P only."),
        bootstrap_option,
        prefix_option,
        security_options,
    ]

    @functools.wraps(func)
    def with_selection(
        *,
        reasons: tuple[str, ...],
        topics: tuple[str, ...],
        since: str | None,
        until: str | None,
        offset: str | None,
        bootstrap: str | None,
        topic_prefix: str | None,
        security: dict[str, Any],
        **rest: Any,
    ) -> Any:
        settings = settings_from(**security, bootstrap=bootstrap, topic_prefix=topic_prefix)
        selection = Selection(settings, _filters(settings, reasons, topics, since, until, offset))
        return func(selection=selection, **rest)

    wrapped: Any = with_selection
    for decorator in reversed(options):
        wrapped = decorator(wrapped)
    return cast(F, wrapped)


def _when(text: str | None, name: str, now_ms: int) -> TimeBound | None:
    if text is None:
        return None
    try:
        return parse_when(text, now_ms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def _filters(
    settings: Settings,
    reasons: tuple[str, ...],
    topics: tuple[str, ...],
    since: str | None,
    until: str | None,
    offset: str | None,
) -> Filters:
    now_ms = time.time_ns() // 1_000_000
    start: OffsetStart | None = None
    if offset is not None:
        try:
            start = parse_offset(offset)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--offset") from None
    prefix = settings.topic_prefix
    return Filters(
        reasons=frozenset(reasons),
        topics=frozenset(t if t.startswith(prefix) else f"{prefix}{t}" for t in topics),
        since=_when(since, "--since", now_ms),
        until=_when(until, "--until", now_ms),
        offset=start,
    )


@contextmanager
def _progress(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _counter_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    table.add_column(title.split(" ")[-1])
    table.add_column("records", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    return table


@click.group()
def dlq() -> None:
    """Inspect the dead-letter topic, fix the cause, and replay its records."""


_BUCKETS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "6h": 21_600_000, "1d": 86_400_000}


@dlq.command()
@_filter_options
@option(
    "--bucket", type=click.Choice(list(_BUCKETS)), default="1h", show_default=True, help="Time bucket size."
)
@json_option
def stats(
    selection: Selection,
    bucket: str,
    as_json: bool,
) -> None:
    """Counts by reason, origin topic and time bucket; oldest, newest and replayed records."""
    settings, filters = selection.settings, selection.filters
    names = settings.topics
    with _progress("reading dlq", enabled=not as_json) as progress:
        result = asyncio.run(
            read_stats(
                settings.bootstrap,
                names.dlq,
                filters,
                _BUCKETS[bucket],
                progress,
                security=settings.kafka_security,
            )
        )
    audit = asyncio.run(
        read_audit_totals(settings.bootstrap, names.dlq_audit, security=settings.kafka_security)
    )
    payload = {"topic": names.dlq, **result.to_dict(), "audit": audit}
    if as_json:
        emit_json(payload)
        return
    console = Console()
    console.print(f"[bold]{names.dlq}[/bold]: {result.total:,} records")
    if result.oldest is not None and result.newest is not None:
        for label, point in (("oldest", result.oldest), ("newest", result.newest)):
            d = point.to_dict()
            console.print(f"{label}: {d['timestamp']}  [{d['partition']}]@{d['offset']}  {d['reason']}")
    console.print(_counter_table("by reason", payload["by_reason"]))
    console.print(_counter_table("by origin topic", payload["by_topic"]))
    console.print(_counter_table(f"by {bucket} bucket", payload["by_bucket"]))
    replays = {f"replayed {c}x": n for c, n in payload["by_replay_count"].items()}
    console.print(_counter_table("by replay count", replays))
    if audit is not None:
        console.print(
            f"audit: {audit['replay_runs']} replay runs, {audit['records_replayed']:,} records replayed"
            + (f", last finished {audit['last_run_finished']}" if audit["last_run_finished"] else "")
        )


def _print_record(console: Console, record: DlqRecord) -> None:
    d = record.to_dict()
    console.rule(f"[{d['partition']}]@{d['offset']}  {d['reason']}  {d['timestamp']}", align="left")
    console.print(f"origin: {d['origin']}   replay_count: {d['replay_count']}", markup=False)
    console.print(f"detail: {d['detail']}", markup=False)
    console.print(f"key ({d['key_encoding']}): {d['key']}", markup=False)
    console.print(f"value ({d['value_encoding']}): {d['value']}", markup=False)
    for name, value in d["headers"]:
        console.print(f"  {name}: {value}", markup=False, highlight=False)


@dlq.command()
@_filter_options
@option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most N.")
@json_option
def show(
    selection: Selection,
    limit: int,
    as_json: bool,
) -> None:
    """Records with decoded headers; payloads as text when UTF-8, otherwise as hex."""
    settings, filters = selection.settings, selection.filters
    records = asyncio.run(
        read_records(
            settings.bootstrap, settings.topics.dlq, filters, limit, security=settings.kafka_security
        )
    )
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    console = Console(highlight=False)
    for record in records:
        _print_record(console, record)
    console.print(f"{len(records)} record(s)")


def _print_report(report: ReplayReport, max_replays: int) -> None:
    console = Console(highlight=False)
    c = report.counts
    verb = "would replay" if report.dry_run else "replayed"
    console.print(
        f"{verb} {c.replayed:,} of {c.examined:,} records examined "
        f"(group {report.group_id}, {report.pending:,} pending before the run)"
    )
    if c.replayed_reasons:
        width = max(c.replayed_reasons.values())
        for reason, n in c.replayed_reasons.most_common():
            bar = "#" * max(1, round(30 * n / width))
            console.print(f"  {reason:<20} {n:>8,}  {bar}", markup=False)
    if report.targets:
        console.print(f"to: {', '.join(sorted(report.targets))}")
    if report.missing_targets:
        missing = ", ".join(sorted(report.missing_targets))
        console.print(f"[bold red]these topics do not exist, a replay would stop there:[/] {missing}")
    counts = c.to_dict()
    console.print(
        f"filtered out: {counts['filtered_out']:,}  skipped by transform: {counts['transform_skip']:,}  "
        f"no origin: {counts['no_origin']:,}"
    )
    if c.loop_guard:
        shown = ", ".join(c.loop_guard[:20]) + (" ..." if len(c.loop_guard) > 20 else "")
        console.print(
            f"loop guard: {len(c.loop_guard):,} already replayed {max_replays}x, not replayed: {shown}"
        )
    if c.transform_skips:
        console.print(f"transform skipped: {', '.join(c.transform_skips[:20])}", markup=False)
    if report.stopped_early:
        console.print("stopped at --max/--limit; run again to continue")
    if report.dry_run:
        for row in report.preview[:20]:
            console.print(
                f"  [{row['partition']}]@{row['offset']} {row['reason']} {row['origin']} -> {row['to']} "
                f"key={row['key']}",
                markup=False,
            )
        if len(report.preview) > 20:
            console.print(f"  ... {c.replayed - 20:,} more (--json lists them)")
    else:
        console.print(f"replay id {report.replay_id}")


@dlq.command()
@_filter_options
@option("--limit", type=click.IntRange(min=1), help="Look at most N matching records in this run.")
@option("--to", "to_topic", help="Publish to this topic instead of each record's origin topic.")
@option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing on the broker.")
@option("--rate", type=click.FloatRange(min=0, min_open=True), help="At most N messages per second.")
@option("--max", "max_replayed", type=click.IntRange(min=1), help="Replay at most N records in this run.")
@option("--transform", "transform_spec", help="MODULE:FUNC(value: bytes) -> bytes | None (None skips).")
@option(
    "--max-replays",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Loop guard: records already replayed N times are reported, not replayed.",
)
@option("--group", "group_id", help="Consumer group of the run [default: derived from DLQ, filters, --to].")
@option("--yes", is_flag=True, help="Do not ask for confirmation (required when not on a terminal).")
@json_option
def replay(
    selection: Selection,
    limit: int | None,
    to_topic: str | None,
    dry_run: bool,
    rate: float | None,
    max_replayed: int | None,
    transform_spec: str | None,
    max_replays: int,
    group_id: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Re-publish selected records to their origin topic (or --to), resumably and exactly once.

    Progress is kept by a consumer group derived from the filters: running the same command again
    replays nothing twice, and an interrupted run resumes where it stopped. Each real run writes
    one record to dlq.audit.
    """
    settings, filters = selection.settings, selection.filters
    names = settings.topics
    try:
        transform = load_transform(transform_spec) if transform_spec is not None else None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--transform") from None
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not dry_run and not yes and not interactive:
        raise click.UsageError("a real replay needs --yes when not run on a terminal (or use --dry-run)")
    request = ReplayRequest(
        bootstrap=settings.bootstrap,
        dlq_topic=names.dlq,
        audit_topic=names.dlq_audit,
        group_id=group_id or replay_group_id(names.dlq, filters, to_topic),
        filters=filters,
        to_topic=to_topic,
        max_replays=max_replays,
        transform=transform,
        transform_spec=transform_spec,
        rate_per_s=rate,
        max_replayed=max_replayed,
        limit=limit,
        dry_run=dry_run,
        security=settings.kafka_security,
    )
    if not dry_run and not yes:
        preview = asyncio.run(run_replay(_dry(request)))
        _print_report(preview, max_replays)
        if preview.counts.examined == 0:
            return
        click.confirm(f"Replay {preview.counts.replayed:,} records now?", abort=True)
    with _progress("dry run" if dry_run else "replaying", enabled=not as_json) as progress:
        report = asyncio.run(run_replay(request, progress))
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report, max_replays)


def _dry(request: ReplayRequest) -> ReplayRequest:
    return replace(request, dry_run=True)
