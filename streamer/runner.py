"""Run the Faust app as a worker process (blocking), with clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import faust

from streamer.pipeline import create_app
from streamer.settings import Settings

__all__ = ["run_worker"]


def run_worker(settings: Settings, loglevel: str = "warning") -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
