"""The worker's own record batches land on the partition Kafka's default partitioner would choose."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streamer.sender import RecordBatcher


@dataclass
class Out:
    topic: str
    key: bytes | None
    value: bytes | None = b"{}"
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = 1
    source_partition: int = 5
    partition: int | None = None


class Producer(AIOKafkaProducer):
    """A producer that is never started: partition counts come from here, batches from aiokafka."""

    COUNTS = {"enriched.prices": 12, "bars.prices": 12, "anomalies": 3}

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.COUNTS[topic]))


async def test_a_key_goes_where_the_default_partitioner_sends_it_in_every_topic() -> None:
    producer = Producer(bootstrap_servers="127.0.0.1:1")
    batcher = RecordBatcher()
    keys = [f"PJM:{n}".encode() for n in range(400)]
    # Twice each: the second time from the cache.
    outs = [Out(topic, key) for _ in range(2) for key in keys for topic in Producer.COUNTS]
    outs += [Out("anomalies", None), Out("bars.prices", b"x", partition=7)]
    batches = await batcher.build(producer, outs)
    got = {(b.topic, r.key, r.partition): b.partition for b in batches for r in b.records}
    reference = DefaultPartitioner()
    for (topic, key, explicit), partition in got.items():
        count = Producer.COUNTS[topic]
        if explicit is not None:
            assert partition == explicit
        elif key is None:
            assert partition == 5 % count  # the source partition, for records without a key
        else:
            assert partition == reference(key, list(range(count)), list(range(count))), (topic, key)
    assert sum(len(b.records) for b in batches) == len(outs)
    assert len({p for (t, _, _), p in got.items() if t == "enriched.prices"}) == 12
