"""Put a ``streamer bench`` results file's table into the README, between its ``bench:begin``/``bench:end``
markers (the Performance section), so the README shows exactly that run's numbers.

    .venv/bin/python scripts/bench_readme.py bench/results/2026-01-02.json [--readme README.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamer.benchmark.report import load, markdown

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md")
    args = parser.parse_args()
    results = load(args.results)
    if not results:
        raise SystemExit(f"bench_readme: {args.results} does not exist or is empty")
    text = args.readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"bench_readme: {args.readme} needs one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    args.readme.write_text(f"{head}{BEGIN}\n{markdown(results)}{END}{tail}", encoding="utf-8")
    print(f"bench_readme: {args.readme} now shows {args.results}")


if __name__ == "__main__":
    main()
