"""The plain Faust way: one agent, one event at a time, a table write per event, one send per event.

Every event of the raw topics increments its key's count in a RocksDB-backed table (so a changelog record
per event, as any per-event Faust table write) and is sent on to ``<prefix>bench.out`` with its key, value
and headers. No validation, no windows: what the Faust runtime costs per event when used as documented.

    python -m streamer.benchmark.faust_naive --bootstrap HOST:PORT --prefix P --partitions N --data-dir D
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from streamer.benchmark.childcli import parse_child_args
from streamer.benchmark.passthrough import OUTPUT_TOPIC
from streamer.kafka_security import faust_options
from streamer.sender import MAX_REQUEST_BYTES
from streamer.topics import Kind, TopicNames

__all__ = ["main"]

_LINGER_MS = 10


def main(argv: Sequence[str]) -> None:
    import faust

    args, security = parse_child_args(
        "python -m streamer.benchmark.faust_naive", argv, ["--data-dir", "--app-id"]
    )
    names = TopicNames(args.prefix)
    app = faust.App(
        args.app_id,
        broker=[f"kafka://{args.bootstrap}"],
        store="rocksdb://",
        datadir=args.data_dir,
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=_LINGER_MS,
        # Corrupt inputs include a message of about 1 MB (too_large): the worker's limit, so it passes.
        producer_max_request_size=MAX_REQUEST_BYTES,
        consumer_max_fetch_size=MAX_REQUEST_BYTES,
        web_enabled=False,
        **faust_options(security),
    )
    source = app.topic(
        *[names.raw(kind) for kind in Kind], key_serializer="raw", value_serializer="raw", allow_empty=True
    )
    sink = app.topic(f"{args.prefix}{OUTPUT_TOPIC}", key_serializer="raw", value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=args.partitions)

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            counts[event.key] += 1
            await sink.send(key=event.key, value=event.value, headers=event.headers)

    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
