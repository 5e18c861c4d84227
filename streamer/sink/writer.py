"""Rolls of records into Hive-partitioned Parquet files, and where each partition resumes. No Kafka here.

:meth:`RollWriter.write` turns the records of one (topic, partition) that arrived since the last roll into
one file per (market, day), all under temporary names first, then renames them (see
:mod:`streamer.sink.layout` for why the names make the files the sink's progress, and
:mod:`streamer.sink.storage` for durability). :meth:`RollWriter.resume` reads that progress back.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from streamer.sink.columns import table_spec
from streamer.sink.layout import Roll, hive_dir, parse_name, parse_temp_name, temp_name
from streamer.sink.storage import Storage

__all__ = ["Pending", "RollWriter", "WrittenRoll"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pending:
    """Records of one topic partition read since its last roll, in offset order."""

    topic: str
    partition: int
    started_ms: int  # monotonic clock when the first record arrived (for rolling by age)
    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[tuple[int, int, int | None]] = field(default_factory=list)
    value_bytes: int = 0

    def add(self, record: dict[str, Any], offset: int, timestamp_ms: int | None, size: int) -> None:
        self.records.append(record)
        self.positions.append((self.partition, offset, timestamp_ms))
        self.value_bytes += size

    @property
    def first_offset(self) -> int:
        return self.positions[0][1]

    @property
    def last_offset(self) -> int:
        return self.positions[-1][1]


@dataclass(frozen=True, slots=True)
class WrittenRoll:
    topic: str
    roll: Roll
    rows: int
    file_bytes: int


class RollWriter:
    """Writes rolls under ``storage`` for Kafka topics whose contract topic ``contracts`` names."""

    def __init__(
        self,
        storage: Storage,
        contracts: Mapping[str, str],
        compression: str = "zstd",
        compression_level: int | None = None,
    ) -> None:
        self.storage = storage
        self.contracts = dict(contracts)
        self.compression = compression
        self.compression_level = compression_level

    def topic_dir(self, topic: str) -> str:
        return f"{self.storage.base}/topic={topic}"

    def resume(self, topic: str, partitions: Iterable[int]) -> dict[int, int | None]:
        """The next offset to write for each of ``partitions`` of ``topic`` (None: nothing written yet).

        Cleans up after a crash first: the partitions' temporary files, and the files of a roll that is
        incomplete (its renames were interrupted), whose records are then written again."""
        wanted = set(partitions)
        rolls: dict[Roll, list[str]] = {}
        for stored in self.storage.files(self.topic_dir(topic)):
            roll = parse_name(stored.name)
            if roll is not None and roll.partition in wanted:
                rolls.setdefault(roll, []).append(stored.path)
            elif parse_temp_name(stored.name) in wanted:
                log.info("deleting the temporary file %s of an interrupted roll", stored.path)
                self.storage.delete(stored.path)
        resume: dict[int, int | None] = dict.fromkeys(wanted)
        for roll, paths in sorted(rolls.items()):
            if len(paths) < roll.files:
                log.warning(
                    "%s[%d] offsets %d-%d: %d of %d files; deleting them, the roll is written again",
                    topic,
                    roll.partition,
                    roll.first,
                    roll.last,
                    len(paths),
                    roll.files,
                )
                for path in paths:
                    self.storage.delete(path)
                continue
            current = resume[roll.partition]
            resume[roll.partition] = max(roll.last + 1, current or 0)
        return resume

    def write(self, pending: Pending) -> WrittenRoll:
        """Write ``pending`` as one roll; returns once every file of it is durable under its final name."""
        spec = table_spec(self.contracts[pending.topic])
        groups: dict[tuple[str, str], list[int]] = {}
        for i, record in enumerate(pending.records):
            market = record.get("market") or str(record["key"]).partition(":")[0]
            groups.setdefault((market, spec.day(record)), []).append(i)
        roll = Roll(pending.partition, pending.first_offset, pending.last_offset, len(groups))
        source = orjson.dumps(
            {
                "topic": pending.topic,
                "partition": roll.partition,
                "first_offset": roll.first,
                "last_offset": roll.last,
                "files": roll.files,
            }
        )
        token = secrets.token_hex(6)
        staged: list[tuple[str, str]] = []
        file_bytes = 0
        for (market, day), rows in sorted(groups.items()):
            table = spec.table([pending.records[i] for i in rows], [pending.positions[i] for i in rows])
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), b"streamer.source": source}
            )
            data = self._parquet(table)
            directory = hive_dir(self.storage.base, pending.topic, market, day)
            self.storage.make_dirs(directory)
            temp = f"{directory}/{temp_name(roll.name, token)}"
            self.storage.write_temp(temp, data)
            staged.append((temp, f"{directory}/{roll.name}"))
            file_bytes += len(data)
        for temp, final in staged:
            self.storage.publish(temp, final)
        return WrittenRoll(pending.topic, roll, len(pending.records), file_bytes)

    def _parquet(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=self.compression, compression_level=self.compression_level)
        return bytes(sink.getvalue())
