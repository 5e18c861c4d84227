"""Topic administration on a real broker: create the contract's topics, list and describe them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamer.errors import BrokerError
from streamer.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options, connection_failure
from streamer.settings import Settings

__all__ = ["TopicPlan", "admin_client", "create_topics", "existing_topics", "plan_topics"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_BIG_MESSAGE_BYTES = str(8 * 1024 * 1024)

TopicPlan = tuple[str, int, dict[str, str]]


def plan_topics(settings: Settings) -> list[TopicPlan]:
    """Every contract topic with its partition count and config.

    Raw topics and the DLQ accept messages up to 8 MiB, so an oversized input is dead-lettered
    (``too_large``) byte for byte instead of failing at the producer.
    """
    names = settings.topics
    big = {"max.message.bytes": _BIG_MESSAGE_BYTES}
    plan: list[TopicPlan] = []
    for name in names.all():
        config = big if name.startswith(f"{settings.topic_prefix}raw.") or name == names.dlq else {}
        plan.append((name, settings.partitions, dict(config)))
    return plan


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, security: KafkaSecurity = PLAINTEXT
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit; an unreachable broker or refused credentials is a one-line
    BrokerError (AuthenticationError)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=30000, **aiokafka_options(security)
    )
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise await connection_failure(bootstrap, security, exc) from None
    try:
        yield admin
    finally:
        await admin.close()


async def create_topics(settings: Settings, plan: Iterable[TopicPlan] | None = None) -> dict[str, str]:
    """Create missing topics. Returns ``{topic: "created" | "exists"}``; raises BrokerError otherwise."""
    wanted = list(plan if plan is not None else plan_topics(settings))
    async with admin_client(settings.bootstrap, settings.kafka_security) as admin:
        try:
            return await _create(admin, settings, wanted)
        except KafkaError as exc:
            raise BrokerError(f"creating topics on {settings.bootstrap} failed: {exc}") from None


async def _create(admin: AIOKafkaAdminClient, settings: Settings, wanted: list[TopicPlan]) -> dict[str, str]:
    new = [
        NewTopic(name, partitions, settings.replication_factor, topic_configs=config)
        for name, partitions, config in wanted
    ]
    response = await admin.create_topics(new, timeout_ms=30000)
    outcome: dict[str, str] = {}
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        if code == 0:
            outcome[name] = "created"
        elif code == _TOPIC_ALREADY_EXISTS:
            outcome[name] = "exists"
        else:
            message = entry[2] if len(entry) > 2 else ""
            raise BrokerError(f"creating topic {name!r} failed with error code {code}: {message}")
    await _wait_for_leaders(admin, [name for name, _, _ in wanted])
    return outcome


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """A new topic's partitions have no leader for a moment; producing then fails. Wait it out."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            topic["error_code"] == 0
            and topic["partitions"]
            and all(part["leader"] >= 0 for part in topic["partitions"])
            for topic in described
        )
        if ready and len(described) == len(names):
            return
        if time.monotonic() > deadline:
            raise BrokerError(f"topics have no partition leaders after {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def existing_topics(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> set[str]:
    async with admin_client(bootstrap, security) as admin:
        return set(await admin.list_topics())
