"""Where a benchmark run's latency tail came from: its slow episodes, each beside what the worker's and the
broker's logs said while it lasted.

``streamer bench --work-dir DIR`` keeps every counted output's latency in ``DIR/<variant>.latency.csv`` and
each worker's log in ``DIR/<variant>.w<N>.log``; with ``--bootstrap`` the broker's log is wherever that broker
writes it (``streamer kafka start --kafka-home H``: ``H/broker.log``). Give the worker's loop watch a low
threshold for such a run (``STREAMER_LOOP_STALL_MS=60``) so that shorter holds are logged too.

    .venv/bin/python scripts/latency_episodes.py DIR/streamer-1.latency.csv \\
        --log DIR/streamer-1.w0.log --log /tmp/kh/broker.log --slow-ms 50
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from streamer.benchmark.latency import episodes, read_samples
from streamer.benchmark.stats import percentile

# Both the worker's and Kafka's log lines start with "[YYYY-MM-DD HH:MM:SS,mmm]".
_STAMP = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3})\]")


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _log_lines(path: Path) -> list[tuple[int, str]]:
    """(UTC ms, first line) of each timestamped line; the stack lines under a loop-watch warning follow it."""
    out: list[tuple[int, str]] = []
    for line in path.read_text(errors="replace").splitlines():
        found = _STAMP.match(line)
        if found:
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            out.append((int(at.timestamp() * 1000) + int(found.group(2)), line))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="a <variant>.latency.csv from a bench work dir")
    parser.add_argument("--slow-ms", type=int, default=50, help="an input slower than this is late [50]")
    parser.add_argument("--top", type=int, default=10, help="episodes to show, worst first [10]")
    parser.add_argument("--log", type=Path, action="append", default=[], help="a log to line up (repeatable)")
    parser.add_argument(
        "--margin-ms", type=int, default=500, help="log lines this long before an episode count [500]"
    )
    args = parser.parse_args()
    try:
        samples = read_samples(args.samples)
        logs = {path: _log_lines(path) for path in args.log}
    except (OSError, ValueError) as exc:
        sys.exit(f"latency_episodes: {exc}")
    if not samples:
        sys.exit(f"latency_episodes: {args.samples} holds no samples")
    latencies = sorted(s.latency_ms for s in samples)
    found = episodes(samples, args.slow_ms)
    late = sum(e.inputs for e in found)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"{len(samples):,} inputs, p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
        f" max {latencies[-1]} ms; {late:,} over {args.slow_ms} ms in {len(found)} episodes"
    )
    for episode in found[: args.top]:
        print(
            f"\n{_clock(episode.start_ms)}-{_clock(episode.end_ms)} (sent): {episode.inputs:,} inputs late,"
            f" worst {episode.worst_ms} ms"
        )
        # The outputs of that stretch came out up to worst_ms after it: a cause lies in between.
        since, until = episode.start_ms - args.margin_ms, episode.end_ms + episode.worst_ms
        for path, lines in logs.items():
            for at, line in lines:
                if since <= at <= until:
                    print(f"  {path.name}: {line[:200]}")


if __name__ == "__main__":
    main()
