"""Regenerate the checked-in schema files next to this module: ``python -m streamer.schemas``."""

from __future__ import annotations

from pathlib import Path

from streamer.schemas import SCHEMA_FILES, dumps_schema


def main() -> None:
    here = Path(__file__).parent
    for kind, name in SCHEMA_FILES.items():
        (here / name).write_bytes(dumps_schema(kind))


if __name__ == "__main__":
    main()
