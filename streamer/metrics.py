"""Prometheus metrics, created on a registry that is passed in (unit tests use a fresh one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["PipelineMetrics"]


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    messages: Counter
    rejected: Counter
    batch_seconds: Histogram
    end_to_end_seconds: Histogram

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
        )

    def observe_outcomes(self, topics_outcomes: Sequence[tuple[str, str]]) -> None:
        for topic, outcome in topics_outcomes:
            if outcome == "enriched":
                self.messages.labels(topic, "enriched").inc()
            else:
                self.messages.labels(topic, "dead_lettered").inc()
                self.rejected.labels(outcome).inc()
