"""The Faust boundary fails loudly when the installed Faust or aiokafka is not the one it patches."""

from __future__ import annotations

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.group_coordinator import GroupCoordinator

from streamer import faust_boundary
from streamer.faust_boundary import (
    AIOKAFKA_CONSUMER_ATTRS,
    AIOKAFKA_COORDINATOR_ATTRS,
    FaustVersionError,
    check_faust,
)


def test_the_pinned_faust_has_every_private_name_the_boundary_uses() -> None:
    check_faust()


def test_another_faust_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(FaustVersionError, match=r"faust-streaming==0\.15\.3"):
        check_faust()


def test_a_missing_private_name_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_boundary, "_RELIED_ON", ((faust.Stream, "_no_such_method"),))
    with pytest.raises(FaustVersionError, match=r"Stream\._no_such_method"):
        check_faust()


async def test_aiokafka_has_the_consumer_attributes_the_boundary_sets_and_reads() -> None:
    consumer = AIOKafkaConsumer(group_id="g", group_instance_id="i", bootstrap_servers="127.0.0.1:1")
    for name in AIOKAFKA_CONSUMER_ATTRS:
        assert hasattr(consumer, name), name
    assert consumer._isolation_level == "read_uncommitted"  # noqa: SLF001
    assert consumer._group_instance_id == "i"  # noqa: SLF001
    for name in AIOKAFKA_COORDINATOR_ATTRS:
        assert name in dir(GroupCoordinator) or name in GroupCoordinator.__init__.__code__.co_names, name
