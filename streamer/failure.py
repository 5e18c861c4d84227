"""A pipeline that fails stops its worker, rather than leaving it alive and idle.

Faust logs an agent's exception and carries on without the agent: the process stays up, holds its partitions
and processes nothing, which only a stall alert would notice. Instead the failure is remembered and the worker
is sent SIGTERM, so it stops the usual way (it commits only what was processed and leaves the group, so its
partitions move at once), and the process exits non-zero for its supervisor to restart it.
"""

from __future__ import annotations

import logging
import os
import signal

__all__ = ["clear_failure", "failure", "stop_worker_on_failure"]

log = logging.getLogger(__name__)

_failure: BaseException | None = None


def stop_worker_on_failure(exc: BaseException) -> None:
    global _failure
    if _failure is None:
        _failure = exc
        log.critical("the pipeline failed (%r); stopping the worker (it restarts from its commits)", exc)
        os.kill(os.getpid(), signal.SIGTERM)


def failure() -> BaseException | None:
    """The failure that stopped this process's worker, if one did."""
    return _failure


def clear_failure() -> None:
    global _failure
    _failure = None
