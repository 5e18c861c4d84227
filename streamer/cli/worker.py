"""``streamer worker``: run one pipeline worker. Start more replicas to scale out."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from streamer.cli.common import bootstrap_option, prefix_option, settings_from

__all__ = ["worker"]


@click.command()
@bootstrap_option
@prefix_option
@click.option(
    "--app-id", envvar="STREAMER_APP_ID", help="Consumer group and table namespace [default streamer]."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="STREAMER_DATA_DIR",
    help="RocksDB table state of this worker [default var/worker]; one per replica on a host.",
)
@click.option(
    "--partitions", type=click.IntRange(1), envvar="STREAMER_PARTITIONS", help="Partitions of raw topics."
)
@click.option("--replication-factor", type=click.IntRange(1), envvar="STREAMER_REPLICATION_FACTOR")
@click.option("--standby-replicas", type=click.IntRange(0), envvar="STREAMER_TABLE_STANDBY_REPLICAS")
@click.option("--batch-size", type=click.IntRange(1), envvar="STREAMER_BATCH_SIZE")
@click.option(
    "--price-bands",
    envvar="STREAMER_PRICE_BANDS",
    help='Band overrides, "MARKET=FLOOR:CAP,..." e.g. "AEMO=-1000:17500" [env STREAMER_PRICE_BANDS].',
)
@click.option(
    "--max-value-bytes",
    type=click.IntRange(1),
    envvar="STREAMER_MAX_VALUE_BYTES",
    help="Reject larger values.",
)
@click.option(
    "--windows",
    "window_specs",
    envvar="STREAMER_WINDOW_SPECS",
    help='Event-time windows, comma-separated: tumbling "5m", hopping "1h/5m" [default 5m,1h,1h/5m].',
)
@click.option(
    "--grace-ms", type=click.IntRange(0), envvar="STREAMER_GRACE_MS", help="Window grace [default 600000]."
)
@click.option(
    "--detectors/--no-detectors",
    "detectors_enabled",
    default=None,
    envvar="STREAMER_DETECTORS_ENABLED",
    help="Run the anomaly detectors [default on].",
)
@click.option(
    "--stale-clock",
    type=click.Choice(["event", "wall"]),
    envvar="STREAMER_STALE_CLOCK",
    help="Clock of the stale-feed timer: partition watermark (replays) or wall clock (live) [default event].",
)
@click.option(
    "--instance-id",
    envvar="STREAMER_INSTANCE_ID",
    help="Static group membership id of this replica, so a restart takes its partitions back at once "
    '(a StatefulSet pod name); "auto" derives one from the host and data dir, "" joins as a dynamic '
    "member [default auto].",
)
@click.option(
    "--session-timeout-ms",
    type=click.IntRange(6_000, 90_000),
    envvar="STREAMER_SESSION_TIMEOUT_MS",
    help="How long the group waits for a silent (killed) member before moving its partitions "
    "[default 30000].",
)
@click.option(
    "--commit-interval-ms",
    type=click.IntRange(100),
    envvar="STREAMER_COMMIT_INTERVAL_MS",
    help="How often processed offsets are committed; bounds what a crash re-publishes [default 1000].",
)
@click.option(
    "--state-cache-series",
    type=click.IntRange(1),
    envvar="STREAMER_STATE_CACHE_SERIES",
    help="Series kept in memory in front of RocksDB (LRU) [default 10000].",
)
@click.option(
    "--state-cache-panes",
    type=click.IntRange(1),
    envvar="STREAMER_STATE_CACHE_PANES",
    help="Window panes kept in memory in front of RocksDB [default 200000].",
)
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="warning")
def worker(
    bootstrap: str | None,
    topic_prefix: str | None,
    app_id: str | None,
    data_dir: Path | None,
    partitions: int | None,
    replication_factor: int | None,
    standby_replicas: int | None,
    batch_size: int | None,
    price_bands: str | None,
    max_value_bytes: int | None,
    window_specs: str | None,
    grace_ms: int | None,
    detectors_enabled: bool | None,
    stale_clock: str | None,
    instance_id: str | None,
    session_timeout_ms: int | None,
    commit_interval_ms: int | None,
    state_cache_series: int | None,
    state_cache_panes: int | None,
    loglevel: str,
) -> None:
    """Consume raw.*, publish enriched.* and dlq until stopped (SIGTERM/SIGINT stop it cleanly)."""
    settings = settings_from(
        bootstrap=bootstrap,
        topic_prefix=topic_prefix,
        app_id=app_id,
        data_dir=data_dir,
        partitions=partitions,
        replication_factor=replication_factor,
        table_standby_replicas=standby_replicas,
        batch_size=batch_size,
        price_bands=price_bands,
        max_value_bytes=max_value_bytes,
        window_specs=window_specs,
        grace_ms=grace_ms,
        detectors_enabled=detectors_enabled,
        stale_clock=stale_clock,
        instance_id=instance_id,
        session_timeout_ms=session_timeout_ms,
        commit_interval_ms=commit_interval_ms,
        state_cache_series=state_cache_series,
        state_cache_panes=state_cache_panes,
    )
    from streamer.runner import run_worker

    logging.getLogger("streamer").setLevel(loglevel.upper())
    run_worker(settings, loglevel=loglevel)
