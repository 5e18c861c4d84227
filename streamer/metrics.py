"""The worker's Prometheus metrics, created on a registry that is passed in (unit tests use a fresh one).

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` in base units) and every label set is
bounded: topic, partition, reason, anomaly type and severity, output kind; never a series key. These names
are a contract: ``deploy/prometheus/alerts.yml`` and ``deploy/grafana/`` use them.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamer.processor import BatchResult, InMessage, OutMessage

__all__ = ["LATENCY_BUCKETS_S", "LOOP_LAG_BUCKETS_S", "PipelineMetrics"]

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LOOP_LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_DERIVED_KIND = {"bar": "bar", "late": "late", "anomaly": "anomaly"}


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    consumed: Counter
    produced: Counter
    rejected: Counter
    anomalies: Counter
    late: Counter
    rebalances: Counter
    send_retries: Counter
    progress: Counter
    end_to_end: Histogram
    batch_seconds: Histogram
    lag_records: Gauge
    lag_seconds: Gauge
    assigned: Gauge
    open_windows: Gauge
    bars_pending: Gauge
    state_keys: Gauge
    recovery_remaining: Gauge
    stalled: Gauge
    loop_lag: Histogram
    loop_stalls: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PipelineMetrics:
        tp = ["topic", "partition"]
        return cls(
            consumed=Counter(
                "streamer_records_consumed_total",
                "Raw records processed, by raw topic.",
                ["topic"],
                registry=registry,
            ),
            produced=Counter(
                "streamer_records_produced_total",
                "Records published and acknowledged, by output topic.",
                ["topic"],
                registry=registry,
            ),
            rejected=Counter(
                "streamer_rejected_total",
                "Records sent to the DLQ, by reason code.",
                ["reason"],
                registry=registry,
            ),
            anomalies=Counter(
                "streamer_anomalies_total",
                "Anomalies detected, by type and severity.",
                ["type", "severity"],
                registry=registry,
            ),
            late=Counter(
                "streamer_late_total",
                "Contributions of valid events that missed a closed window (window_closed) or revised an "
                "interval already counted (revision), by reason.",
                ["reason"],
                registry=registry,
            ),
            rebalances=Counter(
                "streamer_rebalances_total", "Partition assignments received.", registry=registry
            ),
            send_retries=Counter(
                "streamer_send_retries_total", "Record batches sent again after a failure.", registry=registry
            ),
            progress=Counter(
                "streamer_partition_progress_total",
                "Raw records processed, by raw topic-partition (flat while the partition is stalled).",
                tp,
                registry=registry,
            ),
            end_to_end=Histogram(
                "streamer_end_to_end_seconds",
                "From the input record's Kafka timestamp to the broker's acknowledgement of an output, by "
                "kind of output (enriched, dlq, bar, anomaly, late; bars: a sample per batch and partition).",
                ["output"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            loop_lag=Histogram(
                "streamer_event_loop_lag_seconds",
                "How much later than asked the worker's event loop woke a 50 ms timer: the time every "
                "waiting record lost to whatever held the loop (see streamer/loop_watch.py).",
                buckets=LOOP_LAG_BUCKETS_S,
                registry=registry,
            ),
            loop_stalls=Counter(
                "streamer_event_loop_stalls_total",
                "Times the event loop did not run for --loop-stall-ms (each logs the stack it was held at).",
                registry=registry,
            ),
            batch_seconds=Histogram(
                "streamer_batch_seconds",
                "Time to process one batch and publish its outputs, with the wait for its state to be "
                "persisted (or, when batches overlap, the previous batch's).",
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            lag_records=Gauge(
                "streamer_consumer_lag_records",
                "Records in the partition not yet processed (high watermark minus next offset to process).",
                tp,
                registry=registry,
            ),
            lag_seconds=Gauge(
                "streamer_consumer_lag_seconds",
                "Age of the oldest unprocessed record, from its Kafka timestamp (0 when caught up).",
                tp,
                registry=registry,
            ),
            assigned=Gauge(
                "streamer_assigned_partitions",
                "Raw topic-partitions assigned to this worker.",
                registry=registry,
            ),
            open_windows=Gauge(
                "streamer_open_windows",
                "(series, window) pairs with data that have not closed.",
                registry=registry,
            ),
            bars_pending=Gauge(
                "streamer_bars_pending",
                "Bars of closed windows still to be computed and sent (--bars-per-batch spreads them).",
                registry=registry,
            ),
            state_keys=Gauge(
                "streamer_state_keys", "Entries in the state store (RocksDB's estimate).", registry=registry
            ),
            recovery_remaining=Gauge(
                "streamer_recovery_remaining_records",
                "Changelog records still to restore before the assigned partitions are ready.",
                registry=registry,
            ),
            stalled=Gauge(
                "streamer_partition_stalled",
                "1 while records wait in the partition and none was processed for the stall timeout.",
                tp,
                registry=registry,
            ),
        )

    def observe_batch(self, messages: Sequence[InMessage], result: BatchResult, acked_s: float) -> None:
        """Count one delivered batch: inputs, outputs by topic and kind, rejects, anomalies, latencies."""
        consumed = Tally(msg.topic for msg in messages)
        for topic, n in consumed.items():
            self.consumed.labels(topic).inc(n)
        for (topic, partition), n in Tally((msg.topic, msg.partition) for msg in messages).items():
            self.progress.labels(topic, str(partition)).inc(n)
        self.observe_outputs(result.outputs, acked_s)

    def observe_outputs(self, outputs: Iterable[OutMessage], acked_s: float) -> None:
        produced: Tally[str] = Tally()
        rejected: Tally[str] = Tally()
        late: Tally[str] = Tally()
        anomalies: Tally[tuple[str, str]] = Tally()
        latency = {
            kind: self.end_to_end.labels(kind) for kind in ("enriched", "dlq", "bar", "anomaly", "late")
        }
        bar_causes: set[tuple[int, int]] = (
            set()
        )  # a batch's bars of a partition share their cause: one sample
        for out in outputs:
            produced[out.topic] += 1
            kind = _DERIVED_KIND.get(out.outcome)
            if kind is None:  # a primary output
                if out.outcome == "enriched":
                    kind = "enriched"
                else:
                    kind = "dlq"
                    rejected[out.outcome] += 1
            elif kind == "anomaly" and out.value is not None:
                record = orjson.loads(out.value)
                anomalies[(record["type"], record["severity"])] += 1
            elif kind == "late" and out.value is not None:
                late[orjson.loads(out.value)["reason"]] += 1
            if out.cause_ms is None:
                continue
            if kind == "bar":
                if (out.source_partition, out.cause_ms) in bar_causes:
                    continue
                bar_causes.add((out.source_partition, out.cause_ms))
            latency[kind].observe(max(0.0, acked_s - out.cause_ms / 1000))
        for topic, n in produced.items():
            self.produced.labels(topic).inc(n)
        for reason, n in rejected.items():
            self.rejected.labels(reason).inc(n)
        for reason, n in late.items():
            self.late.labels(reason).inc(n)
        for (type_, severity), n in anomalies.items():
            self.anomalies.labels(type_, severity).inc(n)

    def set_partitions(
        self,
        lag_records: Mapping[tuple[str, int], int],
        lag_seconds: Mapping[tuple[str, int], float],
        stalled: Iterable[tuple[str, int]],
    ) -> None:
        """Per assigned raw partition: lag and stall state (series of revoked partitions are removed)."""
        stalled = set(stalled)
        for gauge in (self.lag_records, self.lag_seconds, self.stalled):
            gauge.clear()
        for (topic, partition), lag in lag_records.items():
            labels = (topic, str(partition))
            self.lag_records.labels(*labels).set(lag)
            self.lag_seconds.labels(*labels).set(lag_seconds.get((topic, partition), 0.0))
            self.stalled.labels(*labels).set(1 if (topic, partition) in stalled else 0)
        self.assigned.set(len(lag_records))
