"""Events/s through the full pipeline on a real broker, against a raw aiokafka passthrough and a plain
per-event Faust agent, in one run (DESIGN section 6).

    .venv/bin/python scripts/bench_pipeline.py [--messages 50000] [--bootstrap HOST:PORT]

Without --bootstrap a temporary local Kafka broker is started and stopped.
"""

from __future__ import annotations

import argparse

from streamer.bench import run_benchmark
from streamer.cli.bench import format_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    report = run_benchmark(args.bootstrap, args.messages, partitions=args.partitions)
    messages, partitions = report["messages"], report["partitions"]
    print(f"{messages} price messages per mode, {partitions} partitions, broker {report['bootstrap']}")
    print(format_results(report))


if __name__ == "__main__":
    main()
