"""The history sink without Kafka: column types from the contracts, file names, durable rolls, and where a
partition resumes after a crash at each point of writing a roll."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamer.processor import OutMessage
from streamer.schemas.catalog import load_schema
from streamer.sink.columns import SINK_TOPICS, TIMESTAMP, table_spec
from streamer.sink.layout import Roll, hive_dir, parse_name, parse_temp_name, temp_name
from streamer.sink.storage import Storage
from streamer.sink.writer import Pending, RollWriter
from tests.unit.test_contracts import real_inputs, run


@pytest.fixture(scope="module")
def outputs() -> dict[str, list[OutMessage]]:
    by_topic: dict[str, list[OutMessage]] = {}
    for out in run(real_inputs()):
        by_topic.setdefault(out.topic, []).append(out)
    return by_topic


def pending(topic: str, outs: list[OutMessage], first_offset: int = 0) -> Pending:
    roll = Pending(topic, 3, 0)
    for i, out in enumerate(outs):
        roll.add(orjson.loads(out.value or b""), first_offset + i, out.timestamp_ms, len(out.value or b""))
    return roll


def test_file_names_carry_the_roll_and_temporaries_are_hidden() -> None:
    roll = Roll(partition=3, first=17, last=4242, files=2)
    assert parse_name(roll.name) == roll
    assert roll.name == "part-00003-00000000000000000017-00000000000000004242-0002.parquet"
    temp = temp_name(roll.name, "ab12")
    assert temp.startswith(".") and temp.endswith(".tmp") and parse_temp_name(temp) == 3
    assert parse_name(temp) is None and parse_temp_name(roll.name) is None
    assert parse_name("part-3-17-4242-2.parquet") is None
    assert hive_dir("s3://b/h/", "bars.prices", "A/B", "2009-01-29") == (
        "s3://b/h/topic=bars.prices/market=A%2FB/date=2009-01-29"
    )


@pytest.mark.parametrize("topic", list(SINK_TOPICS))
def test_columns_are_typed_from_the_contract(topic: str, outputs: dict[str, list[OutMessage]]) -> None:
    spec = table_spec(topic)
    contract = load_schema(topic)["properties"]
    names = spec.schema.names
    assert "market" not in names  # a Hive partition, not a column
    assert set(names) == (set(contract) - {"market"}) | {
        "extra_json",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
    }
    for name, prop in contract.items():
        if name == "market":
            continue
        arrow_type = spec.schema.field(name).type
        if prop.get("format") in ("unix-time-ms", "date-time"):
            assert arrow_type == TIMESTAMP, name
        elif prop.get("type") == "number":
            assert arrow_type == pa.float64(), name
    records = [orjson.loads(o.value or b"") for o in outputs[topic]]
    table = spec.table(records, [(0, i, o.timestamp_ms) for i, o in enumerate(outputs[topic])])
    assert table.num_rows == len(records)
    for record, row in zip(records, table.to_pylist(), strict=True):
        for name, value in record.items():
            if name not in names or value is None:
                continue
            arrow_type = spec.schema.field(name).type
            got = row[name]
            if arrow_type == TIMESTAMP:
                ms = (
                    value if isinstance(value, int) else int(datetime.fromisoformat(value).timestamp() * 1000)
                )
                assert int(got.timestamp() * 1000) == ms, name
            elif arrow_type == pa.date32():
                assert got.isoformat() == value, name
            elif isinstance(value, dict | list) and arrow_type == pa.string():
                assert orjson.loads(got) == value, name  # no fixed shape: kept as JSON
            elif not pa.types.is_nested(arrow_type):
                assert got == value, name
            elif name == "origin":
                assert got == value


def test_a_field_the_contract_does_not_name_is_kept_in_extra_json(
    outputs: dict[str, list[OutMessage]],
) -> None:
    nyiso = [o for o in outputs["enriched.prices"] if b'"ptid"' in (o.value or b"")]
    assert nyiso
    table = table_spec("enriched.prices").table(
        [orjson.loads(o.value or b"") for o in nyiso], [(0, i, None) for i in range(len(nyiso))]
    )
    assert all(orjson.loads(e)["ptid"] for e in table.column("extra_json").to_pylist())


def test_a_roll_is_one_zstd_file_per_market_and_day(
    tmp_path: Path, outputs: dict[str, list[OutMessage]]
) -> None:
    writer = RollWriter(Storage.from_uri(str(tmp_path)), {"p.bars.prices": "bars.prices"})
    bars = outputs["bars.prices"][:3000]
    written = writer.write(pending("p.bars.prices", bars, first_offset=100))
    files = sorted(tmp_path.rglob("*.parquet"))
    days = {orjson.loads(o.value or b"")["window_start"][:10] for o in bars}
    assert written.roll == Roll(3, 100, 100 + len(bars) - 1, len(files))
    assert len(files) >= len(days) - 1  # UTC days (the series is UTC+10)
    assert {f.parent.parent.name for f in files} == {"market=AEMO"}
    assert sum(pq.read_metadata(f).num_rows for f in files) == len(bars)
    meta = pq.read_metadata(files[0])
    assert meta.row_group(0).column(0).compression == "ZSTD"
    source = orjson.loads(meta.metadata[b"streamer.source"])
    assert source == {"topic": "p.bars.prices", "partition": 3, "first_offset": 100, "last_offset": 3099,
                      "files": len(files)}  # fmt: skip
    assert writer.resume("p.bars.prices", [3, 4]) == {3: 3100, 4: None}


def _crash_mid_roll(tmp_path: Path, outs: list[OutMessage], renamed: int) -> RollWriter:
    """A roll whose files were all written as temporaries and ``renamed`` of them renamed: a SIGKILL."""
    storage = Storage.from_uri(str(tmp_path))
    writer = RollWriter(storage, {"t": "bars.load"})
    publish = storage.publish
    calls = {"n": 0}

    def crashing_publish(temp: str, final: str) -> None:
        if calls["n"] == renamed:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        publish(temp, final)

    storage.publish = crashing_publish  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        writer.write(pending("t", outs, first_offset=200))
    return RollWriter(Storage.from_uri(str(tmp_path)), {"t": "bars.load"})


@pytest.mark.parametrize("renamed", [0, 1, 2])
def test_a_roll_interrupted_at_any_rename_is_cleaned_up_and_written_again(
    tmp_path: Path, outputs: dict[str, list[OutMessage]], renamed: int
) -> None:
    first = outputs["bars.load"][:200]
    RollWriter(Storage.from_uri(str(tmp_path)), {"t": "bars.load"}).write(pending("t", first))
    complete = {parse_name(p.name) for p in tmp_path.rglob("*.parquet")}
    second = outputs["bars.load"][500:2500]
    restarted = _crash_mid_roll(tmp_path, second, renamed)
    assert any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
    assert restarted.resume("t", [3]) == {3: 200}  # after the complete roll only
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and parse_name(p.name) is None]
    assert {parse_name(p.name) for p in tmp_path.rglob("*.parquet")} == complete
    restarted.write(pending("t", second, first_offset=200))
    offsets = [o for f in tmp_path.rglob("*.parquet") for o in pq.read_table(f)["kafka_offset"].to_pylist()]
    assert sorted(offsets) == list(range(200 + len(second)))


def test_storage_writes_durably_and_reads_local_or_url_paths(tmp_path: Path) -> None:
    relative = Storage.from_uri("var/history")
    assert relative.local and relative.base == os.path.abspath("var/history")
    url = Storage.from_uri(f"file://{tmp_path}")
    url.make_dirs(f"{tmp_path}/a/b")
    url.write_temp(f"{tmp_path}/a/b/.x.tmp", b"data")
    url.publish(f"{tmp_path}/a/b/.x.tmp", f"{tmp_path}/a/b/x")
    assert [(f.name, f.size_bytes) for f in url.files(str(tmp_path))] == [("x", 4)]
    assert url.files(f"{tmp_path}/missing") == []
    with pytest.raises(ValueError, match="unsupported output"):
        Storage.from_uri("nosuch://bucket/x")
