"""``streamer dashboard``: the live market page and its read-only REST API, fed by the output topics."""

from __future__ import annotations

from typing import Any

import click

from streamer.cli.common import (
    bootstrap_option,
    emit_json,
    json_option,
    option,
    prefix_option,
    security_options,
    settings_from,
)

__all__ = ["dashboard"]


def _lookback(ctx: click.Context, param: click.Parameter, value: str) -> object:
    from streamer.web.lookback import parse_lookback

    try:
        return parse_lookback(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _bar_windows(ctx: click.Context, param: click.Parameter, value: str) -> frozenset[str] | None:
    from streamer.enrichment import parse_window_specs

    if value.strip().lower() == "all":
        return None
    try:
        specs = parse_window_specs(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not specs:
        raise click.BadParameter('name at least one window, or "all"')
    return frozenset(spec.name for spec in specs)


@click.command()
@bootstrap_option
@prefix_option
@security_options
@option(
    "--web-host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve on.",
)
@option(
    "--web-port",
    type=click.IntRange(0, 65535),
    default=6067,
    show_default=True,
    help="Port to serve on; 0 picks a free one.",
)
@option(
    "--lookback",
    default="50000",
    show_default=True,
    callback=_lookback,
    help="History read at start: the last N records per partition, or a span of Kafka record time "
    "(30m, 2h, 1d; a replay of old files may carry event time).",
)
@option(
    "--bar-windows",
    default="5m,1h",
    show_default=True,
    callback=_bar_windows,
    help='Bar windows kept, as the worker names them ("5m,1h"), or "all".',
)
@option(
    "--max-bars",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Bars kept per series and window.",
)
@option(
    "--max-series",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Series whose latest record is kept.",
)
@option(
    "--max-anomalies",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Recent anomalies kept.",
)
@json_option
def dashboard(
    bootstrap: str | None,
    topic_prefix: str | None,
    security: dict[str, Any],
    web_host: str,
    web_port: int,
    lookback: object,
    bar_windows: frozenset[str] | None,
    max_bars: int,
    max_series: int,
    max_anomalies: int,
    as_json: bool,
) -> None:
    """Serve the live market page and REST API until stopped; prints the page's URL first."""
    from streamer.kafka_security import aiokafka_options
    from streamer.web.dashboard import DashboardOptions, run_dashboard
    from streamer.web.lookback import Lookback
    from streamer.web.market import ViewLimits

    assert isinstance(lookback, Lookback)
    settings = settings_from(
        **security, bootstrap=bootstrap, topic_prefix=topic_prefix, web_host=web_host, web_port=web_port
    )
    options = DashboardOptions(
        host=settings.web_host,
        port=settings.web_port,
        lookback=lookback,
        limits=ViewLimits(
            max_series=max_series,
            bars_per_series=max_bars,
            bar_windows=bar_windows,
            anomalies=max_anomalies,
        ),
        client_options=aiokafka_options(settings.kafka_security),
    )

    def ready(url: str) -> None:
        if as_json:
            emit_json({"url": url})
        else:
            click.echo(url)
        click.echo(f"streamer: serving the dashboard on {url} (Ctrl-C stops)", err=True)

    run_dashboard(settings.bootstrap, settings.topics, options, ready)
