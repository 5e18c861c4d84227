"""Stateful revision checks that :func:`streamer.validation.validate` cannot do: repeats and versions.

Per series key the tracker remembers, for each interval start, the highest accepted version and a
digest of its normalised record. A re-sent interval is then:

- a higher version: a revision, accepted;
- the same version with the same content: ``duplicate`` (an exact repeat, e.g. a producer retry);
- the same version with other content: ``version_conflict`` (two different messages claim one version);
- a lower version than the one accepted: ``stale_revision`` (including a repeat of an older version).

The tracker also remembers where each accepted version was consumed (topic, partition, offset). The
same record consumed again from the same place is not a repeat sent by the source but our own
at-least-once re-delivery (after a crash or a rebalance, before the offset was committed):
:meth:`RevisionTracker.classify` says ``redelivery`` and the pipeline publishes it again instead of
dead-lettering it as a ``duplicate``.

The digest is of the normalised record (sorted keys, compact JSON), so whitespace, key order, a BOM,
``1`` versus ``1.0`` or padding around names in the raw bytes do not turn a retry into a conflict.

Memory is bounded: per key, intervals more than ``horizon_ms`` before the key's newest interval are
forgotten. An interval that old is not checked (it is accepted, and not remembered).
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any

import orjson

from streamer.reasons import Reason
from streamer.validation import Accepted, Rejected

__all__ = [
    "DEFAULT_HORIZON_MS",
    "NEW",
    "REDELIVERY",
    "REVISION",
    "RevisionTracker",
    "content_digest",
    "state_key",
]

NEW = "new"
REVISION = "revision"
REDELIVERY = "redelivery"

DEFAULT_HORIZON_MS = 7 * 24 * 3600 * 1000
_STATE_FORMAT = 1


def content_digest(record: dict[str, Any]) -> str:
    """A short hex digest of a normalised record, independent of key order."""
    encoded = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


class _Series:
    """The remembered intervals of one key, with a min-heap of their starts for pruning."""

    __slots__ = ("entries", "newest_ms", "starts")

    def __init__(self) -> None:
        self.entries: dict[int, tuple[int, str, str]] = {}
        self.starts: list[int] = []
        self.newest_ms: int | None = None

    def put(self, start_ms: int, version: int, digest: str, origin: str) -> None:
        if start_ms not in self.entries:
            heapq.heappush(self.starts, start_ms)
        self.entries[start_ms] = (version, digest, origin)
        if self.newest_ms is None or start_ms > self.newest_ms:
            self.newest_ms = start_ms

    def prune(self, horizon_ms: int) -> None:
        if self.newest_ms is None:
            return
        cutoff_ms = self.newest_ms - horizon_ms
        while self.starts and self.starts[0] < cutoff_ms:
            del self.entries[heapq.heappop(self.starts)]


def state_key(accepted: Accepted) -> str:
    """The tracker's key: the kind and the series key, because a price and a load series may share a
    series key (``AEMO:SA1`` is both a price node and a load zone)."""
    return f"{accepted.kind.value}/{accepted.key}"


class RevisionTracker:
    """Per series key: the accepted (interval_start_ms -> (version, content digest)) for a bounded horizon."""

    def __init__(self, horizon_ms: int = DEFAULT_HORIZON_MS) -> None:
        if horizon_ms < 0:
            raise ValueError(f"horizon_ms must be >= 0, got {horizon_ms}")
        self._horizon_ms = horizon_ms
        self._series: dict[str, _Series] = {}
        self._dirty: set[str] = set()

    @property
    def horizon_ms(self) -> int:
        return self._horizon_ms

    def check(self, accepted: Accepted, raw_value: bytes) -> Rejected | None:
        """None when ``accepted`` is new or a revision; else why it must not be accepted again.

        ``raw_value`` is part of the call for the pipeline's convenience; the digest deliberately uses
        the normalised record instead of the raw bytes (see the module docstring).
        """
        verdict = self.classify(accepted)
        return verdict if isinstance(verdict, Rejected) else None

    def classify(self, accepted: Accepted, origin: str = "") -> str | Rejected:
        """:data:`NEW`, :data:`REVISION`, :data:`REDELIVERY` (the accepted version consumed again from the
        same ``origin``), or why it must not be accepted again."""
        series = self._series.get(state_key(accepted))
        if series is None:
            return NEW
        known = series.entries.get(accepted.event_time_ms)
        if known is None:
            return NEW
        version, digest, seen_origin = known
        where = f"{accepted.key} at {accepted.event_time_ms} ms"
        if origin and origin == seen_origin and accepted.version == version:
            return REDELIVERY
        if accepted.version > version:
            return REVISION
        if accepted.version < version:
            return Rejected(
                Reason.STALE_REVISION, f"version {accepted.version} < accepted version {version} for {where}"
            )
        if content_digest(accepted.record) == digest:
            return Rejected(Reason.DUPLICATE, f"exact repeat of version {version} for {where}")
        return Rejected(
            Reason.VERSION_CONFLICT, f"version {version} for {where} was accepted with other content"
        )

    def record(self, accepted: Accepted, raw_value: bytes, origin: str = "") -> None:
        """Remember ``accepted`` (after :meth:`classify`) and where it was consumed; prune its key."""
        key = state_key(accepted)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.put(accepted.event_time_ms, accepted.version, content_digest(accepted.record), origin)
        series.prune(self._horizon_ms)
        self._dirty.add(key)

    def __len__(self) -> int:
        """Number of remembered (key, interval) entries."""
        return sum(len(series.entries) for series in self._series.values())

    def keys(self) -> set[str]:
        return set(self._series)

    def dump_key(self, key: str) -> bytes:
        """Per-key state serialised with orjson, for a RocksDB-backed table. Unknown keys dump empty."""
        series = self._series.get(key)
        entries = [] if series is None else [[s, v, d, o] for s, (v, d, o) in sorted(series.entries.items())]
        return orjson.dumps({"format": _STATE_FORMAT, "entries": entries})

    def load_key(self, key: str, state: bytes) -> None:
        """Replace ``key``'s state with a :meth:`dump_key` result. Raises ValueError on bad state."""
        try:
            decoded = orjson.loads(state)
            if decoded.get("format") != _STATE_FORMAT:
                raise ValueError(f"unknown revision state format {decoded.get('format')!r}")
            series = _Series()
            for entry in decoded["entries"]:
                start_ms, version, digest, *rest = entry  # entries written before origins had 3 fields
                origin = rest[0] if rest else ""
                if type(start_ms) is not int or type(version) is not int or type(digest) is not str:
                    raise ValueError(f"bad revision entry {entry!r}")
                series.put(start_ms, version, digest, str(origin))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad revision state for {key!r}: {exc}") from exc
        series.prune(self._horizon_ms)
        if series.entries:
            self._series[key] = series
        else:
            self._series.pop(key, None)
        self._dirty.discard(key)

    def dirty_keys(self) -> set[str]:
        """Keys changed by :meth:`record` since the last :meth:`clear_dirty`."""
        return set(self._dirty)

    def clear_dirty(self) -> None:
        self._dirty.clear()
