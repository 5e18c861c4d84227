"""The PNG of a results file: the variants side by side, and the long runs tenth by tenth.

matplotlib comes with the bench extra (``pip install -e '.[bench]'``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamer.benchmark import report

__all__ = ["write_plot"]


def _bars(ax: Any, names: list[str], values: list[float | None], title: str, unit: str) -> None:
    shown = [0.0 if v is None else float(v) for v in values]
    bars = ax.bar(names, shown, color="#3b6ea5")
    for bar, value in zip(bars, values, strict=True):
        label = "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(axis="x", labelsize=8, rotation=20)


def write_plot(results: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in (results.get("compare") or {}).get("variants", []) if "error" not in r]
    long_runs = [(name, results[name]) for name in ("soak", "memory") if results.get(name)]
    nrows = (2 if rows else 0) + (1 if long_runs else 0)
    if nrows == 0:
        return
    fig, axes = plt.subplots(nrows, 2, figsize=(11, 3.6 * nrows), squeeze=False)
    i = 0
    if rows:
        names = [r["variant"] for r in rows]
        _bars(axes[0][0], names, [r.get("events_per_s") for r in rows], "steady events/s", "events/s")
        _bars(axes[0][1], names, [r.get("cpu_us_per_event") for r in rows], "CPU per event", "µs")
        _bars(axes[1][0], names, [r.get("peak_rss_mib") for r in rows], "peak RSS (sum of processes)", "MiB")
        ax = axes[1][1]
        p50 = [(r.get("latency") or {}).get("p50_ms") for r in rows]
        p99 = [(r.get("latency") or {}).get("p99_ms") for r in rows]
        x = range(len(names))
        ax.bar([k - 0.2 for k in x], [v or 0 for v in p50], width=0.4, label="p50", color="#3b6ea5")
        ax.bar([k + 0.2 for k in x], [v or 0 for v in p99], width=0.4, label="p99", color="#c0504d")
        ax.set_xticks(list(x), names, fontsize=8, rotation=20)
        ax.set_title(f"end-to-end latency at {report.latency_load(results)}", fontsize=10)
        ax.set_ylabel("ms", fontsize=8)
        ax.legend(fontsize=8)
        i = 2
    if long_runs:
        rate_ax, rss_ax = axes[i]
        for name, section in long_runs:
            tenths = [k + 1 for k in range(len(section.get("tenths_events_per_s") or []))]
            rate_ax.plot(tenths, [v or 0 for v in section["tenths_events_per_s"]], marker="o", label=name)
            rss = section.get("rss_mib_by_tenth") or []
            rss_ax.plot([k + 1 for k in range(len(rss))], [v or 0 for v in rss], marker="o", label=name)
        rate_ax.set_title("one worker: events/s per tenth of the backlog", fontsize=10)
        rss_ax.set_title("one worker: RSS per tenth of the backlog", fontsize=10)
        rate_ax.set_xlabel("tenth", fontsize=8)
        rss_ax.set_xlabel("tenth", fontsize=8)
        rss_ax.set_ylabel("MiB", fontsize=8)
        rate_ax.legend(fontsize=8)
        rss_ax.legend(fontsize=8)
    fig.suptitle(f"streamer bench {results.get('date', '')}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
