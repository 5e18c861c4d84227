"""The event-loop watch: a callback that holds the loop is measured as lag, logged with the stack it held the
loop at, counted once per stall, and the time its thread ran on a CPU and the time the garbage collector took
during it are told apart."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from types import SimpleNamespace

import pytest

from streamer import loop_watch
from streamer.loop_watch import GcSpent, LoopWatch, _GcClock


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call on the loop's thread


def _compute_while_holding(seconds: float) -> None:
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        total += sum(range(1000))  # the worker's own work: its thread is on a CPU all along


def _collect_while_holding(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        gc.collect()


async def _watched(watch: LoopWatch, hold: object, seconds: float) -> None:
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.2)  # a few quiet beats first
    hold(seconds)  # type: ignore[operator]
    await asyncio.sleep(0.2)  # the loop runs again: the watch reports the stall
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_blocked_loop_is_logged_with_where_it_was_held(caplog: pytest.LogCaptureFixture) -> None:
    lags: list[float] = []
    stalls: list[None] = []
    watch = LoopWatch(
        interval_s=0.02, stall_s=0.15, observe_lag=lags.append, count_stall=lambda: stalls.append(None)
    )
    with caplog.at_level(logging.WARNING, logger="streamer.loop_watch"):
        await _watched(watch, _hold_the_loop, 0.5)
    assert len(stalls) == 1, "one stall, counted once however long it lasted"
    held = [r.getMessage() for r in caplog.records if "has not run" in r.getMessage()]
    assert len(held) == 1 and "_hold_the_loop" in held[0] and "time.sleep(seconds)" in held[0]
    (stall, *_) = watch.stalls
    assert 0.45 <= stall.seconds < 1.5 and stall.gc_s < 0.05
    assert stall.cpu_s < 0.2 * stall.seconds  # a sleep: the thread was not on a CPU
    assert max(lags) >= 0.45  # the timer that was due during the stall woke that much later
    assert sorted(lags)[len(lags) // 2] < 0.05  # and the others on time
    resumed = [r for r in caplog.records if "ran again after" in r.getMessage()]
    assert len(resumed) == 1 and resumed[0].stall_ms >= 450  # type: ignore[attr-defined]
    assert resumed[0].cpu_ms < 100  # type: ignore[attr-defined]


async def test_a_stall_of_the_loops_own_work_is_cpu_time() -> None:
    watch = LoopWatch(interval_s=0.02, stall_s=0.15)
    await _watched(watch, _compute_while_holding, 0.4)
    (stall, *_) = watch.stalls
    assert stall.seconds >= 0.35
    assert stall.cpu_s >= 0.5 * stall.seconds  # on a CPU for most of it (not all: the machine is shared)


async def test_garbage_collection_during_a_stall_is_told_apart() -> None:
    watch = LoopWatch(interval_s=0.02, stall_s=0.15)
    garbage = [[i] for i in range(200_000)]  # something for each collection to walk
    await _watched(watch, _collect_while_holding, 0.4)
    del garbage
    (stall, *_) = watch.stalls
    assert stall.seconds >= 0.35
    assert stall.gc_s >= 0.5 * stall.seconds  # most of the stall was the collector
    assert stall.gc_cpu_s >= 0.5 * stall.gc_s  # ... walking objects, on a CPU
    assert stall.gc_collections >= 2  # gc.collect() over and over


def test_a_collection_descheduled_midway_is_long_on_the_wall_clock_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collection whose thread lost its core midway is long on the wall clock only: its CPU time is its
    own work (a worker logged 30-50 ms young collections that freed 7 objects)."""
    wall, cpu = iter([10.0, 10.040, 11.0, 11.002]), iter([5.0, 5.001, 6.0, 6.002])
    monkeypatch.setattr(
        loop_watch, "time", SimpleNamespace(perf_counter=lambda: next(wall), thread_time=lambda: next(cpu))
    )
    clock = _GcClock()
    clock("start", {"generation": 0})
    clock("stop", {"generation": 0, "collected": 7})
    clock("start", {"generation": 1})
    clock("stop", {"generation": 1, "collected": 0})
    spent = clock.take()
    assert spent.seconds == pytest.approx(0.042)
    assert spent.cpu_seconds == pytest.approx(0.003)
    assert (spent.collections, spent.oldest) == (2, 1)
    assert clock.take() == GcSpent()  # read once


async def test_without_a_stall_threshold_only_the_lag_is_measured() -> None:
    lags: list[float] = []
    stalls: list[None] = []
    watch = LoopWatch(
        interval_s=0.02, stall_s=0, observe_lag=lags.append, count_stall=lambda: stalls.append(None)
    )
    await _watched(watch, _hold_the_loop, 0.3)
    assert stalls == [] and watch.stalls == []
    assert max(lags) >= 0.25


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"interval_s": 0}, "interval_s"), ({"stall_s": -1}, "stall_s")]
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoopWatch(**kwargs)
