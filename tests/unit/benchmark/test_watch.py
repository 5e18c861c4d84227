"""A benchmark phase gives up when its outputs stop coming, not when a slow run takes long."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from streamer.benchmark import watch
from streamer.benchmark.watch import OutputWatcher, poll_pause_s
from streamer.errors import BenchmarkError
from streamer.settings import Settings


class _Scripted(OutputWatcher):
    """Output counts from a script instead of a broker."""

    def __init__(self, counts: itertools.count[int] | itertools.repeat[int]) -> None:
        super().__init__(Settings(), ["out"], 1, list)
        self.counts = counts

    async def count_by_topic(self) -> tuple[int, ...]:
        return (next(self.counts),)


def _running() -> str | None:
    return None


async def test_a_run_that_keeps_making_progress_is_waited_for_past_the_timeout() -> None:
    watcher = _Scripted(itertools.count())  # one more output per poll of 20 ms: 30 polls, 0.6 s
    last = await watcher.until(30, timeout_s=0.2, alive=_running)
    assert last.outputs == 30
    assert watcher.samples[-1].t_s - watcher.samples[0].t_s > 0.2


async def test_a_run_whose_outputs_stop_gives_up_after_the_timeout() -> None:
    watcher = _Scripted(itertools.repeat(3))
    with pytest.raises(BenchmarkError, match=r"no new output for 0.2s \(3 of 30 outputs\)"):
        await watcher.until(30, timeout_s=0.2, alive=_running)


def test_samples_thin_out_in_proportion_to_the_time_watched() -> None:
    # 20 ms while a run is young (a passthrough's backlog takes about a second), then 2% of the time
    # watched: 0.4 s into a 20 s run, at most 0.5 s however long
    assert poll_pause_s(0.0) == poll_pause_s(1.0) == 0.02
    assert poll_pause_s(20.0) == pytest.approx(0.4)
    assert poll_pause_s(3600.0) == 0.5


async def test_a_long_watch_samples_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:  # the watch's pauses, on a clock of its own
        pauses.append(seconds)
        clock[0] += seconds

    # the watch module's clock and pauses only, not the event loop's
    monkeypatch.setattr(watch, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(watch, "asyncio", SimpleNamespace(sleep=sleep))
    watcher = _Scripted(itertools.count())  # one more output per sample: never stalled
    await watcher.until(2_000, timeout_s=5, alive=_running)
    assert pauses[:50] == [0.02] * 50  # the first second
    assert pauses[-1] == 0.5
    assert clock[0] - 1000.0 > 600  # 2,000 samples at 20 ms would have been 40 s
    assert all(b >= a for a, b in itertools.pairwise(pauses))
