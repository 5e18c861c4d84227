"""``streamer evaluate``: detector accuracy on the labelled real data under ``data/``."""

from __future__ import annotations

from pathlib import Path

import click

from streamer.cli.common import emit_json, fail, json_option, option
from streamer.evaluation import EvaluationRow, run_evaluation

__all__ = ["evaluate", "format_table"]

_COLUMNS = (
    ("dataset", 58),
    ("detectors", 30),
    ("P", 5),
    ("R", 5),
    ("F1", 5),
    ("evR", 9),
    ("evP", 9),
    ("delay", 11),
)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(rows: list[EvaluationRow]) -> str:
    """Point-wise P/R/F1, event-wise recall/precision (with counts), mean/median delay in intervals."""
    lines = ["  ".join(name.ljust(width) for name, width in _COLUMNS)]
    for row in rows:
        s = row.scores
        cells = (
            row.dataset,
            row.detectors,
            _num(s.precision),
            _num(s.recall),
            _num(s.f1),
            f"{s.events_detected}/{s.events}",
            f"{s.predicted_events_true}/{s.predicted_events}",
            f"{_num(s.mean_delay, 1)}/{_num(s.median_delay, 1)}",
        )
        lines.append("  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, _COLUMNS, strict=True)))
    return "\n".join(lines)


@click.command("evaluate")
@option(
    "--datasets",
    "--data-dir",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("data"),
    show_default=True,
    help="Folder with aemo_sa1/, pjm_hourly_kaggle/, nab/ and dutch_power_demand/.",
)
@json_option
def evaluate(data_dir: Path, as_json: bool) -> None:
    """Score the anomaly detectors on the labelled real data (point-wise and event-wise)."""
    if not data_dir.is_dir():
        fail(f"data folder {data_dir} does not exist (run from the repository root or pass --data-dir)", 2)
    try:
        rows = run_evaluation(data_dir)
    except (OSError, KeyError, ValueError) as exc:
        fail(f"cannot evaluate on {data_dir}: {exc}")
        return
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    click.echo(format_table(rows))
    click.echo("P/R/F1 point-wise; evR = true events detected; evP = predicted events that are true;")
    click.echo("delay = mean/median intervals from event start to first detection.")
