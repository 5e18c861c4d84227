"""Configuration, built once and frozen, from CLI flags and ``STREAMER_*`` environment variables.

Nothing here reads the environment at import time: :func:`load_settings` does, when called.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError
from streamer.policy import DEFAULT_PRICE_BANDS, ValidationPolicy, parse_bands
from streamer.topics import TopicNames

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "STREAMER_"


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
    batch_size: int = 500
    batch_within_ms: int = 50
    producer_linger_ms: int = 10
    table_standby_replicas: int = 0
    rocksdb_block_cache_bytes: int = 4 * 1024 * 1024  # per partition DB
    rocksdb_write_buffer_bytes: int = 4 * 1024 * 1024  # per partition DB, two of them
    # The state cache in front of RocksDB: series summaries (detector state; ~6 KB each for a price node)
    # and window panes (~0.3 KB each). Memory is bounded by these, not by the number of series.
    state_cache_series: int = 10_000
    state_cache_panes: int = 200_000
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
    # Static group membership: "auto" derives a stable id from the host name and the data dir (a restarted
    # replica takes its partitions back at once); "" joins as a dynamic member; anything else is the id
    # (a Kubernetes StatefulSet passes the pod name).
    instance_id: str = "auto"
    session_timeout_ms: int = 30_000
    heartbeat_interval_ms: int = 3_000

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def group_instance_id(self) -> str | None:
        """The consumer's ``group.instance.id``, or None for a dynamic member."""
        if self.instance_id != "auto":
            return self.instance_id or None
        where = hashlib.blake2b(str(self.data_dir.resolve()).encode(), digest_size=4).hexdigest()
        return f"{self.app_id}-{socket.gethostname()}-{where}"


def _coerce(name: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not an integer") from None
    if isinstance(current, Path):
        return Path(raw)
    return raw


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


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then ``STREAMER_*`` variables, then explicit overrides (CLI flags); None means unset."""
    env = os.environ if environ is None else environ
    base = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "policy":
            continue
        raw = env.get(f"{ENV_PREFIX}{f.name.upper()}")
        if raw is not None:
            values[f.name] = _coerce(f.name, raw, getattr(base, f.name))
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings = replace(base, **values)
    if settings.state_cache_series < 1 or settings.state_cache_panes < 1:
        raise ConfigError("state cache sizes must be at least 1")
    if settings.partitions < 1 or settings.replication_factor < 1:
        raise ConfigError("partitions and replication factor must be at least 1")
    if not 3 * settings.heartbeat_interval_ms <= settings.session_timeout_ms <= 90_000:
        raise ConfigError(
            "need session timeout <= 90000 ms and at least three heartbeat intervals, got "
            f"{settings.session_timeout_ms} and {settings.heartbeat_interval_ms} ms"
        )
    return replace(settings, policy=_policy_for(settings))
