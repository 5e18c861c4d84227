"""In-process throughput of ``streamer.validation.validate`` on real AEMO SA1 price messages.

Builds one raw price message per AEMO row (35k rows, repeated up to ``--messages``), plus a mixed
set where about 5% are corrupt (bad UTF-8, broken JSON, duplicate keys, missing and mistyped fields,
naive timestamps, out-of-band prices). Prints messages/s (median of ``--repeat`` runs) for both,
and the cost of the duplicate-key check against two alternatives.

    .venv/bin/python scripts/bench_validation.py [--messages 300000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from streamer.policy import ValidationPolicy
from streamer.topics import Kind
from streamer.validation import validate

DATA = Path(__file__).resolve().parent.parent / "data" / "aemo_sa1"
NEM = timezone(timedelta(hours=10))
NOW_MS = 1_900_000_000_000


def aemo_messages() -> list[bytes]:
    """One raw price message per AEMO SA1 row; SETTLEMENTDATE is the interval end in NEM time."""
    messages: list[bytes] = []
    for path in sorted(DATA.glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                end = datetime.strptime(row["SETTLEMENTDATE"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=NEM)
                record = {
                    "market": "AEMO",
                    "node": row["REGION"],
                    "interval_start": (end - timedelta(minutes=30)).isoformat(),
                    "interval_minutes": 30,
                    "lmp": float(row["RRP"]),
                    "currency": "AUD",
                    "version": 1,
                    "source": "aemo-dispatch",
                }
                messages.append(orjson.dumps(record))
    return messages


def corrupt(message: bytes, rng: random.Random) -> bytes:
    record: dict[str, Any] = orjson.loads(message)
    choice = rng.randrange(8)
    if choice == 0:
        return message[:-1] + b"\xff}"
    if choice == 1:
        return message[: rng.randrange(1, len(message))]
    if choice == 2:
        return message[:-1] + b',"lmp":9999}'
    if choice == 3:
        del record["lmp"]
    elif choice == 4:
        record["lmp"] = str(record["lmp"])
    elif choice == 5:
        record["interval_start"] = record["interval_start"][:19]
    elif choice == 6:
        record["lmp"] = 1e6
    else:
        record["version"] = 0
    return orjson.dumps(record)


def mixed(valid: Sequence[bytes], corrupt_rate: float, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [corrupt(m, rng) if rng.random() < corrupt_rate else m for m in valid]


def run(messages: Sequence[bytes], repeat: int, check: Callable[[bytes], object]) -> float:
    """Median messages/s over ``repeat`` runs."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        for message in messages:
            check(message)
        rates.append(len(messages) / (time.perf_counter() - started))
    return statistics.median(rates)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({name for name, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corrupt-rate", type=float, default=0.05)
    args = parser.parse_args()

    base = aemo_messages()
    valid = (base * (args.messages // len(base) + 1))[: args.messages]
    mix = mixed(valid, args.corrupt_rate)
    policy = ValidationPolicy()
    accepted = sum(1 for m in valid if not hasattr(validate(m, Kind.PRICES, policy, NOW_MS), "reason"))
    if accepted != len(valid):
        raise SystemExit(f"only {accepted} of {len(valid)} valid messages accepted")

    def check(message: bytes) -> object:
        return validate(message, Kind.PRICES, policy, NOW_MS)

    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"python {python}, orjson {orjson.__version__}")
    print(f"{len(valid)} messages built from {len(base)} AEMO SA1 rows, median of {args.repeat} runs")
    print(f"validate, valid only:              {run(valid, args.repeat, check):>12,.0f} msg/s")
    corrupt_share = sum(1 for a, b in zip(valid, mix, strict=True) if a is not b) / len(mix)
    print(f"validate, mixed ({corrupt_share:.1%} corrupt):     {run(mix, args.repeat, check):>12,.0f} msg/s")
    # Context for the duplicate-key check: parsing alone, and the stdlib pairs-hook alternative.
    print(f"orjson.loads alone:                 {run(valid, args.repeat, orjson.loads):>12,.0f} msg/s")

    def pairs_hook(message: bytes) -> object:
        return json.loads(message, object_pairs_hook=_unique)

    print(f"json.loads + object_pairs_hook:     {run(valid, args.repeat, pairs_hook):>12,.0f} msg/s")


if __name__ == "__main__":
    main()
