"""The workload, the variants' topics, the latency stamp and the RSS tenths: the harness's pure parts."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from pathlib import Path

import pytest

from streamer.benchmark.latency import latency_of, warmup_ms
from streamer.benchmark.loader import SENT_HEADER
from streamer.benchmark.soak import rss_by_tenth
from streamer.benchmark.variants import VARIANTS, variant
from streamer.benchmark.watch import MemorySample
from streamer.benchmark.workload import Workload
from streamer.errors import ConfigError
from streamer.settings import Settings
from streamer.topics import Kind


def test_the_same_workload_gives_the_same_bytes() -> None:
    a = Workload(nodes=40, zones=5, now_ms=1_700_000_000_000)
    b = Workload(nodes=40, zones=5, now_ms=1_700_000_000_000)
    assert list(a.messages(500)) == list(b.messages(500))


def test_a_market_of_nodes_and_zones() -> None:
    workload = Workload(nodes=200, zones=20, corrupt_rate=0.02, now_ms=1_700_000_000_000)
    assert workload.count_for_intervals(10) == 2200
    messages = list(workload.messages(2200))
    kinds = Counter(m.kind for m in messages)
    assert kinds[Kind.PRICES] > 1900 and kinds[Kind.LOAD] > 150
    assert len({m.key for m in messages}) >= 220
    assert workload.describe()["series"] == 222  # and the two gas hubs
    assert len(list(islice(workload.messages(10**9), 5))) == 5  # lazy


def test_a_workload_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Workload(nodes=0)
    with pytest.raises(ValueError):
        Workload(corrupt_rate=1.5)


def test_primary_outputs_are_stamped_by_the_broker(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="b.", partitions=3)
    streamer = variant("streamer-2")
    assert streamer.workers == 2
    assert streamer.output_topics(settings) == [
        "b.enriched.prices",
        "b.enriched.load",
        "b.enriched.gas",
        "b.dlq",
    ]
    plan = {name: (n, config) for name, n, config in streamer.topic_plan(settings)}
    assert plan["b.dlq"][1]["message.timestamp.type"] == "LogAppendTime"
    assert plan["b.enriched.load"][0] == 3
    assert "message.timestamp.type" not in plan["b.bars.prices"][1]
    assert "message.timestamp.type" not in plan["b.raw.prices"][1]
    passthrough = variant("passthrough")
    assert passthrough.output_topics(settings) == ["b.bench.out"]
    names = {name for name, _, _ in passthrough.topic_plan(settings)}
    assert names == {"b.raw.prices", "b.raw.load", "b.raw.gas", "b.bench.out"}
    six = variant("passthrough-x6")
    assert six.output_topics(settings) == ["b.bench.out"]  # the copies are not outputs: one per input is
    assert {name for name, _, _ in six.topic_plan(settings)} == names | {"b.bench.copies"}
    argv = six.children(settings, tmp_path)[0].argv
    assert argv[argv.index("--copies") + 1] == "6"
    assert [v.name for v in VARIANTS] == [
        "passthrough",
        "passthrough-x6",
        "faust-naive",
        "quix",
        "streamer-1",
        "streamer-2",
    ]
    with pytest.raises(ConfigError):
        variant("kafka-streams")


def test_latency_is_append_time_minus_the_send_stamp() -> None:
    headers = [("other", b"x"), (SENT_HEADER, b"1000")]
    assert latency_of(headers, 1042, 1) == (1000, 42)
    assert latency_of(headers, 1042, 0) is None  # a create time is not an append time
    assert latency_of([("other", b"x")], 1042, 1) is None


def test_rss_by_tenth_takes_the_last_sample_before_each_tenth() -> None:
    memory = [
        MemorySample(float(t), outputs, 1024 * (100 + t)) for t, outputs in enumerate(range(0, 1001, 100))
    ]
    rss = rss_by_tenth(memory, 1000)
    assert rss == [101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0, 109.0, 110.0]
    assert rss_by_tenth([], 1000) == [None] * 10


def test_the_first_fifth_of_a_latency_phase_is_a_warm_up_of_at_most_a_second() -> None:
    assert warmup_ms(1000, 1000.0) == 200
    assert warmup_ms(100_000, 5000.0) == 1000
