"""The settings model: one frozen :class:`Settings`, built once per process from CLI flags.

Every flag reads the environment variable ``STREAMER_`` + its name in upper snake case (``--windows`` is
``STREAMER_WINDOWS``), through click's own envvar support (``streamer/cli/common.py``), so a bad value in
the environment is the same usage error as on the command line. :func:`load_settings` takes the parsed
values, reads the password file, checks every value and freezes the result; it never reads the
environment itself. The SASL password is left out of ``repr``.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError
from streamer.kafka_security import KafkaSecurity
from streamer.policy import DEFAULT_PRICE_BANDS, ValidationPolicy, parse_bands
from streamer.topics import TopicNames

__all__ = ["ENV_PREFIX", "FETCH_BUFFER_BYTES", "FETCH_MAX_WAIT_MS", "Settings", "load_settings"]

ENV_PREFIX = "STREAMER_"


# Defaults shared with StreamerApp, which an embedding program may build without create_app.
FETCH_BUFFER_BYTES = 96 * 1024 * 1024
FETCH_MAX_WAIT_MS = 20


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    app_id: str = "streamer"
    data_dir: Path = Path("var/worker")
    partitions: int = 4
    replication_factor: int = 1
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    serve_dashboard: bool = False  # the worker also serves the dashboard page on its web port
    stall_timeout_ms: int = 60_000  # /healthz fails after this long with records waiting and no progress
    loop_stall_ms: int = 250  # log the event loop's stack when it has not run this long (0: never)
    batch_size: int = 200  # bounds what a crash publishes twice (at least once): one batch in flight
    # Bars of closed windows computed per batch, at least (0: all in the batch that closed them). The rest
    # wait for the next batches, so a batch that crosses a 5-minute boundary does not hold up the records
    # behind it. Ignored with exactly once (see create_app).
    bars_per_batch: int = 250
    producer_linger_ms: int = 10
    table_standby_replicas: int = 0
    # RocksDB's memory, shared by every table partition DB of the worker (active and standby) however many
    # it owns: one block cache, and one budget for all memtables together.
    rocksdb_block_cache_bytes: int = 32 * 1024 * 1024
    rocksdb_write_buffer_bytes: int = 32 * 1024 * 1024
    # Segment size of the state changelog topic Faust creates. Kafka compacts only closed segments, and its
    # default segment is 1 GiB, so a smaller changelog was never compacted and a restore read every update
    # ever written (see docs/state.md).
    changelog_segment_bytes: int = 16 * 1024 * 1024
    # Raw records fetched and not yet processed, divided evenly over the raw partitions a worker owns (1 to 8
    # MiB each): 8 MiB per partition at 4 partitions of 3 topics, 2 MiB at 16.
    fetch_buffer_bytes: int = FETCH_BUFFER_BYTES
    # How long the broker may hold a fetch that finds nothing new (Faust's own: 1500 ms). See StreamerApp.
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    # The state cache in front of RocksDB: series summaries (detector state; ~6 KB each for a price node)
    # and window panes (~0.7 KB each in memory). Memory is bounded by these, not by the number of series:
    # about 100 MiB at the defaults, which hold a worker's share of a PJM-sized market (a series has up to
    # 24 panes open with 1-hour windows and an hour of grace). A worker whose series do not fit misses on
    # every event of an interval-ordered feed whatever the size, since each series returns once per interval.
    state_cache_series: int = 5_000
    state_cache_panes: int = 100_000
    grace_ms: int = 10 * 60 * 1000
    price_bands: str = ""  # overrides on top of the defaults, "AEMO=-1000:15000,ERCOT=-250:5000"
    max_value_bytes: int = 64 * 1024
    max_future_ms: int = 2 * 24 * 3600 * 1000
    policy: ValidationPolicy = field(default_factory=ValidationPolicy, compare=False)
    window_specs: str = "5m,1h,1h/5m"  # tumbling "5m", hopping "1h/5m" (1-hour windows every 5 minutes)
    detectors_enabled: bool = True
    stale_clock: str = "event"  # "event": partition watermark (replays); "wall": wall clock (live feeds)
    stale_tick_ms: int = 10_000
    commit_interval_ms: int = 1_000
    # "at_least_once": outputs, then state, then offsets; a crash re-publishes at most the batch in flight.
    # "exactly_once": one Kafka transaction per partition and batch; read_committed readers see each once.
    processing_guarantee: str = "at_least_once"
    # Static group membership: "auto" derives a stable id from the host name and the data dir (a restarted
    # replica takes its partitions back at once); "" joins as a dynamic member; anything else is the id
    # (a Kubernetes StatefulSet passes the pod name).
    instance_id: str = "auto"
    session_timeout_ms: int = 30_000
    heartbeat_interval_ms: int = 3_000
    # Kafka security, one set for every client (streamer.kafka_security translates it).
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    sasl_password_file: Path | None = None  # read by load_settings into sasl_password
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
            sasl_password=self.sasl_password,
            ssl_cafile=self.ssl_cafile,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )

    def without_security(self) -> Settings:
        """The same settings for a PLAINTEXT broker (the embedded one the demo and bench start)."""
        return replace(
            self,
            security_protocol="PLAINTEXT",
            sasl_username="",
            sasl_password="",
            sasl_password_file=None,
            ssl_cafile=None,
            ssl_certfile=None,
            ssl_keyfile=None,
        )

    @property
    def group_instance_id(self) -> str | None:
        """The consumer's ``group.instance.id``, or None for a dynamic member."""
        if self.instance_id != "auto":
            return self.instance_id or None
        where = hashlib.blake2b(str(self.data_dir.resolve()).encode(), digest_size=4).hexdigest()
        return f"{self.app_id}-{socket.gethostname()}-{where}"


# Smallest (and largest) value of each integer setting; a negative size or count is an error, not a default.
_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "partitions": (1, None),
    "replication_factor": (1, None),
    "web_port": (0, 65535),
    "stall_timeout_ms": (1_000, None),
    "loop_stall_ms": (0, None),
    "batch_size": (1, None),
    "bars_per_batch": (0, None),
    "producer_linger_ms": (0, None),
    "table_standby_replicas": (0, None),
    "rocksdb_block_cache_bytes": (0, None),
    "rocksdb_write_buffer_bytes": (256 * 1024, None),
    "changelog_segment_bytes": (1024 * 1024, None),  # Kafka's smallest segment.bytes
    "fetch_buffer_bytes": (1024 * 1024, None),
    "fetch_max_wait_ms": (1, 1500),
    "grace_ms": (0, None),
    "max_value_bytes": (1, None),
    "max_future_ms": (0, None),
    "stale_tick_ms": (1, None),
    "commit_interval_ms": (1, None),
    "session_timeout_ms": (1, None),
    "heartbeat_interval_ms": (1, None),
    "state_cache_series": (1, None),
    "state_cache_panes": (1, None),
}


def _check_types(settings: Settings) -> None:
    defaults = Settings()
    for f in fields(Settings):
        value, default = getattr(settings, f.name), getattr(defaults, f.name)
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{f.name} must be a string, got {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{f.name} must be true or false, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{f.name} must be an integer, got {value!r}")
            low, high = _INT_RANGES.get(f.name, (0, None))
            if value < low or (high is not None and value > high):
                bound = f">= {low}" if high is None else f"between {low} and {high}"
                raise ConfigError(f"{f.name} must be {bound}, got {value}")


def _read_password(settings: Settings) -> Settings:
    """The password from ``sasl_password_file`` (a mounted Kubernetes secret), without its final newline."""
    path = settings.sasl_password_file
    if path is None:
        return settings
    if settings.sasl_password:
        raise ConfigError("give --sasl-password or --sasl-password-file, not both")
    try:
        password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read the SASL password file {path}: {reason}") from None
    if not password:
        raise ConfigError(f"the SASL password file {path} is empty")
    return replace(settings, sasl_password=password)


def _policy_for(settings: Settings) -> ValidationPolicy:
    try:
        overrides = parse_bands(settings.price_bands)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return ValidationPolicy(
        price_bands={**DEFAULT_PRICE_BANDS, **overrides},
        max_value_bytes=settings.max_value_bytes,
        max_future_ms=settings.max_future_ms,
    )


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults, then the given values (parsed CLI flags and their variables; None means unset), checked."""
    names = {f.name for f in fields(Settings)}
    values = {name: value for name, value in (overrides or {}).items() if value is not None}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings = replace(Settings(), **values)
    _check_types(settings)
    if not 3 * settings.heartbeat_interval_ms <= settings.session_timeout_ms <= 90_000:
        raise ConfigError(
            "need session timeout <= 90000 ms and at least three heartbeat intervals, got "
            f"{settings.session_timeout_ms} and {settings.heartbeat_interval_ms} ms"
        )
    if settings.processing_guarantee not in ("at_least_once", "exactly_once"):
        got = settings.processing_guarantee
        raise ConfigError(f"processing guarantee must be at_least_once or exactly_once, got {got!r}")
    settings = _read_password(settings)
    _ = settings.kafka_security  # checks the combination: protocol, credentials, TLS files
    return replace(settings, policy=_policy_for(settings))
