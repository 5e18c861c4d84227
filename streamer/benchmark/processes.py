"""The processes of a variant: started as children, measured from ``/proc``, stopped.

CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (every thread of the process, so librdkafka's and RocksDB's
threads count), summed over the variant's processes and their descendants. Peak RSS is ``VmHWM`` of
``/proc/<pid>/status``, read just before a process is stopped. Linux only, as the project's machines are.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "Child",
    "cpu_seconds",
    "descendants",
    "machine_busy_share",
    "machine_ticks",
    "parse_machine_ticks",
    "parse_stat",
    "parse_status_kib",
    "status_kib",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> tuple[int, int, int]:
    """``(parent pid, utime, stime)`` in clock ticks from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself contain spaces and parentheses, so the
    fields are counted from the last ``)``."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
    return int(rest[1]), int(rest[11]), int(rest[12])


def parse_status_kib(text: str, name: str) -> int | None:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``), in KiB; None if absent."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return None


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:  # the process has exited
        return None


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds used so far by ``pids`` (processes that have exited count 0)."""
    ticks = 0
    for pid in pids:
        text = _read(f"/proc/{pid}/stat")
        if text is not None:
            _, utime, stime = parse_stat(text)
            ticks += utime + stime
    return ticks / _CLOCK_TICKS


def parse_machine_ticks(text: str) -> tuple[int, int]:
    """``(busy, total)`` clock ticks of all CPUs from the text of ``/proc/stat``. Idle and iowait are not
    busy; guest time is already inside user time, so only the first eight fields count."""
    fields = [int(v) for v in text.splitlines()[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def machine_ticks() -> tuple[int, int]:
    """``(busy, total)`` clock ticks of the whole machine so far (see :func:`parse_machine_ticks`)."""
    text = _read("/proc/stat")
    if text is None:
        raise OSError("/proc/stat is not readable")
    return parse_machine_ticks(text)


def machine_busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of the machine's CPU time that was busy between two :func:`machine_ticks` readings: with
    every process of a run on one machine, near 1.0 means the run was out of cores, whatever each used."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else None


def status_kib(pids: Sequence[int], name: str) -> int:
    """The sum of a ``/proc/<pid>/status`` memory line over ``pids``, in KiB."""
    total = 0
    for pid in pids:
        text = _read(f"/proc/{pid}/status")
        value = None if text is None else parse_status_kib(text, name)
        total += value or 0
    return total


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            text = _read(f"/proc/{entry}/stat")
            if text is not None:
                children.setdefault(parse_stat(text)[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


class Child:
    """One process of a variant, in its own session (so a stop reaches whatever it started), its output in
    a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pids(self) -> list[int]:
        """This process and its descendants (empty once it exited)."""
        return descendants(self.pid) if self.alive else []

    def exit_reason(self) -> str:
        """Why it is not running: its exit code and the last line of its log."""
        code = None if self._proc is None else self._proc.poll()
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        errors = [line for line in lines if "Error" in line or "error" in line]
        last = (errors or lines or ["no output"])[-1][:300]
        return f"{self.name} exited with code {code}: {last}"

    def kill(self, timeout_s: float = 30.0) -> None:
        """SIGKILL the whole session and wait for the process."""
        self._signal(signal.SIGKILL, timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
        self._signal(signal.SIGTERM, timeout_s)

    def _signal(self, sig: signal.Signals, timeout_s: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
