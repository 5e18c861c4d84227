"""Session-wide fixtures. The real Kafka broker starts only when an integration test asks for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.broker import LocalBroker

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
