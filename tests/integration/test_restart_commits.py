"""After a SIGKILL, a restarted worker takes its partitions back at once, its commits keep up with what it
publishes, and a second SIGKILL re-publishes no more than one batch; a SIGTERMed worker leaves the group.

Runs the chaos sequence of ``scripts/chaos.py`` on the session broker, with half of the backlog produced
while the workers restart ("keep feeding").
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamer.admin import create_topics
from streamer.chaos import ChaosConfig, Step, run_chaos
from streamer.chaos.workers import WorkerProcess
from streamer.settings import load_settings

pytestmark = pytest.mark.integration

BATCH = 200
COMMIT_INTERVAL_S = 1.0
REAL_INTERVAL_MS = 15000


async def test_restarts_take_partitions_back_fast_and_commits_keep_up(bootstrap: str, tmp_path: Path) -> None:
    config = ChaosConfig(
        messages=16_000,
        nodes=300,
        steps=(Step(0.3, "kill_worker"), Step(0.7, "kill_worker")),
        preload=0.5,
        feed_rate=1_500.0,
        worker_args=("--batch-size", str(BATCH), "--commit-interval-ms", str(REAL_INTERVAL_MS)),
        sample_s=1.0,
        bootstrap=bootstrap,
        timeout_s=300.0,
    )
    report = await run_chaos(config, tmp_path)
    result = report.audit
    print(f"\nrestart commits: {result.as_dict()}; steps {[s.as_dict() for s in report.steps]}")
    assert not result.lost, f"lost inputs: {result.lost[:10]}"
    assert result.unknown_origins == 0
    # One batch in flight per SIGKILL may be published twice; nothing since the last commit is.
    assert result.published_twice <= 2 * BATCH, result.as_dict()
    for step in report.steps:
        assert step.first_output_s is not None and step.first_output_s <= 10.0, step.as_dict()
    # Commits keep up: at every steady sample, everything published a commit interval (plus the 1 s sampling
    # period) earlier is committed.
    behind = report.commits_falling_behind(behind_s=COMMIT_INTERVAL_S + 1.5, settle_s=5.0)
    assert not behind, behind[:10]


async def _group(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    """(state, number of members) of ``group``; ("", 0) before it exists."""
    try:
        (response,) = await admin.describe_consumer_groups([group])
    except KafkaError:
        return "", 0
    _error, _group_id, state, _protocol_type, _protocol, members, *_ = response.groups[0]
    return state, len(members)


async def test_a_sigtermed_worker_leaves_the_group_at_once(bootstrap: str, topic_prefix: str, tmp_path: Path):
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix})
    await create_topics(settings)
    group = f"{topic_prefix}app"
    workers = [
        WorkerProcess(
            bootstrap,
            topic_prefix,
            group,
            tmp_path / f"w{i}",
            ("--session-timeout-ms", "45000", "--loglevel", "info"),
        )
        for i in range(2)
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 90
        while await _group(admin, group) != ("Stable", 2):
            assert time.monotonic() < deadline, "the two workers never formed one stable group"
            await asyncio.sleep(0.5)
        stopped_at = time.monotonic()
        assert await asyncio.to_thread(workers[0].terminate) == 0
        while (await _group(admin, group))[1] != 1:
            # A static member that did not leave would stay for the whole 45 s session timeout.
            assert time.monotonic() - stopped_at < 15, "the stopped worker is still a member of the group"
            await asyncio.sleep(0.5)
        print(f"\nSIGTERM: the group had one member {time.monotonic() - stopped_at:.1f}s after the stop")
    finally:
        for worker in workers:
            worker.kill()
        await admin.close()
