"""Real ``streamer worker`` processes for a chaos run: start, SIGKILL, restart on the same data dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from streamer.broker.local import free_port

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """One replica: its own data dir and log file, which survive restarts of its process."""

    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str,
        app_id: str,
        data_dir: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.app_id = app_id
        self.data_dir = data_dir
        self.args = tuple(args)
        self.env = dict(env or {})
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_at_s: float | None = None
        self.web_port = free_port()  # /metrics, /healthz, /readyz of this replica

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "streamer.cli",
            "worker",
            "--bootstrap",
            self.bootstrap,
            "--topic-prefix",
            self.topic_prefix,
            "--app-id",
            self.app_id,
            "--data-dir",
            str(self.data_dir),
            "--web-port",
            str(self.web_port),
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at_s = time.monotonic()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self.exit_code is None

    @property
    def exit_code(self) -> int | None:
        """The exit code of a process that has ended, None while it runs (or before its first start)."""
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit."""
        self._signal(signal.SIGKILL, 30.0)

    def terminate(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM and wait (a clean stop); SIGKILL if it does not exit in time. Returns the exit code."""
        return self._signal(signal.SIGTERM, timeout_s)

    def _signal(self, sig: signal.Signals, timeout_s: float) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        return proc.returncode
