"""Print detector accuracy on the labelled real data (same as ``streamer evaluate``).

Usage: .venv/bin/python scripts/evaluate_detectors.py [--data-dir data] [--json]
"""

from __future__ import annotations

import sys

from streamer.cli.evaluate import evaluate

if __name__ == "__main__":
    sys.exit(evaluate.main(prog_name="evaluate_detectors"))
