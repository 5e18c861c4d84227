"""The list of verbs. Each verb lives in its own module under ``streamer/cli/``."""

from __future__ import annotations

import click

__all__ = ["all_commands"]


def all_commands() -> list[click.Command]:
    from streamer.cli.bench import bench
    from streamer.cli.dashboard import dashboard
    from streamer.cli.demo import demo
    from streamer.cli.dlq import dlq
    from streamer.cli.evaluate import evaluate
    from streamer.cli.feed import feed, simulate
    from streamer.cli.kafka import kafka
    from streamer.cli.schemas import schemas
    from streamer.cli.sink import sink
    from streamer.cli.topics import topics
    from streamer.cli.worker import worker

    return [demo, dashboard, worker, kafka, topics, feed, simulate, dlq, evaluate, bench, schemas, sink]
