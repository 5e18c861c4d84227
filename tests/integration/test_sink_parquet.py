"""``streamer sink parquet`` on the real broker, over what a real worker published for AEMO SA1 January 2009
(fed with ``streamer feed``):

- killed with SIGKILL mid-run, several times, and restarted: the files hold every (topic, partition,
  offset) of the topics exactly once, no temporary file is left, and the group's offsets are committed;
- a fresh batch run queried with DuckDB (``read_parquet(..., hive_partitioning = true)``): counts per
  topic, market and day, and the hourly bars of SA1, equal what the pipeline published.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.dataset as ds
import pytest
from aiokafka.structs import ConsumerRecord

from streamer.admin import create_topics
from streamer.dlqtool.reader import committed_offsets
from streamer.settings import load_settings
from streamer.sink.layout import parse_name
from tests.contracts import ContractChecker
from tests.integration.kafka_io import REPO, kill, read_all, read_outputs, start_worker
from tests.integration.test_windows_bars import expected_bars, sa1_messages

pytestmark = pytest.mark.integration

PARTITIONS = 2
SINK_TOPICS = ("enriched.prices", "enriched.load", "bars.prices", "bars.load", "anomalies", "late")
SA1_JANUARY = REPO / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
DATE_FIELD = {
    "enriched.prices": "interval_start_ms",
    "enriched.load": "interval_start_ms",
    "bars.prices": "window_start",
    "bars.load": "window_start",
    "anomalies": "event_time",
    "late": "event_time_ms",
}


class Published:
    """What the pipeline published to the topics the sink reads."""

    def __init__(self, prefix: str, records: list[ConsumerRecord]) -> None:
        self.prefix = prefix
        self.records = [r for r in records if r.topic.removeprefix(prefix) in SINK_TOPICS]

    def positions(self) -> set[tuple[str, int, int]]:
        return {(r.topic, r.partition, r.offset) for r in self.records}

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.records if r.topic == self.prefix + topic]


def _ms(value: Any) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000) if isinstance(value, str) else int(value)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


@pytest.fixture(scope="module")
async def published(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Published]:
    """A real worker over SA1 January 2009, fed with ``streamer feed``; every output it published."""
    bootstrap = kafka_broker.bootstrap
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await create_topics(
        load_settings({"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": PARTITIONS})
    )
    feed = [sys.executable, "-m", "streamer.cli", "feed", str(SA1_JANUARY), "--format", "aemo"]
    fed = await asyncio.to_thread(
        subprocess.run,
        [*feed, "--bootstrap", bootstrap, "--topic-prefix", prefix],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fed.returncode == 0, fed.stderr
    messages = sa1_messages("200901")
    bars = expected_bars(messages)
    worker = start_worker(bootstrap, prefix, tmp_path_factory.mktemp("worker") / "w1", "--partitions", "2")
    try:
        topics = [f"{prefix}bars.prices", f"{prefix}bars.load"]
        await read_all(
            bootstrap, topics, at_least=len(bars), partitions=PARTITIONS, timeout_s=240, workers=[worker]
        )
        await asyncio.sleep(3)
    finally:
        kill(worker, signal.SIGTERM)
    records = await read_outputs(bootstrap, prefix)
    ContractChecker(prefix).check_all(records)
    result = Published(prefix, records)
    assert len(result.values("enriched.prices")) == len(messages) // 2
    assert len(result.values("bars.prices")) + len(result.values("bars.load")) == len(bars)
    yield result


def sink_args(bootstrap: str, prefix: str, out: Path, group: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "streamer.cli", "sink", "parquet",
        "--bootstrap", bootstrap, "--topic-prefix", prefix, "--out", str(out), "--sink-group", group,
        "--topics", ",".join(SINK_TOPICS), *extra,
    ]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def rolls_on_disk(out: Path) -> int:
    """How many rolls have files on disk, from the file names alone."""
    if not out.exists():
        return 0
    rolls = set()
    for path in out.rglob("part-*.parquet"):
        roll = parse_name(path.name)
        assert roll is not None
        rolls.add((path.parts[-4], roll))
    return len(rolls)


def positions_in_files(out: Path) -> Counter[tuple[str, int, int]]:
    dataset = ds.dataset(out, format="parquet", partitioning="hive")
    seen: Counter[tuple[str, int, int]] = Counter()
    for fragment in dataset.get_fragments():
        topic = next(part for part in Path(fragment.path).parts if part.startswith("topic="))[6:]
        table = fragment.to_table(columns=["kafka_partition", "kafka_offset"])
        for partition, offset in zip(
            table.column("kafka_partition").to_pylist(), table.column("kafka_offset").to_pylist(), strict=True
        ):
            seen[(topic, partition, offset)] += 1
    return seen


async def assert_committed_to_the_end(bootstrap: str, group: str, published: Published) -> None:
    """The group's committed offsets are past every record the pipeline published to the sink's topics."""
    prefix = published.prefix
    for topic in SINK_TOPICS:
        ends: Counter[int] = Counter()
        for r in published.records:
            if r.topic == prefix + topic:
                ends[r.partition] = max(ends[r.partition], r.offset + 1)
        committed = await committed_offsets(bootstrap, group, prefix + topic, tuple(range(PARTITIONS)))
        assert all(committed[p] >= ends[p] for p in ends), (topic, committed, ends)


def run_sink_to_the_end(args: list[str]) -> dict[str, Any]:
    result = subprocess.run(
        [*args, "--exit-at-end", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = orjson.loads(result.stdout)
    return report


async def test_files_ahead_of_the_group_are_committed_without_new_records(
    bootstrap: str, published: Published, tmp_path: Path
) -> None:
    """What a kill between a roll's rename and its commit leaves: files that hold more than the group
    committed. A run with nothing new to read commits the files' end, so the group's lag is the truth."""
    prefix = published.prefix
    out = tmp_path / "history"
    first = await asyncio.to_thread(run_sink_to_the_end, sink_args(bootstrap, prefix, out, f"{prefix}sink-a"))
    assert first["rows"] == len(published.records)
    group = f"{prefix}sink-b"  # a group that never committed, over the same files
    second = await asyncio.to_thread(run_sink_to_the_end, sink_args(bootstrap, prefix, out, group))
    assert second["rows"] == 0
    await assert_committed_to_the_end(bootstrap, group, published)


async def test_sigkill_at_any_moment_loses_no_row_and_writes_none_twice(
    bootstrap: str, published: Published, tmp_path: Path
) -> None:
    prefix = published.prefix
    out = tmp_path / "history"
    group = f"{prefix}sink-kill"
    # Tiny rolls: thousands of files, so there is a lot of writing and renaming to interrupt.
    args = sink_args(bootstrap, prefix, out, group, "--roll-size-bytes", "4000", "--roll-age-ms", "20")
    rng = random.Random(20090129)
    total = len(published.records)
    kills_mid_run = 0
    for _ in range(5):
        before = rolls_on_disk(out)
        proc = start(args)
        deadline = time.monotonic() + 60
        # Kill after a random number of new rolls, at whatever point of writing or renaming it is then.
        wanted = before + rng.randint(1, 150)
        while rolls_on_disk(out) < wanted and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        positions = positions_in_files(out)
        assert max(positions.values()) == 1, "a row was written twice"
        if len(positions) < total:
            kills_mid_run += 1
    assert kills_mid_run >= 3, "the sink finished before it could be killed; give it more to do"
    report = await asyncio.to_thread(run_sink_to_the_end, args)
    positions = positions_in_files(out)
    duplicates = {p: n for p, n in positions.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} rows written twice, first {list(duplicates)[:3]}"
    expected = published.positions()
    missing = expected - set(positions)
    extra = set(positions) - expected
    assert not missing and not extra, f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    by_topic = Counter(topic for topic, _, _ in positions)
    assert by_topic == Counter(r.topic for r in published.records)
    await assert_committed_to_the_end(bootstrap, group, published)
    print(
        f"\nsink kill -9: {total} rows over {len(SINK_TOPICS)} topics, {kills_mid_run} SIGKILLs mid-run, "
        f"the last run wrote {report['rows']} rows and skipped {report['skipped']} already in files; "
        f"{len(positions)} rows on disk, each once; {len(list(out.rglob('*.parquet')))} files"
    )


async def test_duckdb_reads_what_the_pipeline_published(
    bootstrap: str, published: Published, tmp_path: Path
) -> None:
    prefix = published.prefix
    out = tmp_path / "history"
    result = await asyncio.to_thread(
        subprocess.run,
        sink_args(bootstrap, prefix, out, f"{prefix}sink-duckdb", "--exit-at-end", "--json"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["rows"] == len(published.records)

    db = duckdb.connect()
    files = f"{out}/*/*/*/*.parquet"
    got = {
        (topic.removeprefix(prefix), market, str(day)): n
        for topic, market, day, n in db.sql(
            f"SELECT topic, market, date, count(*) FROM read_parquet('{files}', hive_partitioning = true, "
            "union_by_name = true) GROUP BY ALL"
        ).fetchall()
    }
    expected: Counter[tuple[str, str, str]] = Counter()
    for topic in SINK_TOPICS:
        for record in published.values(topic):
            expected[(topic, record["key"].split(":")[0], _day(_ms(record[DATE_FIELD[topic]])))] += 1
    assert got == dict(expected)

    bars = db.sql(
        f"""
        SELECT epoch_ms(window_start), epoch_ms(window_end),
               open, high, low, close, mean, min, max, count, twap
        FROM read_parquet('{out}/topic={prefix}bars.prices/*/*/*.parquet', hive_partitioning = true)
        WHERE market = 'AEMO' AND node = 'SA1' AND "window" = '1h'
          AND window_start >= TIMESTAMPTZ '2009-01-01 00:00:00+10:00'
          AND window_start < TIMESTAMPTZ '2009-02-01 00:00:00+10:00'
        ORDER BY window_start
        """
    ).fetchall()
    published_bars = sorted(
        (
            _ms(b["window_start"]),
            _ms(b["window_end"]),
            *(b[f] for f in ("open", "high", "low", "close", "mean", "min", "max", "count", "twap")),
        )
        for b in published.values("bars.prices")
        if b["key"] == "AEMO:SA1" and b["window"] == "1h"
    )
    assert len(bars) > 700  # a closed bar for each hour of the month but the last few
    assert [tuple(row) for row in bars] == published_bars
    assert max(row[3] for row in bars) == pytest.approx(9999.92)  # the heatwave's cap-level price
    sizes = sum(p.stat().st_size for p in (out / f"topic={prefix}bars.prices").rglob("*.parquet"))
    sizes += sum(p.stat().st_size for p in (out / f"topic={prefix}bars.load").rglob("*.parquet"))
    print(
        f"\nsink + duckdb: {report['rows']} rows in {report['files']} files; {len(bars)} hourly SA1 bars of "
        f"January 2009 equal the published ones; bars on disk {sizes} bytes"
    )
