"""The short version of the chaos run at scale: a 3-broker KRaft cluster (replication 3, min.insync.replicas
2), two workers in one group, SIGKILLed at random moments, and one broker SIGKILLed and restarted. The
offset-level audit must find nothing lost and the bars of an uninterrupted run; at least once, repeats are
copies of at most the batch in flight at each kill, with the first copy's content (only an anomaly's
``detected_at``, the worker's clock, may be later); exactly once, none (read_committed). A worker
that stops by itself is restarted, as its orchestrator would, but only for the one designed reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.chaos import ChaosConfig
from streamer.chaos.scenario import random_steps, run_chaos

pytestmark = pytest.mark.integration

BATCH = 300
KILLS = 2


def _config(guarantee: str) -> ChaosConfig:
    return ChaosConfig(
        messages=16_000,
        nodes=300,
        workers=2,
        brokers=3,
        steps=random_steps(KILLS, 1, workers=2, brokers=3, seed=11),
        # At least once, a 5-minute boundary's 600 bars are spread over about 12 batches, so the kills also
        # land while closed windows' bars are still to come (exactly once computes them all in one batch).
        worker_args=(
            "--batch-size",
            str(BATCH),
            "--bars-per-batch",
            "50",
            "--processing-guarantee",
            guarantee,
        ),
        compare_bars=True,
        timeout_s=420.0,
    )


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_chaos_on_a_replicated_cluster_loses_nothing(guarantee: str, tmp_path: Path) -> None:
    report = await run_chaos(_config(guarantee), tmp_path)
    result = report.audit
    print(f"\nchaos ({guarantee}): {result.as_dict()}; steps {[s.as_dict() for s in report.steps]}")
    print(f"workers that stopped by themselves (restarted): {[e.as_dict() for e in report.self_exits]}")
    # The one way a worker may stop by itself: partitions taken over (fenced) and not reassigned within a
    # session timeout, as a broker kill can delay that rebalance. A crash is a defect.
    assert all("PartitionsLost" in e.reason for e in report.self_exits), [e.reason for e in report.self_exits]
    assert not result.lost, f"lost inputs: {[str(o) for o in result.lost[:10]]}"
    assert result.unknown_origins == 0
    assert result.bars_equal, result.as_dict()
    assert result.differing_repeats == 0, (
        "a repeated bar, anomaly or late record had other content",
        result.as_dict()["differing_sample"],
    )
    if guarantee == "exactly_once":
        assert result.published_twice == 0 and not result.duplicates, result.duplicates
    else:
        assert result.published_twice <= KILLS * BATCH, result.as_dict()
