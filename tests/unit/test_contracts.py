"""The output contracts and the code that writes the records cannot drift apart.

The real processor runs over real data (AEMO SA1 prices and load, NYISO prices with components, Henry Hub
gas, plus revisions, late events, stale series and corrupt messages) and over hypothesis-generated valid
inputs; every record it publishes is validated against its topic's published schema, strictly (no field
the schema does not name), and every field a schema names must be emitted somewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.dlq import H_REPLAY_COUNT, H_REPLAY_ID
from streamer.dlqtool.audit import AuditEntry
from streamer.dlqtool.plan import replay_headers
from streamer.enrichment import parse_window_specs
from streamer.feeds import read_path
from streamer.feeds.base import RawMessage
from streamer.processor import InMessage, OutMessage, Processor
from streamer.schemas.catalog import SCHEMA_FILE_BY_TOPIC, generated_files, load_schema
from streamer.schemas.version import SCHEMA_VERSION_HEADER, VERSION_HEADER
from streamer.settings import Settings
from streamer.state import MemoryBackend, StateStore
from streamer.topics import Kind, TopicNames
from tests.contracts import ContractChecker, declared_paths, undeclared

DATA = Path(__file__).resolve().parents[2] / "data"
NOW_MS = 4_000_000_000_000  # 2096: every row of the data files is in the past
SETTINGS = Settings()
SCHEMA_DIR = files("streamer.schemas")
PASSTHROUGH = {"ptid"}  # the NYISO converter sends the node's PTID, which the contract does not name


def run(messages: Sequence[InMessage], batch: int = 400, **kwargs: Any) -> list[OutMessage]:
    """Every record the processor publishes for ``messages``, persisting state after each batch."""
    backends: dict[int, MemoryBackend] = {}
    processor = Processor(
        topics=SETTINGS.topics,
        policy=SETTINGS.policy,
        clock_ms=lambda: NOW_MS,
        store=StateStore(lambda p: backends.setdefault(p, MemoryBackend()), 10_000, 100_000),
        window_specs=parse_window_specs(SETTINGS.window_specs),
        grace_ms=SETTINGS.grace_ms,
        **kwargs,
    )
    out: list[OutMessage] = []
    for i in range(0, len(messages), batch):
        out.extend(processor.process(messages[i : i + batch]).outputs)
        for partition, changes in processor.take_changes().items():
            backends.setdefault(partition, MemoryBackend()).apply(changes)
        processor.persisted()
    return out


def as_inputs(messages: Iterable[RawMessage], headers: Sequence[tuple[str, bytes]] = ()) -> list[InMessage]:
    return [
        InMessage(f"raw.{m.kind.value}", 0, i, m.key, m.value, list(headers), m.timestamp_ms)
        for i, m in enumerate(messages)
    ]


def real_inputs() -> list[InMessage]:
    """Real rows, then what makes every kind of output: revisions, late events, a stale series, rejects."""
    sa1 = list(read_path(DATA / "aemo_sa1" / "DATA200901_SA1.csv", "aemo"))
    nyiso = list(read_path(DATA / "pyiso" / "nyiso_lmp.csv", "nyiso"))[:400]
    gas = list(read_path(DATA / "eia_henry_hub", "eia"))[:300]
    first = orjson.loads(sa1[0].value or b"")
    revision = dict(orjson.loads(sa1[-4].value or b""), version=2, lmp=55.5)
    messages = [*sa1, *gas]
    inputs = as_inputs(messages, [("trace-id", b"t-1")])
    n = len(inputs)
    extra = [
        (Kind.PRICES, orjson.dumps(revision)),  # a revision: late, reason revision
        (Kind.PRICES, orjson.dumps(first)),  # a duplicate: DLQ
        (Kind.PRICES, orjson.dumps(dict(first, version=3))),  # a revision of a closed window: window_closed
        (Kind.PRICES, orjson.dumps(dict(first, node="SA2", version=1))),  # a new series, late at once
        (Kind.PRICES, b'{"market": "AEMO", "lmp": 1, "lmp": 9}'),  # duplicate_key
        (Kind.LOAD, b"\xff\xfe"),  # not_utf8
    ]
    for i, (kind, value) in enumerate(extra):
        inputs.append(InMessage(f"raw.{kind.value}", 0, n + i, b"AEMO:SA1", value, [], 1_000))
    # A replayed message that fails again keeps its replay headers.
    inputs.append(
        InMessage(
            "raw.gas", 0, n + len(extra), b"k", b"[]", [(H_REPLAY_COUNT, b"1"), (H_REPLAY_ID, b"r1")], 1
        )
    )
    inputs.append(InMessage("raw.unknown", 0, 0, None, b"{}", [], 1))  # unknown_topic
    # NYISO 2016 after SA1 2009 on the same partition: SA1 goes stale (an anomaly without origin).
    inputs += [
        InMessage("raw.prices", 0, len(inputs) + i, m.key, m.value, [], m.timestamp_ms)
        for i, m in enumerate(nyiso)
    ]
    # Revisions of every kind (gas has no windows: its revisions are late with no window at all).
    revisions = [(Kind.PRICES, nyiso[0]), (Kind.LOAD, sa1[1]), (Kind.GAS, gas[-1])]
    for i, (kind, message) in enumerate(revisions):
        value = orjson.dumps(dict(orjson.loads(message.value or b""), version=5))
        inputs.append(InMessage(f"raw.{kind.value}", 0, len(inputs) + i, message.key, value, [], 1))
    return inputs


@pytest.fixture(scope="module")
def real_outputs() -> list[OutMessage]:
    return run(real_inputs())


# -- the files ---------------------------------------------------------------------------------------------


def test_checked_in_files_are_generated_from_the_code() -> None:
    generated = generated_files()
    for name, content in generated.items():
        assert SCHEMA_DIR.joinpath(name).read_bytes() == content, f"{name}: run python -m streamer.schemas"
    on_disk = {e.name for e in SCHEMA_DIR.iterdir() if e.name.endswith(".json")}
    assert on_disk == set(generated), "a schema file that nothing generates"


def test_every_topic_has_a_published_schema() -> None:
    assert set(TopicNames().all()) == set(SCHEMA_FILE_BY_TOPIC)


def _described(schema: Any, path: str = "$") -> list[str]:
    """Paths of properties that have no description."""
    missing = []
    for name, sub in schema.get("properties", {}).items():
        if not sub.get("description"):
            missing.append(f"{path}.{name}")
        missing += _described(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        missing += _described(schema["items"], f"{path}[]")
    for branch in schema.get("oneOf", ()):
        missing += _described(branch, path)
    return missing


@pytest.mark.parametrize("topic", [t for t in SCHEMA_FILE_BY_TOPIC if not t.startswith("raw.")])
def test_each_output_schema_is_draft_2020_12_described_with_valid_examples(topic: str) -> None:
    schema = load_schema(topic)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] and schema["description"] and schema["examples"]
    assert not _described(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in schema["examples"]:
        validator.validate(example)
        if topic != "dlq":  # the DLQ example shows an original header, which is anyone's
            assert not undeclared(example, schema)


# -- the real processor on real data -----------------------------------------------------------------------


def test_every_record_of_a_real_run_keeps_its_contract(real_outputs: list[OutMessage]) -> None:
    checker = ContractChecker(passthrough=PASSTHROUGH)
    checked = checker.check_all(real_outputs)
    assert set(checked) == {
        "enriched.prices",
        "enriched.load",
        "enriched.gas",
        "bars.prices",
        "bars.load",
        "anomalies",
        "late",
        "dlq",
    }, checked
    assert checked["bars.prices"] > 5000 and checked["dlq"] >= 4
    # Every field a schema names is emitted by the code somewhere in the run.
    for topic, seen in checker.paths.items():
        if topic in checked:
            missing = declared_paths(checker.schemas[topic]) - seen
            assert not missing, f"{topic}: named by the schema, never emitted: {sorted(missing)}"


def test_records_are_exactly_the_schema_fields(real_outputs: list[OutMessage]) -> None:
    """Required and properties of each schema match the keys the code writes (nothing optional at the top
    level except the price components, which only some feeds send)."""
    keys: dict[str, set[frozenset[str]]] = {}
    for out in real_outputs:
        if out.topic != "dlq":
            keys.setdefault(out.topic, set()).add(frozenset(orjson.loads(out.value or b"")) - PASSTHROUGH)
    for topic, shapes in keys.items():
        schema = load_schema(topic)
        for shape in shapes:
            assert set(schema["required"]) <= shape <= set(schema["properties"]), (topic, shape)
        optional = set(schema["properties"]) - set(schema["required"])
        assert optional <= ({"energy", "congestion", "loss"} if topic == "enriched.prices" else set())


def test_every_output_carries_the_schema_version_header_last(real_outputs: list[OutMessage]) -> None:
    for out in real_outputs:
        assert list(out.headers)[-1] == VERSION_HEADER, out.topic
        assert sum(1 for k, _ in out.headers if k == SCHEMA_VERSION_HEADER) == 1, out.headers
    enriched = next(o for o in real_outputs if o.topic == "enriched.prices")
    assert list(enriched.headers) == [("trace-id", b"t-1"), VERSION_HEADER]


def test_a_replayed_message_drops_the_envelope_version(real_outputs: list[OutMessage]) -> None:
    letter = next(o for o in real_outputs if o.topic == "dlq")
    headers = replay_headers(letter.headers, 0, "r2")
    assert SCHEMA_VERSION_HEADER not in {k for k, _ in headers}


def test_raw_fields_the_contract_does_not_name_pass_through_and_still_validate() -> None:
    sa1 = next(iter(read_path(DATA / "aemo_sa1" / "DATA200901_SA1.csv", "aemo")))
    value = orjson.dumps(dict(orjson.loads(sa1.value or b""), trader_note={"desk": "east"}))
    (out,) = [
        o for o in run([InMessage("raw.prices", 0, 0, sa1.key, value, [], 1)]) if o.topic != "bars.prices"
    ]
    record = orjson.loads(out.value or b"")
    assert record["trader_note"] == {"desk": "east"}
    ContractChecker(strict=False).check_record(out)
    assert undeclared(record, load_schema("enriched.prices")) == ["$.trader_note"]


def test_the_audit_record_keeps_its_contract() -> None:
    from streamer.dlqtool.filters import Filters, parse_when
    from streamer.dlqtool.plan import ReplayCounts

    filters = Filters(reasons=frozenset({"out_of_band"}), since=parse_when("2h", NOW_MS))
    entry = AuditEntry(
        replay_id="abc",
        user="ops",
        host="h",
        started_ms=NOW_MS,
        finished_ms=NOW_MS + 1234,
        dlq_topic="dlq",
        group_id="g",
        filters=filters.identity(),
        target=None,
        options={
            "max_replays": 3,
            "transform": None,
            "rate_per_s": 50.0,
            "max": None,
            "limit": 10,
            "dry_run": False,
        },
        counts=ReplayCounts().to_dict(),
        status="completed",
    )
    checker = ContractChecker()
    checker.check("dlq.audit", entry.to_bytes(), [VERSION_HEADER])
    assert declared_paths(checker.schemas["dlq.audit"]) == checker.paths["dlq.audit"]


# -- hypothesis: any valid input ---------------------------------------------------------------------------

OFFSETS = {"+10:00": 600, "-05:00": -300, "Z": 0, "+05:30": 330}


@st.composite
def valid_messages(draw: st.DrawFn) -> list[InMessage]:
    """A few series of one partition with valid messages in any order: revisions, repeats, late events."""
    n = draw(st.integers(1, 60))
    out = []
    for offset in range(n):
        kind = draw(st.sampled_from(list(Kind)))
        slot = draw(st.integers(0, 40))
        version = draw(st.integers(1, 3))
        value = draw(st.floats(0, 900, allow_nan=False).map(lambda v: round(v, 2)))
        suffix, minutes_off = draw(st.sampled_from(sorted(OFFSETS.items())))
        if kind is Kind.GAS:
            record: dict[str, Any] = {
                "market": "EIA",
                "hub": draw(st.sampled_from(["HENRY", "CHICAGO"])),
                "trade_date": f"2021-02-{1 + slot % 28:02d}",
                "price": value / 100,
                "unit": "USD/MMBtu",
            }
        else:
            minutes = draw(st.sampled_from([5, 15, 30, 60]))
            total = slot * minutes + minutes_off
            day, hh, mm = 1 + total // 1440, total % 1440 // 60, total % 60
            record = {
                "market": draw(st.sampled_from(["AEMO", "pjm", " NYISO "])),
                "interval_start": f"2021-03-{day:02d}T{hh:02d}:{mm:02d}:00{suffix}",
                "interval_minutes": minutes,
            }
            if kind is Kind.PRICES:
                record |= {"node": draw(st.sampled_from(["SA1", "N1"])), "lmp": value, "currency": "AUD"}
                if draw(st.booleans()):
                    record |= {"energy": value - 1.5, "congestion": 1.0, "loss": 0.5}
                elif draw(st.booleans()):
                    record |= {"energy": None}
            else:
                record |= {"zone": draw(st.sampled_from(["Z1", "Z2"])), "mw": value * 10}
        record |= {"version": version, "source": "hypothesis"}
        out.append(InMessage(f"raw.{kind.value}", 0, offset, None, orjson.dumps(record), [], 1))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=valid_messages(), batch=st.integers(1, 20))
def test_any_valid_input_gives_records_that_keep_their_contracts(
    messages: list[InMessage], batch: int
) -> None:
    outputs = run(messages, batch=batch)
    assert sum(1 for o in outputs if o.topic.startswith(("enriched.", "dlq"))) == len(messages)
    ContractChecker().check_all(outputs)
