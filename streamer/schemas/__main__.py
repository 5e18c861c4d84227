"""Regenerate the checked-in schema files next to this module: ``python -m streamer.schemas``.

``python -m streamer.schemas --release`` also copies them to ``released/v<major>/``; do that only when a
major version is released (see docs/contracts.md): the released files are the baseline that the evolution
test holds every later change to.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamer.schemas.catalog import generated_files
from streamer.schemas.version import SCHEMA_MAJOR


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    targets = [here]
    if "--release" in argv:
        targets.append(here / "released" / f"v{SCHEMA_MAJOR}")
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in generated_files().items():
            (folder / name).write_bytes(content)


if __name__ == "__main__":
    main(sys.argv[1:])
