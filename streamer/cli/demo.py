"""``streamer demo``: the whole pipeline on an embedded broker, with the live dashboard and a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
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
from streamer.demo import DemoStatus, Serving, default_demo_data, run_demo

__all__ = ["demo"]


def _render(status: DemoStatus) -> Group:
    flows = Table(title=f"streamer demo on {status.bootstrap} ({status.elapsed_s:.0f}s)", expand=False)
    flows.add_column("topic")
    flows.add_column("records", justify="right")
    for topic, n in sorted(status.sent.items()):
        flows.add_row(f"in  {topic}", f"{n:,}")
    for topic, n in sorted(status.outputs.items()):
        flows.add_row(f"out {topic}", f"{n:,}")
    reasons = Table(title="dead letters by reason")
    reasons.add_column("reason")
    reasons.add_column("records", justify="right")
    for reason, n in status.dlq_reasons.most_common():
        reasons.add_row(reason, f"{n:,}")
    anomalies = Table(title="anomalies by type")
    anomalies.add_column("type")
    anomalies.add_column("records", justify="right")
    for kind, n in status.anomaly_types.most_common():
        anomalies.add_row(kind, f"{n:,}")
    return Group(flows, reasons, anomalies)


@click.command()
@bootstrap_option
@prefix_option
@option("--app-id", help="Consumer group and table namespace of the demo's worker [default streamer].")
@option(
    "--external-broker",
    is_flag=True,
    help="Use the broker at --bootstrap (with the security flags) instead of starting an embedded one.",
)
@security_options
@option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="AEMO file or folder to feed [default: data/aemo_sa1/DATA200901_SA1.csv, the Jan 2009 heatwave].",
)
@option("--synthetic", type=click.IntRange(0), default=5000, show_default=True, help="Synthetic messages.")
@option("--corrupt-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="Corrupt share.")
@option("--timeout-s", type=click.FloatRange(1), default=300.0, show_default=True, help="Stop after S s.")
@option("--keep-running", is_flag=True, help="Leave the broker and worker running afterwards.")
@option(
    "--once",
    is_flag=True,
    help="Run, print the summary and stop, without the dashboard (for CI). By default the dashboard is "
    "served until Ctrl-C.",
)
@option("--web-host", default="127.0.0.1", show_default=True, help="Dashboard address.")
@option(
    "--web-port",
    type=click.IntRange(0, 65535),
    default=6067,
    show_default=True,
    help="Dashboard port; 0 picks a free one.",
)
@json_option
def demo(
    bootstrap: str | None,
    topic_prefix: str | None,
    app_id: str | None,
    external_broker: bool,
    security: dict[str, Any],
    data: Path | None,
    synthetic: int,
    corrupt_rate: float,
    timeout_s: float,
    keep_running: bool,
    once: bool,
    web_host: str,
    web_port: int,
    as_json: bool,
) -> None:
    """Run broker, topics, feed, a worker and the dashboard locally, and show what flows where.

    Prints the dashboard's URL first and serves it until Ctrl-C; --once stops after the summary."""
    data = data if data is not None else default_demo_data()
    if not data.exists():
        raise click.BadParameter(f"{data} does not exist", param_hint="--data")
    settings = settings_from(**security, bootstrap=bootstrap, topic_prefix=topic_prefix, app_id=app_id)
    console = Console(stderr=as_json)
    live_enabled = not as_json and sys.stdout.isatty()
    serving = None
    if not once:
        from streamer.kafka_security import aiokafka_options
        from streamer.web.dashboard import DashboardOptions

        def on_url(url: str) -> None:
            if as_json:
                emit_json({"dashboard": url})
            else:
                console.print(f"dashboard: {url}", highlight=False, soft_wrap=True)

        def on_serving(status: DemoStatus) -> None:
            if as_json:
                emit_json(status.as_dict())
                return
            _summarise(console, status, printed=live_enabled)
            console.print("the dashboard keeps serving; Ctrl-C stops the demo", highlight=False)

        options = DashboardOptions(
            host=web_host, port=web_port, client_options=aiokafka_options(settings.kafka_security)
        )
        serving = Serving(options, on_url, on_serving)
    with Live(console=console, refresh_per_second=4, transient=False) if live_enabled else _NoLive() as live:
        status = run_demo(
            settings,
            data=data,
            synthetic=synthetic,
            corrupt_rate=corrupt_rate,
            timeout_s=timeout_s,
            keep_running=keep_running,
            use_external_broker=external_broker,
            on_update=lambda s: live.update(_render(s)),
            serving=serving,
        )
    if serving is not None:
        return  # summarised while serving
    if as_json:
        emit_json(status.as_dict())
        return
    _summarise(console, status, printed=live_enabled)


def _summarise(console: Console, status: DemoStatus, *, printed: bool) -> None:
    if not printed:
        console.print(_render(status))
    accounted = sum(n for t, n in status.outputs.items() if ".enriched." in f".{t}" or t.endswith("dlq"))
    console.print(
        f"{status.inputs:,} messages in; {accounted:,} accounted for in enriched + dlq; "
        f"expected corrupt by reason: {dict(status.expected_corrupt)}"
    )


class _NoLive:
    """Stands in for rich's Live when output is not a terminal: nothing is redrawn."""

    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _renderable: object) -> None:
        return None
