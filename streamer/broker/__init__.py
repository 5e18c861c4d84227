"""The project's own real Kafka broker: fetched from Maven Central, run on loopback."""

from streamer.broker.cluster import LocalCluster
from streamer.broker.fetch import KAFKA_VERSION, ensure_kafka
from streamer.broker.local import BrokerState, LocalBroker

__all__ = ["KAFKA_VERSION", "BrokerState", "LocalBroker", "LocalCluster", "ensure_kafka"]
