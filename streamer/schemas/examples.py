"""The examples in the published schemas: real records of a processor run over AEMO SA1 January 2009 and
Henry Hub gas (the audit and DLQ examples are shaped like those of a real replay and reject)."""

from __future__ import annotations

from typing import Any

from streamer.topics import Kind

__all__ = ["ANOMALY", "AUDIT", "DLQ_HEADERS", "ENRICHED", "LATE", "LOAD_BAR", "PRICE_BAR"]

ENRICHED: dict[Kind, dict[str, Any]] = {
    Kind.PRICES: {
        "market": "AEMO",
        "node": "SA1",
        "interval_start": "2009-01-05T15:30:00+10:00",
        "interval_minutes": 30,
        "lmp": 84.06,
        "currency": "AUD",
        "version": 1,
        "source": "aemo-dispatch",
        "key": "AEMO:SA1",
        "interval_start_ms": 1231133400000,
        "interval_end_ms": 1231135200000,
        "late": False,
        "origin": {"topic": "raw.prices", "partition": 0, "offset": 446},
        "windows": [
            {
                "window": "5m",
                "window_start_ms": 1231133400000,
                "window_end_ms": 1231133700000,
                "count": 1,
                "mean": 84.06,
                "min": 84.06,
                "max": 84.06,
            },
            {
                "window": "1h",
                "window_start_ms": 1231131600000,
                "window_end_ms": 1231135200000,
                "count": 2,
                "mean": 71.25,
                "min": 58.44,
                "max": 84.06,
            },
        ],
        "watermark_ms": 1231133400000,
        "spike": {"score": 8.760154376128954, "median": 20.16, "mad": 4.919999999999998},
        "anomaly_score": 8.760154376128954,
        "anomalies": ["price_spike"],
    },
    Kind.LOAD: {
        "market": "AEMO",
        "zone": "SA1",
        "interval_start": "2009-01-01T00:00:00+10:00",
        "interval_minutes": 30,
        "mw": 1310.89,
        "version": 1,
        "source": "aemo-dispatch",
        "key": "AEMO:SA1",
        "interval_start_ms": 1230732000000,
        "interval_end_ms": 1230733800000,
        "late": False,
        "origin": {"topic": "raw.load", "partition": 0, "offset": 1},
        "windows": [
            {
                "window": "1h",
                "window_start_ms": 1230732000000,
                "window_end_ms": 1230735600000,
                "count": 1,
                "mean": 1310.89,
                "min": 1310.89,
                "max": 1310.89,
            }
        ],
        "watermark_ms": 1230732000000,
        "spike": None,
        "anomaly_score": 0.0,
        "anomalies": [],
    },
    Kind.GAS: {
        "market": "EIA",
        "hub": "HENRY",
        "trade_date": "1997-01-07",
        "price": 3.82,
        "unit": "USD/MMBtu",
        "version": 1,
        "source": "eia",
        "key": "EIA:HENRY",
        "interval_start_ms": 852595200000,
        "interval_end_ms": 852681600000,
        "late": False,
        "origin": {"topic": "raw.gas", "partition": 0, "offset": 2976},
        "windows": [],
        "watermark_ms": 852595200000,
        "spike": None,
        "anomaly_score": 0.0,
        "anomalies": [],
    },
}

PRICE_BAR: dict[str, Any] = {
    "key": "AEMO:SA1",
    "market": "AEMO",
    "node": "SA1",
    "window": "1h",
    "window_start": "2009-01-29T13:00:00+10:00",
    "window_end": "2009-01-29T14:00:00+10:00",
    "open": 9999.9,
    "high": 9999.92,
    "low": 300.0,
    "close": 300.0,
    "mean": 5149.96,
    "min": 300.0,
    "max": 9999.92,
    "count": 2,
    "twap": 5149.96,
}

LOAD_BAR: dict[str, Any] = {
    "key": "AEMO:SA1",
    "market": "AEMO",
    "zone": "SA1",
    "window": "1h",
    "window_start": "2009-01-01T00:00:00+10:00",
    "window_end": "2009-01-01T01:00:00+10:00",
    "mean": 1281.26,
    "min": 1251.63,
    "max": 1310.89,
    "count": 2,
}

ANOMALY: dict[str, Any] = {
    "key": "AEMO:SA1",
    "type": "price_spike",
    "severity": "warning",
    "score": 8.760154376128954,
    "event_time": "2009-01-05T15:30:00+10:00",
    "detected_at": "2026-11-30T23:06:40+10:00",
    "origin": {"topic": "raw.prices", "partition": 0, "offset": 446},
    "context": {"median": 20.16, "mad": 4.919999999999998, "scale": 7.294391999999997, "value": 84.06},
    "kind": "prices",
    "windows": [
        {
            "window": "1h",
            "window_start_ms": 1231131600000,
            "window_end_ms": 1231135200000,
            "count": 2,
            "mean": 71.25,
            "min": 58.44,
            "max": 84.06,
        }
    ],
}

LATE: dict[str, Any] = {
    "key": "AEMO:SA1",
    "kind": "prices",
    "reason": "window_closed",
    "event_time_ms": 1230732000000,
    "version": 1,
    "watermark_ms": 1230800400000,
    "grace_ms": 600000,
    "windows": [
        {
            "window": "1h",
            "window_start_ms": 1230732000000,
            "window_end_ms": 1230735600000,
            "watermark_ms": 1230800400000,
            "reason": "window_closed",
        }
    ],
    "origin": {"topic": "raw.prices", "partition": 0, "offset": 1490},
    "record": {
        "market": "AEMO",
        "node": "SA1",
        "interval_start": "2009-01-01T00:00:00+10:00",
        "interval_minutes": 30,
        "lmp": 21.87,
        "currency": "AUD",
        "version": 1,
        "source": "aemo-dispatch",
        "key": "AEMO:SA1",
        "interval_start_ms": 1230732000000,
        "interval_end_ms": 1230733800000,
    },
}

AUDIT: dict[str, Any] = {
    "action": "replay",
    "replay_id": "4f0c2a9e6b1d4c3a",
    "user": "ops",
    "host": "worker-0",
    "started": "2026-11-30T14:02:11.402+00:00",
    "finished": "2026-11-30T14:02:13.977+00:00",
    "dlq_topic": "dlq",
    "group_id": "streamer-dlq-replay.5d41402abc4b2a76",
    "filters": {"reason": ["out_of_band"], "topic": [], "since": "2h", "until": None, "offset": None},
    "target": "origin topic",
    "options": {
        "max_replays": 3,
        "transform": None,
        "rate_per_s": None,
        "max": None,
        "limit": None,
        "dry_run": False,
    },
    "counts": {
        "examined": 40,
        "replayed": 30,
        "filtered_out": 10,
        "loop_guard": 0,
        "no_origin": 0,
        "transform_skip": 0,
        "replayed_by_reason": {"out_of_band": 30},
        "loop_guard_records": [],
        "transform_skip_records": [],
        "no_origin_records": [],
    },
    "status": "completed",
}

DLQ_HEADERS: dict[str, Any] = {
    "trace-id": "t-17",
    "__streams.errors.exception": "streamer.validation.Rejected",
    "__streams.errors.message": "lmp 20000.0 outside AEMO band [-1000.0, 15000.0]",
    "__streams.errors.topic": "raw.prices",
    "__streams.errors.partition": "2",
    "__streams.errors.offset": "41871",
    "streamer.reason": "out_of_band",
    "streamer.detail": "lmp 20000.0 outside AEMO band [-1000.0, 15000.0]",
    "streamer.replay_count": "0",
    "streamer.schema_version": "1",
}
