"""End-to-end latency at a given load: the paced feed in, then the primary outputs read back.

The latency of one input is *output available* minus *input sent*:

- *sent* is the wall-clock time the harness stamped on the input when it sent it (its Kafka timestamp and
  the ``bench.sent_ms`` header, which every variant copies onto the outputs it derives from that input);
- *available* is the output's broker append time: the harness creates every primary output topic with
  ``message.timestamp.type=LogAppendTime``, so the broker stamps each output with the moment it wrote it,
  the moment a consumer could have it.

Both are this machine's clock when the broker is local (with ``--bootstrap`` elsewhere, clock skew between
the machines adds to every number). Because the broker stamps the outputs, they are read back only after
the feed ended: no consumer of the harness competes with the variant for CPU while it is measured.
Outputs without the header (bars, anything from the backlog) are not counted, nor those of inputs sent in
the phase's first fifth (at most its first second): that is connections and idle consumers waking up.

A p99 is made of episodes: a few hundred milliseconds in which nothing came out, then a catch-up. Every
counted output's (send time, latency, topic, partition) is kept, and :func:`write_samples` puts them in a
CSV beside the run's logs (``streamer bench --work-dir``), so an episode can be lined up with the worker's
event-loop stalls and the broker's log by the wall clock; :func:`episodes` finds them.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import TopicPartition

from streamer.benchmark.collector import collector_paused
from streamer.benchmark.loader import SENT_HEADER, feed_paced
from streamer.benchmark.stats import summarize_latencies
from streamer.benchmark.watch import unstarted_reader
from streamer.errors import BenchmarkError
from streamer.feeds.base import RawMessage
from streamer.settings import Settings

__all__ = [
    "Episode",
    "LatencyResult",
    "Sample",
    "episodes",
    "latency_of",
    "measure_latency",
    "read_samples",
    "warmup_ms",
    "write_samples",
]

_LOG_APPEND_TIME = 1  # aiokafka's timestamp_type for LogAppendTime
_POLL_S = 0.05


def latency_of(
    headers: Sequence[tuple[str, bytes]], timestamp_ms: int, timestamp_type: int
) -> tuple[int, int] | None:
    """(send time, append time minus send time) in ms of one output; None without a send stamp or an
    append time."""
    if timestamp_type != _LOG_APPEND_TIME:
        return None
    sent = next((value for name, value in headers if name == SENT_HEADER), None)
    if sent is None:
        return None
    sent_ms = int(sent)
    return sent_ms, timestamp_ms - sent_ms


def warmup_ms(inputs: int, rate_per_s: float) -> int:
    """The start of a phase whose outputs are fed but not counted (connections, a consumer's first fetch):
    a fifth of the phase, at most a second."""
    return int(min(1000.0, 0.2 * 1000.0 * inputs / rate_per_s))


class Sample(NamedTuple):
    """One counted output: when its input was sent (ms since the epoch), its latency, where it was written."""

    sent_ms: int
    latency_ms: int
    topic: str
    partition: int


class Episode(NamedTuple):
    """A stretch of sending time whose inputs came out late: from ``start_ms`` to ``end_ms`` (send times),
    ``inputs`` of them over ``slow_ms``, the worst ``worst_ms`` late."""

    start_ms: int
    end_ms: int
    inputs: int
    worst_ms: int


@dataclass(slots=True)
class LatencyResult:
    rate_per_s: float
    inputs: int
    feed_s: float
    drain_s: float = 0.0  # from the feed's end until every output was written: long means overloaded
    warmup_ms: int = 0
    outputs: int = 0  # stamped outputs read back, warm-up included
    samples: list[Sample] = field(default_factory=list)  # the counted outputs (warm-up left out)

    def as_dict(self) -> dict[str, Any]:
        summary = summarize_latencies([s.latency_ms for s in self.samples])
        return {
            "rate_per_s": round(self.rate_per_s, 1),
            "inputs": self.inputs,
            "feed_s": round(self.feed_s, 2),
            "achieved_rate_per_s": round(self.inputs / self.feed_s, 1) if self.feed_s > 0 else None,
            "drain_s": round(self.drain_s, 2),
            "warmup_ms": self.warmup_ms,
            "outputs": self.outputs,
            **({"count": 0} if summary is None else summary.as_dict()),
        }


async def measure_latency(
    settings: Settings,
    output_topics: Sequence[str],
    messages: Sequence[RawMessage],
    rate_per_s: float,
    timeout_s: float,
) -> LatencyResult:
    """Feed ``messages`` at ``rate_per_s``; once their outputs are written, read every stamped one back."""
    consumer = unstarted_reader(settings)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in output_topics for p in range(settings.partitions)]
        starts = await consumer.end_offsets(tps)
        counted_from_ms = int(time.time() * 1000) + warmup_ms(len(messages), rate_per_s)
        with collector_paused():  # a pause of the feed would count as the variant's latency
            feed_s = await feed_paced(settings, messages, rate_per_s)
        fed_at = time.monotonic()
        deadline = fed_at + timeout_s
        while True:
            ends = await consumer.end_offsets(tps)
            if sum(ends[tp] - starts[tp] for tp in tps) >= len(messages):
                break
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"the outputs of the latency phase were not all written in {timeout_s:.0f}s"
                )
            await asyncio.sleep(_POLL_S)
        result = LatencyResult(rate_per_s, len(messages), feed_s, time.monotonic() - fed_at)
        result.warmup_ms = warmup_ms(len(messages), rate_per_s)
        consumer.assign(tps)
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        for tp in remaining:
            consumer.seek(tp, starts[tp])
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=50_000)
            for tp, records in batch.items():
                for rec in records:
                    stamped = latency_of(rec.headers, rec.timestamp, rec.timestamp_type)
                    if stamped is not None:
                        result.outputs += 1
                        if stamped[0] >= counted_from_ms:
                            result.samples.append(Sample(stamped[0], stamped[1], tp.topic, tp.partition))
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return result
    finally:
        await consumer.stop()


_FIELDS = Sample._fields


def write_samples(path: Path, samples: Sequence[Sample]) -> None:
    """The samples as CSV, in send order."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(_FIELDS)
        writer.writerows(sorted(samples))


def read_samples(path: Path) -> list[Sample]:
    with path.open(newline="") as fh:
        rows = csv.DictReader(fh)
        if tuple(rows.fieldnames or ()) != _FIELDS:
            raise BenchmarkError(f"{path}: expected the columns {','.join(_FIELDS)}, got {rows.fieldnames}")
        return [
            Sample(int(r["sent_ms"]), int(r["latency_ms"]), r["topic"], int(r["partition"])) for r in rows
        ]


def episodes(samples: Sequence[Sample], slow_ms: int, gap_ms: int = 100) -> list[Episode]:
    """The stretches of send time in which inputs took over ``slow_ms``: slow inputs sent less than
    ``gap_ms`` apart belong to one episode. Worst first."""
    found: list[Episode] = []
    current: Episode | None = None
    for sample in sorted(samples):
        if sample.latency_ms <= slow_ms:
            continue
        if current is not None and sample.sent_ms - current.end_ms < gap_ms:
            worst = max(current.worst_ms, sample.latency_ms)
            current = current._replace(end_ms=sample.sent_ms, inputs=current.inputs + 1, worst_ms=worst)
            continue
        if current is not None:
            found.append(current)
        current = Episode(sample.sent_ms, sample.sent_ms, 1, sample.latency_ms)
    if current is not None:
        found.append(current)
    return sorted(found, key=lambda e: (-e.worst_ms, e.start_ms))
