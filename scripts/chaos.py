"""Chaos run: SIGKILL workers and restart brokers mid-backlog, then audit every input offset.

    .venv/bin/python scripts/chaos.py    # 40k messages, 4 partitions: kill at 25%, broker restart at 50%,
                                         # kill at 75%
    .venv/bin/python scripts/chaos.py --steps 0.3:kill_worker --messages 20000 --json

Prints lost inputs, duplicates per output topic, the time from each step to the next output, and the
committed-offset lag per partition over time. Exits 1 when an input was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import orjson
from rich.console import Console
from rich.table import Table

from streamer.chaos import ISSUE_SEQUENCE, ChaosConfig, ChaosReport, Step, run_chaos
from streamer.chaos.scenario import random_steps


def _steps(text: str) -> tuple[Step, ...]:
    out = []
    for part in text.split(","):
        at, _, rest = part.partition(":")
        action, _, target = rest.partition(":")
        out.append(Step(float(at), action, int(target or 0)))
    return tuple(out)


def _print(report: ChaosReport) -> None:
    console = Console()
    result = report.audit
    table = Table(title=f"chaos audit: {result.inputs:,} inputs in {report.elapsed_s:.0f}s")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("lost", f"{len(result.lost):,}")
    table.add_row("inputs published twice", f"{result.published_twice:,} ({result.duplicate_share:.2%})")
    if result.bars_equal is not None:
        table.add_row("bars equal to an uninterrupted run", "yes" if result.bars_equal else "NO")
    table.add_row("repeats with other bytes", f"{result.differing_repeats:,}")
    for topic, n in sorted(result.records.items()):
        table.add_row(f"{topic}: records / duplicates", f"{n:,} / {result.duplicates.get(topic, 0):,}")
    console.print(table)
    steps = Table(title="steps")
    for col in (
        "at",
        "action",
        "t (s)",
        "step took (s)",
        "next output after (s)",
        "all partitions again (s)",
    ):
        steps.add_column(col)
    for s in report.steps:
        first = "-" if s.first_output_s is None else f"{s.first_output_s:.1f}"
        every = "-" if s.all_partitions_resumed_s is None else f"{s.all_partitions_resumed_s:.1f}"
        took = f"{s.restarted_s:.1f}"
        steps.add_row(
            f"{s.step.at:.0%}", f"{s.step.action} {s.step.target}", f"{s.at_s:.1f}", took, first, every
        )
    console.print(steps)
    if report.self_exits:
        exits = Table(title="workers that stopped by themselves (restarted)")
        for col in ("worker", "t (s)", "exit code", "last CRITICAL line"):
            exits.add_column(col)
        for e in report.self_exits:
            exits.add_row(str(e.worker), f"{e.at_s:.1f}", str(e.exit_code), e.reason[-160:])
        console.print(exits)
    lag = Table(title="committed-offset lag per raw partition (records published, not yet committed)")
    lag.add_column("t (s)")
    tps = sorted({tp for sample in report.samples for tp in sample.lag()})
    for topic, partition in tps:
        lag.add_column(f"{topic.rsplit('.', 1)[-1]}[{partition}]", justify="right")
    for sample in report.samples:
        values = sample.lag()
        lag.add_row(f"{sample.t_s:.0f}", *(f"{values.get(tp, 0):,}" for tp in tps))
    console.print(lag)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--corrupt-rate", type=float, default=0.05)
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument("--steps", type=_steps, default=None, help="AT:ACTION[:TARGET],...")
    parser.add_argument("--kills", type=int, default=None, help="random worker SIGKILLs instead of --steps")
    parser.add_argument("--broker-kills", type=int, default=0, help="random broker SIGKILLs (with --kills)")
    parser.add_argument("--compare-bars", action="store_true", help="against an uninterrupted run's bars")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("worker_args", nargs="*", help="extra 'streamer worker' arguments (after --)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connections while a broker restarts
    if args.kills is not None:
        steps = random_steps(args.kills, args.broker_kills, args.workers, args.brokers, args.seed)
    else:
        steps = args.steps or ISSUE_SEQUENCE
    config = ChaosConfig(
        messages=args.messages,
        corrupt_rate=args.corrupt_rate,
        nodes=args.nodes,
        partitions=args.partitions,
        workers=args.workers,
        brokers=args.brokers,
        steps=steps,
        seed=args.seed,
        compare_bars=args.compare_bars,
        worker_args=tuple(args.worker_args),
    )
    report = asyncio.run(run_chaos(config, args.workdir))
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_dict()).decode() + "\n")
    else:
        _print(report)
    return 1 if report.audit.lost else 0


if __name__ == "__main__":
    sys.exit(main())
