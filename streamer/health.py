"""Liveness and readiness of a worker, decided from what it observes. No I/O; the clock is injected.

Liveness fails on the silent stall Faust users report most: a partition with records waiting that has made
no progress for ``stall_after_s``, or sends to the broker failing for that long. Both can happen while every
process and thread is still alive, which is why a liveness probe must look at progress, not at the process.
Readiness fails until partitions are assigned and the tables' changelog recovery has finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Health", "Verdict"]

TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "reasons": list(self.reasons)}


@dataclass(slots=True)
class Health:
    stall_after_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _assigned: set[TP] = field(default_factory=set)
    _progress_at: dict[TP, float] = field(default_factory=dict)
    _lag: dict[TP, int] = field(default_factory=dict)
    _sends_failing_since: float | None = None
    _recovered: bool = False

    def assigned(self, tps: Iterable[TP]) -> None:
        """A new assignment: each partition gets a full stall timeout to start."""
        now = self.clock()
        self._assigned = set(tps)
        self._progress_at = {tp: self._progress_at.get(tp, now) for tp in self._assigned}
        self._lag = {tp: lag for tp, lag in self._lag.items() if tp in self._assigned}

    def recovered(self, done: bool) -> None:
        self._recovered = done

    def progressed(self, tps: Iterable[TP]) -> None:
        now = self.clock()
        for tp in tps:
            self._progress_at[tp] = now

    def lag(self, lag_records: Mapping[TP, int]) -> None:
        self._lag = {tp: lag for tp, lag in lag_records.items() if tp in self._assigned}

    def sends(self, failing_since: float | None) -> None:
        """When the current run of failed sends began (monotonic), or None while sends succeed."""
        self._sends_failing_since = failing_since

    def stalled(self) -> list[TP]:
        now = self.clock()
        return sorted(
            tp
            for tp, lag in self._lag.items()
            if lag > 0 and now - self._progress_at.get(tp, now) >= self.stall_after_s
        )

    def liveness(self) -> Verdict:
        reasons = [
            f"{topic}[{partition}] has records waiting and no progress" for topic, partition in self.stalled()
        ]
        since = self._sends_failing_since
        if since is not None and self.clock() - since >= self.stall_after_s:
            reasons.append(f"sends to Kafka failing for {self.clock() - since:.0f}s")
        return Verdict(not reasons, tuple(reasons))

    def readiness(self) -> Verdict:
        reasons = []
        if not self._assigned:
            reasons.append("no partitions assigned")
        if not self._recovered:
            reasons.append("table recovery not finished")
        return Verdict(not reasons, tuple(reasons))
