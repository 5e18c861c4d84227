"""``streamer schemas`` prints or writes the published schemas, as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from streamer.schemas.catalog import SCHEMA_FILE_BY_TOPIC, load_schema, render

REPO = Path(__file__).resolve().parents[3]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", "schemas", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_prints_one_topic_or_all() -> None:
    one = _run("--topic", "bars.prices")
    assert one.returncode == 0, one.stderr
    assert orjson.loads(one.stdout) == load_schema("bars.prices")
    every = _run()
    assert every.returncode == 0, every.stderr
    assert orjson.loads(every.stdout) == {topic: load_schema(topic) for topic in SCHEMA_FILE_BY_TOPIC}


def test_writes_the_files(tmp_path: Path) -> None:
    result = _run("--out", str(tmp_path / "contracts"))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(SCHEMA_FILE_BY_TOPIC)
    for topic, name in SCHEMA_FILE_BY_TOPIC.items():
        assert (tmp_path / "contracts" / name).read_bytes() == render(load_schema(topic))
    dlq = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "schemas", "--out", str(tmp_path / "one")],
        env={
            "STREAMER_SCHEMAS_TOPIC": "dlq",
            "STREAMER_TOPIC": "raw.prices",
            "STREAMER_OUT": "s3://x",
            "PATH": "",
        },
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert dlq.returncode == 0, dlq.stderr
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["dlq.headers.json"]


def test_an_unknown_topic_is_a_usage_error_and_an_unwritable_folder_a_runtime_error(tmp_path: Path) -> None:
    unknown = _run("--topic", "enriched.weather")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = _run("--out", str(blocker / "sub"))
    assert unwritable.returncode == 1, unwritable.stderr
    assert (
        unwritable.stderr.startswith("streamer: error: cannot write") and unwritable.stderr.count("\n") == 1
    )
