"""The real outputs of the pipeline's batch step over AEMO SA1 January 2009, and a view fed with them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from streamer.enrichment import parse_window_specs
from streamer.feeds import read_path
from streamer.processor import InMessage, OutMessage, Processor
from streamer.settings import Settings
from streamer.state import MemoryBackend, StateStore
from streamer.web.market import MarketView
from streamer.web.routing import apply_output, output_topics

SA1 = Path(__file__).resolve().parents[3] / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
NOW_MS = 4_000_000_000_000  # every 2009 row is in the past
SEEN_MS = 1_700_000_000_000
SETTINGS = Settings()


@cache
def sa1_outputs() -> tuple[OutMessage, ...]:
    """Every output of the month: enriched records, bars and anomalies."""
    backend = MemoryBackend()
    proc = Processor(
        topics=SETTINGS.topics,
        policy=SETTINGS.policy,
        clock_ms=lambda: NOW_MS,
        store=StateStore(lambda _: backend),
        window_specs=parse_window_specs(SETTINGS.window_specs),
        grace_ms=SETTINGS.grace_ms,
    )
    messages = list(read_path(SA1, "aemo"))
    batch = [
        InMessage(f"raw.{m.kind.value}", 0, i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(messages)
    ]
    return tuple(proc.process(batch).outputs)


def feed(view: MarketView, outputs: Iterable[OutMessage]) -> None:
    routes = output_topics(SETTINGS.topics)
    for out in outputs:
        route = routes.get(out.topic)
        if route is not None:
            apply_output(view, route, out.value, out.headers, out.timestamp_ms or 0, SEEN_MS)
