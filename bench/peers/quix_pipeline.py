"""The streamer pipeline's work written the Quix Streams way, as the peer of ``streamer bench``.

The same work on the same messages: every raw message goes through :func:`streamer.validation.validate` (the
same function, the same policy); a valid one is published to ``enriched.*`` (the normalised record plus its
origin); a rejected one is dead-lettered to ``dlq`` byte for byte with the same headers
(:func:`streamer.dlq.dead_letter_headers`), from the application's processing-error callback. Prices and load
feed the same windows as the worker (5-minute and 1-hour tumbling, 1-hour windows every 5 minutes, 10 minutes
of grace) on event time, and each closed window is published to ``bars.*`` with the worker's bar fields.

Configured as its documentation shows users: one ``Application``, default commit interval and producer,
default ("key") window closing, at-least-once. The DLQ records go through the application's own producer, so
they are flushed with every checkpoint like every other output (a producer of one's own would not be).

Not done here, and done by the worker: revision and duplicate checks, anomaly detectors, late-contribution
records, running window statistics in the enriched record.

    python bench/peers/quix_pipeline.py --bootstrap HOST:PORT --prefix P --partitions N \
        --group G --state-dir D
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from quixstreams import Application, message_context
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.dataframe.windows import Count, First, Last, Max, Mean, Min, Sum
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models import Row

from streamer.benchmark.childcli import parse_child_args
from streamer.dlq import Origin, dead_letter_headers
from streamer.kafka_security import KafkaSecurity
from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.sender import MAX_REQUEST_BYTES
from streamer.topics import Kind, TopicNames
from streamer.validation import Accepted, validate
from streamer.windows.aggregates import iso_ms, utc_offset_min

__all__ = ["main"]

_MINUTE_MS = 60_000
_GRACE_MS = 10 * _MINUTE_MS
_VALUE_FIELD = {Kind.PRICES: "lmp", Kind.LOAD: "mw"}


class Rejection(Exception):
    """A message the validator rejected: raised in the dataframe, dead-lettered by the error callback."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DeadLetters:
    """The ``on_processing_error`` callback: a :class:`Rejection` goes to the DLQ and processing goes on;
    anything else is a bug and stops the application."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.produce: Callable[..., Any] | None = None  # set once the application exists

    def __call__(self, exc: Exception, row: Row | None, logger: logging.Logger) -> bool:
        if not isinstance(exc, Rejection) or row is None or self.produce is None:
            return False
        origin = Origin(row.topic, row.partition, row.offset)
        headers = dead_letter_headers(
            list(row.headers or ()), reason=exc.reason, detail=exc.detail, origin=origin
        )
        self.produce(topic=self.topic, key=row.key, value=row.value, headers=headers, timestamp=row.timestamp)
        return True


def _validator(kind: Kind, policy: ValidationPolicy) -> Callable[[bytes | None], dict[str, Any]]:
    def check(value: bytes | None) -> dict[str, Any]:
        result = validate(value, kind, policy, int(time.time() * 1000))
        if not isinstance(result, Accepted):
            raise Rejection(result.reason, result.detail)
        ctx = message_context()
        record = result.record
        record["late"] = False
        record["origin"] = {"topic": ctx.topic, "partition": ctx.partition, "offset": ctx.offset}
        return record

    return check


def _window_input(kind: Kind) -> Callable[[dict[str, Any]], dict[str, Any]]:
    field = _VALUE_FIELD[kind]

    def columns(record: dict[str, Any]) -> dict[str, Any]:
        value = record[field]
        interval_ms = record["interval_end_ms"] - record["interval_start_ms"]
        return {
            "t": record["interval_start_ms"],
            "v": value,
            "vw": value * interval_ms,
            "w": interval_ms,
            "start": record["interval_start"],
        }

    return columns


def _bar(kind: Kind, window: str) -> Callable[[dict[str, Any], Any, int, Any], dict[str, Any]]:
    name_field = "zone" if kind is Kind.LOAD else "node"

    def record(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> dict[str, Any]:
        series = key.decode() if isinstance(key, bytes) else str(key)
        market, _, name = series.partition(":")
        offset_min = utc_offset_min({"interval_start": value["first_start"]})
        out: dict[str, Any] = {
            "key": series,
            "market": market,
            name_field: name,
            "window": window,
            "window_start": iso_ms(value["start"], offset_min),
            "window_end": iso_ms(value["end"], offset_min),
        }
        if kind is Kind.PRICES:
            out.update(open=value["open"], high=value["max"], low=value["min"], close=value["close"])
        out.update(mean=value["mean"], min=value["min"], max=value["max"], count=value["count"])
        if kind is Kind.PRICES:
            out["twap"] = value["vw"] / value["w"] if value["w"] else value["mean"]
        return out

    return record


def _aggregations() -> dict[str, Any]:
    return {
        "open": First("v"),
        "close": Last("v"),
        "max": Max("v"),
        "min": Min("v"),
        "mean": Mean("v"),
        "count": Count(),
        "vw": Sum("vw"),
        "w": Sum("w"),
        "first_start": First("start"),
    }


def _bars(sdf: StreamingDataFrame, kind: Kind, app: Application, names: TopicNames) -> None:
    timed = sdf.apply(_window_input(kind)).set_timestamp(lambda value, key, timestamp, headers: value["t"])
    bars = app.topic(names.bars(kind), key_serializer="bytes", value_serializer="json")
    five_min, hour = 5 * _MINUTE_MS, 60 * _MINUTE_MS
    windows = {
        "5m": timed.tumbling_window(duration_ms=five_min, grace_ms=_GRACE_MS, name="bars_5m"),
        "1h": timed.tumbling_window(duration_ms=hour, grace_ms=_GRACE_MS, name="bars_1h"),
        "1h/5m": timed.hopping_window(
            duration_ms=hour, step_ms=five_min, grace_ms=_GRACE_MS, name="bars_1h_5m"
        ),
    }
    for label, window in windows.items():
        closed = window.agg(**_aggregations()).final()
        closed.apply(_bar(kind, label), metadata=True).to_topic(bars)


def _connection(bootstrap: str, security: KafkaSecurity) -> ConnectionConfig | str:
    if security.protocol == "PLAINTEXT":
        return bootstrap
    options: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": security.protocol.lower()}
    if security.uses_sasl:
        options.update(
            sasl_mechanism=security.sasl_mechanism,
            sasl_username=security.sasl_username,
            sasl_password=security.sasl_password,
        )
    for name, path in (
        ("ssl_ca_location", security.ssl_cafile),
        ("ssl_certificate_location", security.ssl_certfile),
        ("ssl_key_location", security.ssl_keyfile),
    ):
        if path is not None:
            options[name] = str(path)
    return ConnectionConfig(**options)


def build(args: Any, security: KafkaSecurity) -> Application:
    names = TopicNames(args.prefix)
    policy = ValidationPolicy()
    dead_letters = DeadLetters(names.dlq)
    app = Application(
        broker_address=_connection(args.bootstrap, security),
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        on_processing_error=dead_letters,
        loglevel="WARNING",
        # The corrupt inputs include a message of about 1 MB (too_large) that the DLQ must take whole.
        producer_extra_config={"message.max.bytes": MAX_REQUEST_BYTES},
    )
    dead_letters.produce = app._producer.produce  # noqa: SLF001 - flushed with each checkpoint
    for kind in Kind:
        raw = app.topic(names.raw(kind), key_deserializer="bytes", value_deserializer="bytes")
        enriched = app.topic(names.enriched(kind), key_serializer="bytes", value_serializer="json")
        valid = app.dataframe(raw).apply(_validator(kind, policy))
        valid.to_topic(enriched)
        if kind in _VALUE_FIELD:
            _bars(valid, kind, app, names)
    return app


def main(argv: Sequence[str]) -> None:
    args, security = parse_child_args("bench/peers/quix_pipeline.py", argv, ["--group", "--state-dir"])
    build(args, security).run()


if __name__ == "__main__":
    main(sys.argv[1:])
