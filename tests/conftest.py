"""Session-wide fixtures. The real Kafka broker starts only when an integration test asks for it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from streamer.broker import LocalBroker

# The suite is a gate: the same examples on every run (a red CI is a defect, not a draw), and no per-example
# deadline (the cores are shared). ``HYPOTHESIS_PROFILE=explore`` draws new examples, 1,000 a test where the
# test sets no count.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One real Apache Kafka broker (KRaft) for the whole session. Failing to start is a test error."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka") / "node-1", heap_mb=1024)
    broker.start(timeout_s=180)
    yield broker
    broker.stop()


@pytest.fixture
def bootstrap(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """Unique topic names (and consumer group) per test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def data_dir() -> Path:
    return DATA
