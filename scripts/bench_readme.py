"""Put a ``streamer bench`` results file's table into the README, between its ``bench:begin``/``bench:end``
markers (the Performance section), so the README shows exactly that run's numbers.

    .venv/bin/python scripts/bench_readme.py bench/results/2026-01-02.json [--readme README.md]
        [--borrow memory=bench/results/2026-01-01.json]

``--borrow`` takes one measurement from another day's file, and the table says so on its row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamer.benchmark.report import borrow, load, markdown

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md")
    parser.add_argument(
        "--borrow",
        action="append",
        default=[],
        metavar="MEASUREMENT=FILE",
        help="take this measurement from another results file",
    )
    args = parser.parse_args()
    results = load(args.results)
    if not results:
        raise SystemExit(f"bench_readme: {args.results} does not exist or is empty")
    for spec in args.borrow:
        measurement, _, other = spec.partition("=")
        if not other or not Path(other).is_file():
            raise SystemExit(
                f"bench_readme: --borrow {spec!r}: give MEASUREMENT=FILE of an existing results file"
            )
        try:
            results = borrow(results, load(Path(other)), measurement)
        except ValueError as exc:
            raise SystemExit(f"bench_readme: {exc}") from None
    text = args.readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"bench_readme: {args.readme} needs one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    args.readme.write_text(f"{head}{BEGIN}\n{markdown(results)}{END}{tail}", encoding="utf-8")
    print(f"bench_readme: {args.readme} now shows {args.results}")


if __name__ == "__main__":
    main()
