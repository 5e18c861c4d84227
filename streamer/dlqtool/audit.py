"""The ``dlq.audit`` record: one JSON object per replay action (who, when, what, how many).

Records are keyed by the replay group id, so the runs of one replay are in order on one partition, and carry
the ``streamer.schema_version`` header (the major version of ``streamer/schemas/dlq.audit.json``).
Only real replays are audited. A dry run writes nothing anywhere on the broker, so it leaves no
audit record either; its report goes to the terminal (or ``--json``) instead.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

import orjson

from streamer.dlqtool.record import iso_ms

__all__ = ["AuditEntry", "who"]


def who() -> tuple[str, str]:
    """``(user, host)`` of the person running the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable (some containers)
        user = "unknown"
    return user, socket.gethostname()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    replay_id: str
    user: str
    host: str
    started_ms: int
    finished_ms: int
    dlq_topic: str
    group_id: str
    filters: dict[str, Any]
    target: str | None
    options: dict[str, Any]
    counts: dict[str, Any]
    status: str
    action: str = "replay"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "replay_id": self.replay_id,
            "user": self.user,
            "host": self.host,
            "started": iso_ms(self.started_ms),
            "finished": iso_ms(self.finished_ms),
            "dlq_topic": self.dlq_topic,
            "group_id": self.group_id,
            "filters": self.filters,
            "target": self.target or "origin topic",
            "options": self.options,
            "counts": self.counts,
            "status": self.status,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())
