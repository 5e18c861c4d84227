"""Topic names of the contract. The prefix is configurable; the suffixes are not."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Kind", "TopicNames"]


class Kind(StrEnum):
    """The three input message kinds. The value is the topic suffix."""

    PRICES = "prices"
    LOAD = "load"
    GAS = "gas"


@dataclass(frozen=True, slots=True)
class TopicNames:
    prefix: str = ""

    def _name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def raw(self, kind: Kind) -> str:
        return self._name(f"raw.{kind.value}")

    def enriched(self, kind: Kind) -> str:
        return self._name(f"enriched.{kind.value}")

    def bars(self, kind: Kind) -> str:
        return self._name(f"bars.{kind.value}")

    @property
    def anomalies(self) -> str:
        return self._name("anomalies")

    @property
    def late(self) -> str:
        return self._name("late")

    @property
    def dlq(self) -> str:
        return self._name("dlq")

    @property
    def dlq_audit(self) -> str:
        return self._name("dlq.audit")

    def kind_of_raw(self, topic: str) -> Kind | None:
        """The kind whose raw topic this is, or None."""
        for kind in Kind:
            if topic == self.raw(kind):
                return kind
        return None

    def all(self) -> list[str]:
        """Every topic the pipeline reads or writes (bars only for prices and load)."""
        names = [self.raw(k) for k in Kind] + [self.enriched(k) for k in Kind]
        names += [self.bars(Kind.PRICES), self.bars(Kind.LOAD)]
        names += [self.anomalies, self.late, self.dlq, self.dlq_audit]
        return names
