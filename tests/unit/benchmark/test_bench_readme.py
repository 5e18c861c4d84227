"""scripts/bench_readme.py: the README's table from one day's results, with measurements borrowed by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_readme.py"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_table_replaces_the_marked_block_and_says_where_a_borrowed_row_is_from(tmp_path: Path) -> None:
    today, older, readme = tmp_path / "2026-01-02.json", tmp_path / "2026-01-01.json", tmp_path / "README.md"
    today.write_bytes(orjson.dumps({"date": "2026-01-02", "restore": {"state_keys": 1000, "restore_s": 9.5}}))
    older.write_bytes(orjson.dumps({"date": "2026-01-01", "memory": {"peak_rss_mib": 459.0}}))
    readme.write_text("intro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n", encoding="utf-8")
    done = _run(today, "--readme", readme, "--borrow", f"memory={older}")
    assert done.returncode == 0, done.stderr
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n<!-- bench:begin -->\nMeasured 2026-01-02 by `streamer bench`")
    assert text.endswith("<!-- bench:end -->\nafter\n")
    assert "old table" not in text
    assert "| restore: 1,000 state keys from the changelog, empty data dir | restored in 9.5 s" in text
    assert "(measured 2026-01-01: `bench/results/2026-01-01.json`) |" in text


def test_borrowing_a_measurement_the_other_file_lacks_is_a_one_line_error(tmp_path: Path) -> None:
    today, older, readme = tmp_path / "2026-01-02.json", tmp_path / "2026-01-01.json", tmp_path / "README.md"
    today.write_bytes(orjson.dumps({"date": "2026-01-02", "restore": {"state_keys": 1000}}))
    older.write_bytes(orjson.dumps({"date": "2026-01-01"}))
    readme.write_text("<!-- bench:begin -->\n<!-- bench:end -->\n", encoding="utf-8")
    done = _run(today, "--readme", readme, "--borrow", f"memory={older}")
    assert done.returncode == 1
    assert done.stderr.strip() == "bench_readme: no 'memory' section in the results of 2026-01-01"
    assert readme.read_text(encoding="utf-8") == "<!-- bench:begin -->\n<!-- bench:end -->\n"


@pytest.mark.parametrize("spec", ["memory", "memory=", "memory=no-such.json"])
def test_a_borrow_without_an_existing_file_is_a_one_line_error(tmp_path: Path, spec: str) -> None:
    today, readme = tmp_path / "2026-01-02.json", tmp_path / "README.md"
    today.write_bytes(orjson.dumps({"date": "2026-01-02", "restore": {"state_keys": 1000}}))
    readme.write_text("<!-- bench:begin -->\n<!-- bench:end -->\n", encoding="utf-8")
    done = _run(today, "--readme", readme, "--borrow", spec)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"bench_readme: --borrow {spec!r}: give MEASUREMENT=FILE of an existing results file"
    )
