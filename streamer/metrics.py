"""Prometheus metrics, created on a registry that is passed in (unit tests use a fresh one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamer.processor import OutMessage

__all__ = ["PipelineMetrics"]


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    messages: Counter
    rejected: Counter
    batch_seconds: Histogram
    end_to_end_seconds: Histogram
    bars: Counter
    late: Counter
    anomalies: Counter
    open_windows: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PipelineMetrics:
        return cls(
            messages=Counter(
                "streamer_messages_total",
                "Raw messages processed, by input topic and outcome (enriched or dead_lettered).",
                ["topic", "outcome"],
                registry=registry,
            ),
            rejected=Counter(
                "streamer_rejected_total",
                "Messages sent to the DLQ, by reason code.",
                ["reason"],
                registry=registry,
            ),
            batch_seconds=Histogram(
                "streamer_batch_seconds",
                "Time to process one batch and have every output acknowledged by the broker.",
                registry=registry,
            ),
            end_to_end_seconds=Histogram(
                "streamer_end_to_end_seconds",
                "From the raw record's broker timestamp to the broker's ack of its output.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                registry=registry,
            ),
            bars=Counter(
                "streamer_bars_total",
                "Closed-window bars emitted, by output topic.",
                ["topic"],
                registry=registry,
            ),
            late=Counter(
                "streamer_late_total",
                "Valid events that arrived after a window they belong to had closed, by output topic.",
                ["topic"],
                registry=registry,
            ),
            anomalies=Counter(
                "streamer_anomalies_total",
                "Anomalies detected, by type and severity.",
                ["type", "severity"],
                registry=registry,
            ),
            open_windows=Gauge(
                "streamer_open_windows",
                "Open (key, window) aggregates held by this worker.",
                registry=registry,
            ),
        )

    def observe_outcomes(self, topics_outcomes: Sequence[tuple[str, str]]) -> None:
        for topic, outcome in topics_outcomes:
            if outcome == "enriched":
                self.messages.labels(topic, "enriched").inc()
            else:
                self.messages.labels(topic, "dead_lettered").inc()
                self.rejected.labels(outcome).inc()

    def observe_derived(self, outputs: Sequence[OutMessage]) -> None:
        """Count bars, late contributions and anomalies (type and severity are bounded enums)."""
        for out in outputs:
            if out.outcome == "bar":
                self.bars.labels(out.topic).inc()
            elif out.outcome == "late":
                self.late.labels(out.topic).inc()
            elif out.outcome == "anomaly" and out.value is not None:
                record = orjson.loads(out.value)
                self.anomalies.labels(record["type"], record["severity"]).inc()
