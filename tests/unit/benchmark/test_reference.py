"""The machine's reference: the worker's processor over the run's own first messages, in the harness."""

from __future__ import annotations

import math

import pytest

from streamer.benchmark.reference import reference_us_per_event
from streamer.benchmark.workload import Workload
from streamer.settings import Settings


def test_the_reference_times_the_processor_over_the_runs_messages() -> None:
    messages = list(Workload(nodes=200, zones=10, now_ms=1_780_000_000_000).messages(1_500))
    us = reference_us_per_event(messages, Settings())
    # a real processor's work per message (validation, windows, detectors): microseconds, not nanoseconds
    assert math.isfinite(us) and 1.0 < us < 100_000.0


def test_corrupt_messages_are_part_of_the_reference_not_an_error() -> None:
    everything_corrupt = Workload(nodes=50, zones=0, corrupt_rate=1.0, now_ms=1_780_000_000_000)
    assert reference_us_per_event(list(everything_corrupt.messages(300)), Settings()) > 0.0


def test_no_messages_is_refused() -> None:
    with pytest.raises(ValueError, match="no messages"):
        reference_us_per_event([], Settings())
