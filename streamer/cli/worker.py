"""``streamer worker``: run one pipeline worker. Start more replicas to scale out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from streamer.cli.common import bootstrap_option, option, prefix_option, security_options, settings_from

__all__ = ["worker"]


@click.command()
@bootstrap_option
@prefix_option
@security_options
@option("--app-id", help="Consumer group and table namespace [default streamer].")
@option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="RocksDB table state of this worker [default var/worker]; one per replica.",
)
@option("--partitions", type=click.IntRange(1), help="Partitions of raw topics [default 4].")
@option("--replication-factor", type=click.IntRange(1), help="Of the topics Faust creates [default 1].")
@option(
    "--standby-replicas",
    "table_standby_replicas",
    type=click.IntRange(0),
    help="Warm copies of each table partition on other replicas, for fast fail-over [default 0].",
)
@option(
    "--batch-size",
    type=click.IntRange(1),
    help="Events processed per batch at most [default 200]; a crash publishes at most one batch twice.",
)
@option(
    "--bars-per-batch",
    type=click.IntRange(0),
    help="Bars of closed windows computed per batch at least; the rest in the next batches, so one that "
    "closes every series' windows does not hold up the records behind it (0: all at once; exactly once: "
    "always all) [default 250].",
)
@option("--producer-linger-ms", type=click.IntRange(0), help="Producer linger [default 10].")
@option(
    "--price-bands",
    help='Band overrides, "MARKET=FLOOR:CAP,..." e.g. "AEMO=-1000:17500".',
)
@option("--max-value-bytes", type=click.IntRange(1), help="Reject larger values [default 65536].")
@option(
    "--max-future-ms",
    type=click.IntRange(0),
    help="Reject event times further ahead of now [default 172800000, 2 days].",
)
@option(
    "--windows",
    "window_specs",
    help='Event-time windows, comma-separated: tumbling "5m", hopping "1h/5m" [default 5m,1h,1h/5m].',
)
@option("--grace-ms", type=click.IntRange(0), help="Window grace [default 600000].")
@option(
    "--detectors/--no-detectors",
    "detectors_enabled",
    default=None,
    help="Run the anomaly detectors [default on].",
)
@option(
    "--stale-clock",
    type=click.Choice(["event", "wall"]),
    help="Clock of the stale-feed timer: partition watermark (replays) or wall clock (live) [default event].",
)
@option(
    "--stale-tick-ms", type=click.IntRange(1), help="How often the stale-feed timer runs [default 10000]."
)
@option(
    "--rocksdb-block-cache-bytes",
    type=click.IntRange(0),
    help="RocksDB block cache shared by every table partition of the worker [default 33554432].",
)
@option(
    "--rocksdb-write-buffer-bytes",
    type=click.IntRange(256 * 1024),
    help="RocksDB memtables of every table partition of the worker together [default 33554432].",
)
@option(
    "--changelog-segment-bytes",
    type=click.IntRange(1024 * 1024),
    help="Segment size of the state changelog topic when the worker creates it; Kafka compacts closed "
    "segments only, so smaller ones keep a restore short [default 16777216].",
)
@option(
    "--fetch-buffer-bytes",
    type=click.IntRange(1024 * 1024),
    help="Raw records fetched ahead of processing, over all the worker's raw partitions together "
    "(1-8 MiB per partition) [default 100663296].",
)
@option(
    "--fetch-max-wait-ms",
    type=click.IntRange(1, 1500),
    help="How long the broker may hold a fetch that finds no new records [default 20].",
)
@option(
    "--instance-id",
    help="Static group membership id of this replica, so a restart takes its partitions back at once "
    '(a StatefulSet pod name); "auto" derives one from the host and data dir, "" joins as a dynamic '
    "member [default auto].",
)
@option(
    "--session-timeout-ms",
    type=click.IntRange(6_000, 90_000),
    help="How long the group waits for a silent (killed) member before moving its partitions "
    "[default 30000].",
)
@option(
    "--heartbeat-interval-ms",
    type=click.IntRange(1),
    help="Group heartbeats; at most a third of the session timeout [default 3000].",
)
@option(
    "--processing-guarantee",
    type=click.Choice(["at_least_once", "exactly_once"]),
    help="at_least_once: a crash re-publishes at most the batch in flight; exactly_once: each batch's "
    "outputs, state and offsets in one Kafka transaction per partition, read them read_committed "
    "[default at_least_once].",
)
@option(
    "--commit-interval-ms",
    type=click.IntRange(100),
    help="How often processed offsets are committed; bounds what a crash re-publishes [default 1000].",
)
@option(
    "--state-cache-series",
    type=click.IntRange(1),
    help="Series kept in memory in front of RocksDB (LRU) [default 5000].",
)
@option(
    "--state-cache-panes",
    type=click.IntRange(1),
    help="Window panes kept in memory in front of RocksDB [default 100000].",
)
@option("--web-host", help="Address of the worker's HTTP port [default 127.0.0.1; 0.0.0.0 in a pod].")
@option(
    "--dashboard/--no-dashboard",
    "serve_dashboard",
    default=None,
    help="Also serve the live market page on the web port (it reads the output topics) [default off].",
)
@option(
    "--stall-timeout-ms",
    type=click.IntRange(1_000),
    help="/healthz fails when a partition has had records waiting but no progress this long, or sends have "
    "failed this long [default 60000].",
)
@option(
    "--loop-stall-ms",
    type=click.IntRange(0),
    help="Log where the event loop is held when it has not run this long, and count it in "
    "streamer_event_loop_stalls_total; 0 turns this off [default 250].",
)
@option("--web-port", type=click.IntRange(0, 65535), help="The worker's HTTP port [default 6066].")
@option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Log level of the worker.",
)
@option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line (time, level, logger, pid, message, and topic/partition/offset on "
    "per-record warnings), for log collectors.",
)
def worker(loglevel: str, log_format: str, security: dict[str, Any], **values: Any) -> int:
    """Consume raw.*, publish enriched.* and dlq until stopped (SIGTERM/SIGINT stop it cleanly)."""
    settings = settings_from(**security, **values)
    from streamer.runner import run_worker

    logging.getLogger("streamer").setLevel(loglevel.upper())
    return run_worker(settings, loglevel=loglevel, log_format=log_format)  # a crashed worker exits non-zero
