"""The one exception hierarchy of streamer.

Validation never raises (it returns ``Rejected``); these are for configuration, I/O and bugs.
Each class carries data a caller can act on instead of parsing messages.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BenchmarkError",
    "BrokerError",
    "ConfigError",
    "DependencyMissingError",
    "FeedError",
    "StreamerError",
    "TopicMissingError",
]


class StreamerError(Exception):
    """Root of every error streamer raises on purpose."""

    retriable: bool = False
    exit_code: int = 1


class ConfigError(StreamerError):
    """A setting is invalid. The CLI maps this to exit code 2 (usage)."""

    exit_code = 2


class DependencyMissingError(StreamerError):
    """A required external program (java, mvn, kcat) is not installed."""

    def __init__(self, program: str, hint: str) -> None:
        super().__init__(f"{program} not found: {hint}")
        self.program = program


class BrokerError(StreamerError):
    """The local Kafka broker could not be fetched, started, reached or stopped."""

    retriable = True


class AuthenticationError(BrokerError):
    """Client and broker could not authenticate each other: refused SASL credentials, an unsupported
    mechanism, a TLS handshake that failed (a certificate that does not verify). Retrying cannot help."""

    retriable = False


class TopicMissingError(StreamerError):
    """A command was asked to write to a topic that does not exist."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist (create it with 'streamer topics create')")
        self.topic = topic


class FeedError(StreamerError):
    """A data file cannot be read in the requested format."""


class BenchmarkError(StreamerError):
    """A benchmark variant failed, stopped or did not finish in time."""


class PartitionsLost(StreamerError):
    """Exactly once: partitions another worker fenced stayed assigned to this one."""
