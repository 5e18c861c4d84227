"""The worker's state: entries keyed at the grain they change, a bounded write-back cache, per partition.

RocksDB (through the Faust table, see :mod:`streamer.faust_boundary`) is the store of record; this module is
what sits in front of it. Reads go to the cache, then to the partition's :class:`Backend`. Writes stay in
the cache, marked dirty, until :meth:`StateStore.take_changes` hands them over once per batch, in an order
that keeps every prefix of them consistent (a crash can persist a prefix of the changelog):

1. raw entries: revision entries, history chunks, deletions of pruned revisions;
2. series summaries (each after the chunks its own encoding produces);
3. panes (and deletions of panes whose windows have all closed);
4. the partition's meta entry (watermark, next offset) last: once it is durable, everything of the batch is.

Summaries go before panes because a summary's ``last_offset`` decides whether a record consumed again is
shown to the detectors again. An anomaly published again carries the statistics of the windows it is in,
so the panes must then be as they were the first time. With this order they are: a prefix that misses a
summary misses every pane of the batch too. Had the panes come first, a prefix could hold the batch's
panes but not the summary. The anomaly would then come out again with statistics that already count the
series' later records of the batch.

After the caller persisted a batch, :meth:`StateStore.evict` trims the cache to its capacity, oldest first;
the evicted series are told so (their detectors drop the state from memory). Memory is therefore bounded by
the capacities, not by the number of series or by time. No I/O happens here beyond the backend calls.

A caller that goes on processing while a batch's changes are still being written (the worker does, see
:mod:`streamer.delivery`) hands them to :meth:`StateStore.landing` first: until :meth:`StateStore.landed`,
reads see them over the backend, so an entry evicted meanwhile, or never cached (a revision entry), is not
read back stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

import orjson
from sortedcontainers import SortedDict

from streamer import jsonbytes
from streamer.state.keys import pane_key, pane_prefix, pane_start, parse_pane_key, series_pane_prefix
from streamer.topics import Kind
from streamer.windows.panes import Pane, PaneGroup

__all__ = ["Backend", "Change", "MemoryBackend", "SeriesLike", "StateStore"]

Change = tuple[bytes, bytes | None]  # (key, value); None deletes


class Backend(Protocol):
    """One partition's persisted state (a RocksDB in the worker)."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``start <= key < stop``, in key order."""
        ...


class MemoryBackend:
    """A partition's state in a sorted dict: for tests and in-process runs.

    Sorted, so a scan costs what RocksDB's does (the entries in range), and a new key costs O(log n): the
    processor scans once per batch to prune revisions, and with a pass over every key of a plain dict an
    in-process run over 7 days of 300 series slowed from 66 to 114 µs per event (a sorted list of the keys
    beside it still went to 99, moving most of it on every insert).
    """

    def __init__(self) -> None:
        self.data: SortedDict = SortedDict()

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.data.get(key)
        return value

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in list(self.data.irange(start, stop, inclusive=(True, False))):
            value = self.data.get(key)
            if value is not None:  # not deleted since the scan began
                yield key, value

    def apply(self, changes: Iterable[Change]) -> None:
        for key, value in changes:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value


class SeriesLike(Protocol):
    """What the store needs of a cached series summary."""

    def encode(self) -> list[Change]:
        """The entries to write for it: its history chunks filled since last time, then the summary."""
        ...

    def evicted(self) -> None:
        """It left the cache: drop what it holds in memory."""
        ...


@dataclass(slots=True)
class _Landing:
    """One partition's changes that are being written: every entry by key, and the pane entries by series."""

    entries: dict[bytes, bytes | None]
    panes: dict[bytes, list[Change]]  # series pane prefix -> its pane entries

    @classmethod
    def of(cls, changes: Iterable[Change]) -> _Landing:
        entries = dict(changes)
        panes: dict[bytes, list[Change]] = {}
        for key, value in entries.items():
            if key[:1] == b"p":
                panes.setdefault(key[:-8], []).append((key, value))  # a pane key ends in its 8-byte start
        return cls(entries, panes)


@dataclass(slots=True)
class _Dirty:
    raw: dict[bytes, bytes | None] = field(default_factory=dict)
    panes: dict[tuple[Kind, str, int], Pane | None] = field(default_factory=dict)
    series: dict[tuple[Kind, str], SeriesLike] = field(default_factory=dict)
    meta: dict[Kind, Change] = field(default_factory=dict)
    deleted_panes: dict[tuple[Kind, str], set[int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.raw or self.panes or self.series or self.meta)


class _PaneView:
    """The panes of one (partition, kind), as a :class:`streamer.windows.PaneStore`."""

    def __init__(self, store: StateStore, partition: int, kind: Kind) -> None:
        self._store = store
        self._partition = partition
        self._kind = kind

    def pane(self, key: str, start_ms: int) -> Pane | None:
        return self._store.series_panes(self._partition, self._kind, key).get(start_ms)

    def panes_of(self, key: str) -> PaneGroup:
        return self._store.series_panes(self._partition, self._kind, key)

    def read_panes(self, key: str) -> Mapping[int, Pane]:
        return self._store.read_panes(self._partition, self._kind, key)

    def put_pane(self, key: str, pane: Pane) -> None:
        self._store.put_pane(self._partition, self._kind, key, pane)

    def delete_pane(self, key: str, start_ms: int) -> None:
        self._store.delete_pane(self._partition, self._kind, key, start_ms)

    def pane_keys(self) -> Iterable[tuple[int, str]]:
        prefix = pane_prefix(self._kind)
        return [parse_pane_key(key) for key, _ in self._store.scan(self._partition, prefix, prefix + b"\xff")]


class StateStore:
    """The write-back cache over every assigned partition's backend."""

    def __init__(
        self,
        backend_for: Callable[[int], Backend],
        series_capacity: int = 20_000,
        pane_capacity: int = 300_000,
    ) -> None:
        if series_capacity < 1 or pane_capacity < 1:
            raise ValueError("cache capacities must be positive")
        self._backend_for = backend_for
        self.series_capacity = series_capacity
        self.pane_capacity = pane_capacity
        self._series: dict[tuple[int, Kind, str], SeriesLike] = {}
        # Per series, every stored pane (a complete set: a start that is missing has no pane).
        self._pane_groups: dict[tuple[int, Kind, str], PaneGroup] = {}
        self._pane_count = 0
        self._dirty: dict[int, _Dirty] = {}
        self._landing: dict[int, _Landing] = {}
        self.reads = 0  # backend reads (cache misses)
        self.written = 0  # entries handed over by take_changes
        self.written_bytes = 0

    def backend(self, partition: int) -> Backend:
        return self._backend_for(partition)

    def _dirty_of(self, partition: int) -> _Dirty:
        dirty = self._dirty.get(partition)
        if dirty is None:
            dirty = self._dirty[partition] = _Dirty()
        return dirty

    def get(self, partition: int, key: bytes) -> bytes | None:
        """A raw entry: written in this batch, else persisted."""
        dirty = self._dirty.get(partition)
        if dirty is not None and key in dirty.raw:
            return dirty.raw[key]
        landing = self._landing.get(partition)
        if landing is not None and key in landing.entries:
            return landing.entries[key]
        self.reads += 1
        return self._backend_for(partition).get(key)

    def put(self, partition: int, key: bytes, value: bytes | None) -> None:
        """Write (or with None delete) a raw entry with this batch."""
        self._dirty_of(partition).raw[key] = value

    def scan(self, partition: int, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Persisted (or landing) entries with ``start <= key < stop``, not this batch's writes."""
        persisted = self._backend_for(partition).scan(start, stop)
        landing = self._landing.get(partition)
        if landing is None:
            return persisted
        overlay = {key: value for key, value in landing.entries.items() if start <= key < stop}
        if not overlay:
            return persisted
        merged: dict[bytes, bytes | None] = dict(persisted)
        merged.update(overlay)
        return iter([(key, value) for key in sorted(merged) if (value := merged[key]) is not None])

    # -- series summaries ---------------------------------------------------------------------------
    def cached_series(self, partition: int, kind: Kind, key: str) -> SeriesLike | None:
        ident = (partition, kind, key)
        series = self._series.pop(ident, None)
        if series is not None:
            self._series[ident] = series  # most recently used last
        return series

    def add_series(self, partition: int, kind: Kind, key: str, series: SeriesLike) -> None:
        """Cache a series loaded from the backend (or new); it is written once marked dirty."""
        self._series[(partition, kind, key)] = series

    def mark_series(self, partition: int, kind: Kind, key: str, series: SeriesLike) -> None:
        self._dirty_of(partition).series[(kind, key)] = series

    # -- panes --------------------------------------------------------------------------------------
    def panes(self, partition: int, kind: Kind) -> _PaneView:
        return _PaneView(self, partition, kind)

    def series_panes(self, partition: int, kind: Kind, key: str) -> PaneGroup:
        """Every pane of a series by start: from the cache, else one prefix scan of the backend."""
        ident = (partition, kind, key)
        group = self._pane_groups.get(ident)
        if group is None:
            group = self._load_panes(partition, kind, key)
            self._pane_count += len(group)
            self._pane_groups[ident] = group  # evicted oldest loaded first
        return group

    def read_panes(self, partition: int, kind: Kind, key: str) -> Mapping[int, Pane]:
        """As :meth:`series_panes`, but a series that is not cached is read without being cached."""
        group = self._pane_groups.get((partition, kind, key))
        return group if group is not None else self._load_panes(partition, kind, key)

    def _load_panes(self, partition: int, kind: Kind, key: str) -> PaneGroup:
        self.reads += 1
        prefix = series_pane_prefix(kind, key)
        group = PaneGroup(
            (pane_start(entry_key), Pane.from_list(orjson.loads(value)))
            for entry_key, value in self._backend_for(partition).scan(prefix, prefix + b"\xff")
        )
        landing = self._landing.get(partition)
        if landing is not None:  # written by a batch whose changes the backend does not hold yet
            for entry_key, value in landing.panes.get(prefix, ()):
                if value is None:
                    group.pop(pane_start(entry_key), None)
                else:
                    group[pane_start(entry_key)] = Pane.from_list(orjson.loads(value))
        dirty = self._dirty.get(partition)
        if dirty is not None:  # deletions of this batch that the backend does not know yet
            for start_ms in dirty.deleted_panes.get((kind, key), ()):
                group.pop(start_ms, None)
        return group

    def pane(self, partition: int, kind: Kind, key: str, start_ms: int) -> Pane | None:
        return self.series_panes(partition, kind, key).get(start_ms)

    def put_pane(self, partition: int, kind: Kind, key: str, pane: Pane) -> None:
        group = self.series_panes(partition, kind, key)
        if pane.start_ms not in group:
            self._pane_count += 1
        group[pane.start_ms] = pane
        self._dirty_of(partition).panes[(kind, key, pane.start_ms)] = pane

    def delete_pane(self, partition: int, kind: Kind, key: str, start_ms: int) -> None:
        group = self._pane_groups.get((partition, kind, key))
        if group is not None and group.drop(start_ms):
            self._pane_count -= 1
        dirty = self._dirty_of(partition)
        dirty.panes[(kind, key, start_ms)] = None
        dirty.deleted_panes.setdefault((kind, key), set()).add(start_ms)

    # -- meta ---------------------------------------------------------------------------------------
    def put_meta(self, partition: int, kind: Kind, key: bytes, value: bytes) -> None:
        self._dirty_of(partition).meta[kind] = (key, value)

    # -- persistence --------------------------------------------------------------------------------
    def dirty_partitions(self) -> list[int]:
        return [p for p, dirty in self._dirty.items() if dirty]

    def take_changes(self, partition: int) -> list[Change]:
        """Everything changed in ``partition`` since the last call, in prefix-safe order (module doc)."""
        dirty = self._dirty.pop(partition, None)
        if dirty is None:
            return []
        changes: list[Change] = list(dirty.raw.items())
        for series in dirty.series.values():
            changes.extend(series.encode())
        for (kind, key, start_ms), pane in dirty.panes.items():
            value = None if pane is None else jsonbytes.dumps(pane.to_list())
            changes.append((pane_key(kind, key, start_ms), value))
        changes.extend(dirty.meta.values())
        self.written += len(changes)
        self.written_bytes += sum(len(k) + len(v or b"") for k, v in changes)
        return changes

    def landing(self, changes: Mapping[int, Iterable[Change]]) -> None:
        """``changes`` (taken by :meth:`take_changes`) are being written: serve reads from them until
        :meth:`landed`. One batch's at a time."""
        if self._landing:
            raise RuntimeError("the changes of an earlier batch are still landing")
        self._landing = {partition: _Landing.of(entries) for partition, entries in changes.items()}

    def landed(self) -> None:
        """The changes given to :meth:`landing` are in the backends now."""
        self._landing = {}

    def evict(self) -> int:
        """Trim the caches to their capacities: least recently used series, first loaded panes. Only
        entries without pending changes go. Returns how many entries left."""
        gone = 0
        excess = len(self._series) - self.series_capacity
        for ident in list(islice(self._series, max(0, excess))):
            dirty = self._dirty.get(ident[0])
            if dirty is not None and (ident[1], ident[2]) in dirty.series:
                continue
            self._series.pop(ident).evicted()
            gone += 1
        if self._pane_count > self.pane_capacity:
            for ident in list(self._pane_groups):
                if self._pane_count <= self.pane_capacity:
                    break
                dirty = self._dirty.get(ident[0])
                if dirty is not None and any(k[:2] == ident[1:] for k in dirty.panes):
                    continue
                self._pane_count -= len(self._pane_groups.pop(ident))
                gone += 1
        return gone

    def forget_partitions(self, keep: Callable[[int], bool] | None = None) -> None:
        """Drop cached entries (of every partition, or those ``keep`` refuses), pending changes included:
        after a rebalance the backends are the truth again."""
        for ident in [i for i in self._series if keep is None or not keep(i[0])]:
            self._series.pop(ident).evicted()
        for group_ident in [i for i in self._pane_groups if keep is None or not keep(i[0])]:
            self._pane_count -= len(self._pane_groups.pop(group_ident))
        for partition in [p for p in self._dirty if keep is None or not keep(p)]:
            del self._dirty[partition]

    def cached_counts(self) -> tuple[int, int]:
        """(series, panes) in memory."""
        return len(self._series), self._pane_count
