"""Event-loop stalls: how late the worker's loop runs, and where its thread was when it stopped running.

Everything a worker does runs on one asyncio loop, so while one callback holds it (a batch that computes
thousands of bars, a collection of the garbage collector, a blocking call) no record is fetched, processed
or acknowledged, and every record waiting meanwhile is that much later. The end-to-end latency histogram
shows the tail but not its cause. This module measures the cause:

- :meth:`LoopWatch.run`, a task on the loop, sleeps ``interval_s`` at a time; how much later than asked it
  wakes up is the loop's lag (``streamer_event_loop_lag_seconds``);
- a watchdog thread sees when the loop has not woken for ``stall_s`` and logs, once per stall, the stack of
  the loop's thread at that moment (``streamer_event_loop_stalls_total`` counts them). When the loop runs
  again, the task logs how long the stall lasted, how much of it the loop's thread spent on a CPU, and how
  much of it was garbage collection. A stall with little CPU time in it was not the worker's own work: its
  thread waited for a core (a busy machine) or in a blocking call.

The thread only reads a timestamp and, on a stall, the loop thread's frame; it needs the GIL for that, so a
stall inside a C call that holds the GIL is reported once the call returns, with its length still right.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["GcSpent", "LoopWatch", "Stall"]

log = logging.getLogger(__name__)


class GcSpent(NamedTuple):
    """Garbage collection over a span: wall clock, on a CPU, how many collections, the oldest generation."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    collections: int = 0
    oldest: int = -1


class _GcClock:
    """What garbage collection took since the last read. A collection is timed in the thread that runs it
    (the loop's or another one, e.g. Faust's consumer thread): wall time it was descheduled for counts in
    ``seconds`` but not in ``cpu_seconds``, so a collection that lost its core is told from one that had a
    lot to walk, and the count tells one long collection from many short ones."""

    def __init__(self) -> None:
        self._spent = GcSpent()
        self._started: tuple[float, float] | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
        elif self._started is not None:
            wall, cpu = self._started
            spent = self._spent
            self._spent = GcSpent(
                spent.seconds + time.perf_counter() - wall,
                spent.cpu_seconds + time.thread_time() - cpu,  # the same thread: a collection never re-enters
                spent.collections + 1,
                max(spent.oldest, int(info.get("generation", -1))),
            )
            self._started = None

    def take(self) -> GcSpent:
        taken, self._spent = self._spent, GcSpent()
        return taken


class Stall(NamedTuple):
    """One stall, in seconds of wall clock: its length, the loop thread's CPU time in it, and the time
    spent collecting garbage (wall clock: descheduled time counts; ``gc_cpu_s``: on a CPU)."""

    seconds: float
    cpu_s: float
    gc_s: float
    gc_cpu_s: float = 0.0
    gc_collections: int = 0


class LoopWatch:
    """Measures the loop's lag and reports its stalls (module docstring). ``observe_lag`` and ``count_stall``
    are the metrics' hooks; ``stall_s`` of 0 turns the watchdog thread off (the lag is still measured)."""

    def __init__(
        self,
        *,
        interval_s: float = 0.05,
        stall_s: float = 0.25,
        observe_lag: Callable[[float], None] = lambda _s: None,
        count_stall: Callable[[], None] = lambda: None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if stall_s < 0:
            raise ValueError(f"stall_s must be >= 0, got {stall_s}")
        self.interval_s = interval_s
        self.stall_s = stall_s
        self._observe_lag = observe_lag
        self._count_stall = count_stall
        self._beat = time.monotonic()
        self._beat_cpu = 0.0  # the loop thread's CPU clock at the last beat; only that thread uses it
        self._loop_thread: int | None = None
        self._stalled = False  # set by the watchdog, cleared by the loop
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._gc = _GcClock()
        self.stalls: list[Stall] = []  # latest last

    async def run(self) -> None:
        """Run on the loop being watched until cancelled."""
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._beat_cpu = time.thread_time()
        watchdog = None
        if self.stall_s > 0:
            watchdog = threading.Thread(target=self._watch, name="streamer-loop-watch", daemon=True)
            watchdog.start()
        gc.callbacks.append(self._gc)
        try:
            while True:
                asked = time.monotonic()
                await asyncio.sleep(self.interval_s)
                now = time.monotonic()
                self._woke(now, now - asked - self.interval_s)
        finally:
            gc.callbacks.remove(self._gc)
            self._stop.set()
            if watchdog is not None:
                watchdog.join(timeout=1.0)

    def _woke(self, now: float, lag_s: float) -> None:
        self._observe_lag(max(0.0, lag_s))
        gc_spent = self._gc.take()
        cpu_now = time.thread_time()
        cpu_s, self._beat_cpu = cpu_now - self._beat_cpu, cpu_now
        with self._lock:
            stalled, self._stalled = self._stalled, False
            since = self._beat
            self._beat = now
        if not stalled:
            return
        length = now - since
        gc_s, gc_cpu_s = gc_spent.seconds, gc_spent.cpu_seconds
        self.stalls.append(Stall(length, cpu_s, gc_s, gc_cpu_s, gc_spent.collections))
        del self.stalls[:-100]
        log.warning(
            "the event loop ran again after %.0f ms (its thread on a CPU for %.0f ms of it; %.0f ms of it "
            "garbage collection in %d collections%s, %.0f ms of that on a CPU)",
            length * 1000,
            cpu_s * 1000,
            gc_s * 1000,
            gc_spent.collections,
            "" if gc_spent.oldest < 0 else f" up to generation {gc_spent.oldest}",
            gc_cpu_s * 1000,
            extra={
                "stall_ms": round(length * 1000),
                "cpu_ms": round(cpu_s * 1000),
                "gc_ms": round(gc_s * 1000),
                "gc_cpu_ms": round(gc_cpu_s * 1000),
                "gc_collections": gc_spent.collections,
            },
        )

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                waited = time.monotonic() - self._beat
                if waited < self.stall_s or self._stalled:
                    continue
                self._stalled = True
            self._count_stall()
            frame = sys._current_frames().get(self._loop_thread or -1)  # noqa: SLF001 (documented in sys)
            where = "".join(traceback.format_stack(frame)[-12:]) if frame is not None else "(no frame)\n"
            log.warning(
                "the event loop has not run for %.0f ms; its thread is at:\n%s",
                waited * 1000,
                where.rstrip(),
                extra={"stall_ms": round(waited * 1000)},
            )
