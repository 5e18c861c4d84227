"""The results file, the issue's targets, and the text and Markdown renderings of a run. Pure, no I/O except
:func:`load` and :func:`save`.

One file per day, ``bench/results/<date>.json``: each measurement (``compare``, ``memory``, ``restore``,
``soak``) is a section of it, and running a measurement again replaces its section. The README's table is
:func:`markdown` of that file (``streamer bench --report FILE --markdown``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streamer.benchmark.stats import fitted_last_vs_first

__all__ = [
    "BORROWABLE",
    "MEASUREMENTS",
    "Target",
    "borrow",
    "latency_load",
    "latency_off_load",
    "load",
    "markdown",
    "merge",
    "ratios",
    "save",
    "targets",
    "text",
]

MEASUREMENTS = ("compare", "memory", "restore", "soak")


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def save(path: Path, results: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def merge(
    results: Mapping[str, Any], measurement: str, section: Mapping[str, Any], when: dt.datetime
) -> dict:
    """``results`` with ``section`` as its ``measurement`` (replacing an earlier one of the same day)."""
    if measurement not in MEASUREMENTS:
        raise ValueError(f"unknown measurement {measurement!r}")
    out = dict(results)
    out["date"] = when.date().isoformat()
    out[measurement] = {**section, "measured_at": when.isoformat(timespec="seconds")}
    return out


def _rows(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    compare = results.get("compare") or {}
    return {row["variant"]: row for row in compare.get("variants", [])}


def _rate(rows: Mapping[str, Mapping[str, Any]], name: str) -> float | None:
    row = rows.get(name)
    value = None if row is None else row.get("events_per_s")
    return float(value) if value else None


def ratios(results: Mapping[str, Any]) -> dict[str, float | None]:
    """streamer-1 against each peer, and two workers against one."""
    rows = _rows(results)
    one = _rate(rows, "streamer-1")

    def over(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    return {
        "streamer-1 / quix": over(one, _rate(rows, "quix")),
        "streamer-1 / passthrough": over(one, _rate(rows, "passthrough")),
        "streamer-1 / passthrough-x6": over(one, _rate(rows, "passthrough-x6")),
        "streamer-1 / faust-naive": over(one, _rate(rows, "faust-naive")),
        "streamer-2 / streamer-1": over(_rate(rows, "streamer-2"), one),
    }


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    goal: str
    value: float | None
    unit: str
    check: Callable[[float], bool]

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.check(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "goal": self.goal,
            "value": self.value,
            "unit": self.unit,
            "met": self.met,
        }


def _get(section: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = section
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def targets(results: Mapping[str, Any]) -> list[Target]:
    """The issue's targets, each with the value this run measured (None: not measured)."""
    rows = _rows(results)
    r = ratios(results)
    streamer = rows.get("streamer-1", {})
    memory, soak, restore = results.get("memory"), results.get("soak"), results.get("restore")
    half_load = _latency_rate(results) is None  # else a chosen rate: not judged
    return [
        Target("streamer vs quix", ">= 2x", r["streamer-1 / quix"], "x", lambda v: v >= 2.0),
        Target(
            "streamer vs passthrough", ">= 0.25x", r["streamer-1 / passthrough"], "x", lambda v: v >= 0.25
        ),
        Target(
            "streamer CPU per event", "<= 100 us", streamer.get("cpu_us_per_event"), "us", lambda v: v <= 100
        ),
        Target("2 workers vs 1", ">= 1.7x", r["streamer-2 / streamer-1"], "x", lambda v: v >= 1.7),
        Target(
            "streamer p99 at half load",
            "<= 50 ms",
            _get(streamer, "latency", "p99_ms") if half_load else None,
            "ms",
            lambda v: v <= 50,
        ),
        Target("RSS with 100k series", "<= 512 MiB", _get(memory, "peak_rss_mib"), "MiB", lambda v: v <= 512),
        Target(
            "last tenth vs first (7 days)",
            ">= 0.9x",
            _get(soak, "last_vs_first_tenth"),
            "x",
            lambda v: v >= 0.9,
        ),
        Target("1M-key restore", "<= 30 s", _get(restore, "restore_s"), "s", lambda v: v <= 30),
    ]


def _fmt(value: Any, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float | int):
        text = f"{value:,.{digits}f}"
        return f"{text}{unit}"
    return str(value)


_MD_MARK = "\\*"  # an asterisk, not emphasis or a list item
FEED_HELD = 0.95  # the latency phase's feed reached at least this share of its rate
DRAIN_HELD_S = 1.0  # and the variant's outputs were all written within this long after the feed ended


def latency_off_load(latency: Mapping[str, Any]) -> str | None:
    """Why a latency phase did not run at the load it asked for, or None when it did.

    Its numbers then measure something else: a harness that could not feed at the rate (the machine was
    saturated), or a variant that fell behind and queued."""
    rate, achieved, drain = (
        latency.get("rate_per_s"),
        latency.get("achieved_rate_per_s"),
        latency.get("drain_s"),
    )
    if rate and achieved is not None and achieved < FEED_HELD * rate:
        return f"the feed reached {achieved / rate:.0%} of {rate:,.0f}/s"
    if drain is not None and drain > DRAIN_HELD_S:
        return f"outputs were written until {drain:.1f} s after the feed"
    return None


def _off_load_note(results: Mapping[str, Any], mark: str) -> str:
    """The footnote of the table's latency cells marked ``mark``; empty when every phase held its load."""
    off = [
        f"{name} ({why})"
        for name, row in _rows(results).items()
        if (why := latency_off_load(row.get("latency") or {})) is not None
    ]
    return f"{mark} not at half load, so not comparable: " + "; ".join(off) if off else ""


def _variant_lines(results: Mapping[str, Any], sep: str, off_load_mark: str) -> list[str]:
    lines = []
    for name, row in _rows(results).items():
        if "error" in row:
            lines.append(sep.join([name, f"failed: {row['error']}"]))
            continue
        lat = row.get("latency") or {}
        mark = off_load_mark if latency_off_load(lat) is not None else ""
        lines.append(
            sep.join(
                [
                    name,
                    _fmt(row.get("events_per_s")),
                    _fmt(row.get("cpu_us_per_event"), 1),
                    _fmt(row.get("peak_rss_mib"), 0),
                    _fmt(lat.get("p50_ms"), 1) + mark,
                    _fmt(lat.get("p99_ms"), 1) + mark,
                    _fmt(lat.get("rate_per_s"), 0),
                    _fmt(None if row.get("machine_busy") is None else row["machine_busy"] * 100, 0, "%"),
                ]
            )
        )
    return lines


_HEADER = [
    "variant",
    "events/s",
    "CPU µs/event",
    "peak RSS MiB",
    "p50 ms",
    "p99 ms",
    "at events/s",
    "machine busy",
]


MIX_SHIFT = 0.05  # a topic's share of the outputs moving more than this between the first and last tenth


def _records(restore: Mapping[str, Any]) -> str:
    records = restore.get("changelog_records")
    return "" if records is None else f"{_fmt(records)} records of "


def _changelog(soak: Mapping[str, Any]) -> str:
    """What the worker's changelog held after the soak (results from before the field have none)."""
    records, live = soak.get("changelog_records"), soak.get("changelog_live_keys")
    if records is None or live is None:
        return ""
    return f"; changelog after it: {_fmt(records)} records for {_fmt(live)} live keys"


def _mix_shift(soak: Mapping[str, Any]) -> str:
    """A warning when the soak's first and last tenths processed different kinds of messages, so their rates
    compare the kinds rather than early and late; empty otherwise."""
    moved = [
        f"{topic} {shares[0]:.0%} -> {shares[-1]:.0%}"
        for topic, shares in (soak.get("tenths_output_share") or {}).items()
        if shares and abs(shares[-1] - shares[0]) > MIX_SHIFT
    ]
    return f"; NOT comparable, the tenths hold different kinds ({', '.join(moved)})" if moved else ""


BORROWABLE = ("memory", "restore", "soak")  # one row each, which names the day; the compare is the table


def borrow(results: Mapping[str, Any], other: Mapping[str, Any], measurement: str) -> dict[str, Any]:
    """``results`` with ``other``'s ``measurement`` section (another day's), which keeps its own date: the
    table says where it came from (a measurement the day's changes did not touch, e.g. a 45-minute one)."""
    if measurement not in BORROWABLE:
        raise ValueError(f"only {', '.join(BORROWABLE)} can come from another day, not {measurement!r}")
    if not other.get(measurement):
        raise ValueError(f"no {measurement!r} section in the results of {other.get('date', '?')}")
    return {**results, measurement: {**other[measurement], "borrowed_from": other.get("date", "?")}}


def _borrowed(section: Mapping[str, Any]) -> str:
    day = section.get("borrowed_from")
    return "" if day is None else f" (measured {day}: `bench/results/{day}.json`)"


def _at_most(ms: Any) -> str:
    return "over the last bucket" if ms is None else f"<= {_fmt(ms, 1)} ms"


def _loop_lines(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Per streamer variant, its workers' event-loop lag over the latency phase (when it was read)."""
    out = []
    for name, row in _rows(results).items():
        lag = (row.get("latency") or {}).get("loop_lag")
        if not lag:
            continue
        out.append(
            (
                f"{name} event loop in the latency phase",
                f"lag p99 {_at_most(lag.get('p99_ms_at_most'))}, "
                f"longest {_at_most(lag.get('max_ms_at_most'))} ({_fmt(lag.get('wakes'))} wake-ups); "
                f"{_fmt(lag.get('stalls'))} stalls logged",
            )
        )
    return out


def _reference_lines(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The machine's speed before each variant (streamer.benchmark.reference), when it was measured."""
    references = {
        name: row["reference_us_per_event"]
        for name, row in _rows(results).items()
        if row.get("reference_us_per_event") is not None
    }
    if not references:
        return []
    return [
        (
            "machine reference before each variant (the processor in the harness, CPU µs/event)",
            ", ".join(f"{name} {_fmt(us, 1)}" for name, us in references.items()),
        )
    ]


def _soak_reference(soak: Mapping[str, Any]) -> str:
    reference = soak.get("reference_us_per_event")
    if not reference:
        return ""
    before, after = reference
    return f"; machine reference {_fmt(before, 1)} -> {_fmt(after, 1)} µs/event (before -> after)"


def _other_lines(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = _loop_lines(results) + _reference_lines(results)
    memory = results.get("memory")
    if memory:
        w = memory.get("workload", {})
        out.append(
            (
                f"memory: {w.get('series', 0):,} series x {w.get('intervals')} intervals, "
                f"{w.get('partitions')} partitions, 1 worker",
                f"peak RSS {_fmt(memory.get('peak_rss_mib'))} MiB; RSS by tenth "
                f"{_fmt((memory.get('rss_mib_by_tenth') or [None])[0])} -> "
                f"{_fmt((memory.get('rss_mib_by_tenth') or [None])[-1])} MiB; "
                f"{_fmt(memory.get('events_per_s'))} events/s{_borrowed(memory)}",
            )
        )
    soak = results.get("soak")
    if soak:
        w = soak.get("workload", {})
        tenths = soak.get("tenths_events_per_s") or [None]
        rss = soak.get("rss_mib_by_tenth") or [None]
        fitted = soak.get("fitted_last_vs_first_tenth")
        if fitted is None:  # a results file from before the field: the same line, through the same tenths
            fitted = fitted_last_vs_first(tenths)
        out.append(
            (
                f"no slowdown: {w.get('series', 0):,} series x {w.get('intervals'):,} intervals, 1 worker",
                f"first tenth {_fmt(tenths[0])}/s, last tenth {_fmt(tenths[-1])}/s "
                f"({_fmt(soak.get('last_vs_first_tenth'), 2)}x; on a line through all ten: "
                f"{_fmt(fitted, 2)}x); "
                f"RSS {_fmt(rss[0])} -> {_fmt(rss[-1])} MiB, "
                f"peak {_fmt(soak.get('peak_rss_mib'))} MiB{_changelog(soak)}{_soak_reference(soak)}"
                f"{_mix_shift(soak)}{_borrowed(soak)}",
            )
        )
    restore = results.get("restore")
    if restore:
        out.append(
            (
                f"restore: {_fmt(restore.get('state_keys'))} state keys from {_records(restore)}the "
                "changelog, empty data dir",
                f"restored in {_fmt(restore.get('restore_s'), 1)} s (/readyz after "
                f"{_fmt(restore.get('restore_ready_s'), 1)} s, first output after "
                f"{_fmt(restore.get('restore_first_output_s'), 1)} s; start-up on an empty changelog: "
                f"{_fmt(restore.get('baseline_ready_s'), 1)} s){_borrowed(restore)}",
            )
        )
    return out


def _latency_rate(results: Mapping[str, Any]) -> float | None:
    """The rate every latency phase was held at (``--latency-rate``); None: half of each variant's rate."""
    return (results.get("compare") or {}).get("latency_rate") or None


def latency_load(results: Mapping[str, Any]) -> str:
    """The load of the compare's latency phases, in words."""
    rate = _latency_rate(results)
    return "half of each variant's rate" if rate is None else f"{rate:,.0f} events/s for every variant"


def _workload_line(results: Mapping[str, Any]) -> str:
    compare = results.get("compare") or {}
    w = compare.get("workload") or {}
    if not w:
        return ""
    corrupt = 100 * w.get("corrupt_rate", 0)
    return (
        f"{w.get('messages', 0):,} messages over {w.get('nodes', 0):,} price nodes and "
        f"{w.get('zones', 0)} load zones at 5-minute intervals, {corrupt:.0f}% corrupt, "
        f"{w.get('partitions')} partitions; latency at {latency_load(results)} for up to "
        f"{compare.get('latency_s')} s"
    )


def text(results: Mapping[str, Any]) -> str:
    """A plain-text summary for the terminal."""
    lines = []
    if workload := _workload_line(results):
        lines += [workload, ""]
    if _rows(results):
        lines.append("  ".join(f"{h:>13}" for h in _HEADER))
        for line in _variant_lines(results, "\t", "*"):
            cells = line.split("\t")
            lines.append("  ".join(f"{c:>13}" for c in cells))
        if note := _off_load_note(results, "*"):
            lines.append(note)
        lines.append("")
        lines += [f"{name}: {_fmt(v, 2)}" for name, v in ratios(results).items()]
    for what, result in _other_lines(results):
        lines.append(f"{what}: {result}")
    measured = [t for t in targets(results) if t.value is not None]
    if measured:
        lines.append("")
        for t in measured:
            verdict = "met" if t.met else "NOT met"
            lines.append(f"target {t.name} {t.goal}: {_fmt(t.value, 2)} {t.unit} ({verdict})")
    return "\n".join(lines)


def markdown(results: Mapping[str, Any]) -> str:
    """The README's performance section: the variants, the ratios, the other measurements, the targets."""
    out = []
    date = results.get("date", "?")
    machine = results.get("machine") or {}
    out.append(
        f"Measured {date} by `streamer bench` on {machine.get('cpus', '?')} cores, Python "
        f"{machine.get('python', '?')}, {machine.get('broker', '?')}; "
        f"raw numbers in `bench/results/{date}.json`, plot in `bench/results/{date}.png`."
    )
    if workload := _workload_line(results):
        out += ["", f"Workload: {workload}."]
    if _rows(results):
        out += ["", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        out += ["| " + line + " |" for line in _variant_lines(results, " | ", _MD_MARK)]
        if note := _off_load_note(results, _MD_MARK):
            out += ["", note]
        out += ["", ", ".join(f"{name}: **{_fmt(v, 2)}**" for name, v in ratios(results).items())]
    others = _other_lines(results)
    if others:
        out += ["", "| measurement | result |", "|---|---|"]
        out += [f"| {what} | {result} |" for what, result in others]
    out += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets(results):
        met = "n/a" if t.met is None else ("yes" if t.met else "**no**")
        out.append(
            f"| {t.name} | {t.goal} | {_fmt(t.value, 2)} {t.unit if t.value is not None else ''} | {met} |"
        )
    return "\n".join(out) + "\n"
