"""The history sink: output topics into Hive-partitioned Parquet (``streamer sink parquet``).

``columns`` types the columns from the contracts, ``layout`` names the files (and so records progress),
``storage`` makes them durable, ``writer`` writes rolls and finds where to resume, and ``runner`` is the
consumer group around them.
"""

from __future__ import annotations

from streamer.sink.columns import SINK_TOPICS
from streamer.sink.runner import SinkOptions, SinkReport, run_sink

__all__ = ["SINK_TOPICS", "SinkOptions", "SinkReport", "run_sink"]
