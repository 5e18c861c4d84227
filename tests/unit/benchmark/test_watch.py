"""A benchmark phase gives up when its outputs stop coming, not when a slow run takes long."""

from __future__ import annotations

import itertools

import pytest

from streamer.benchmark.watch import OutputWatcher
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
