"""Which output topic feeds which part of the dashboard's view. No I/O."""

from __future__ import annotations

from collections.abc import Iterable

from streamer.dlq import H_REASON, header_value
from streamer.topics import Kind, TopicNames
from streamer.web.market import MarketView

__all__ = ["Route", "apply_output", "output_topics"]

Route = tuple[str, Kind | None]  # (output kind: enriched, bar, anomaly or dlq; record kind where it has one)


def output_topics(names: TopicNames) -> dict[str, Route]:
    """Every topic the dashboard reads (``late`` and ``dlq.audit`` are not shown), with what it holds."""
    routes: dict[str, Route] = {names.enriched(k): ("enriched", k) for k in Kind}
    routes |= {names.bars(k): ("bar", k) for k in (Kind.PRICES, Kind.LOAD)}
    routes[names.anomalies] = ("anomaly", None)
    routes[names.dlq] = ("dlq", None)
    return routes


def apply_output(
    view: MarketView,
    route: Route,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]],
    timestamp_ms: int,
    seen_ms: int,
) -> None:
    """Apply one output record to the view. A dead letter is counted by its ``streamer.reason`` header
    (its value is the original message, which the dashboard never parses)."""
    output, kind = route
    if output == "enriched" and kind is not None:
        view.add_enriched(kind, value, timestamp_ms, seen_ms)
    elif output == "bar" and kind is not None:
        view.add_bar(kind, value)
    elif output == "anomaly":
        view.add_anomaly(value, timestamp_ms)
    elif output == "dlq":
        raw = header_value(headers, H_REASON)
        view.add_dead_letter(raw.decode("utf-8", "replace") if raw else "unknown", timestamp_ms)
