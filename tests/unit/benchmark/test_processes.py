"""Reading a process's CPU and memory from /proc: the parsers, and this test process itself."""

from __future__ import annotations

import os

import pytest

from streamer.benchmark.processes import (
    cpu_seconds,
    descendants,
    machine_busy_share,
    machine_ticks,
    parse_machine_ticks,
    parse_stat,
    parse_status_kib,
    status_kib,
)


def test_parse_stat_counts_fields_after_the_command_name() -> None:
    # A command name with spaces and a parenthesis, as a thread name can have.
    text = "4242 (python (bench) x) S 17 4242 4242 0 -1 4194560 1 0 0 0 1234 567 0 0 20 0 5 0 100 0 0\n"
    assert parse_stat(text) == (17, 1234, 567)


def test_parse_status_lines() -> None:
    text = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
    assert parse_status_kib(text, "VmHWM") == 204800
    assert parse_status_kib(text, "VmRSS") == 102400
    assert parse_status_kib(text, "VmSwap") is None


def test_this_process_is_measured() -> None:
    pid = os.getpid()
    sum(i * i for i in range(200_000))  # some CPU
    assert cpu_seconds([pid]) > 0
    assert status_kib([pid], "VmHWM") >= status_kib([pid], "VmRSS") > 0
    assert pid in descendants(pid)
    assert cpu_seconds([2**22 + 1]) == 0.0  # no such process


def test_the_machine_is_busy_outside_idle_and_iowait() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user already)
    text = "cpu  700 0 200 900 100 30 40 30 500 0\ncpu0 350 0 100 450 50 15 20 15 250 0\n"
    assert parse_machine_ticks(text) == (1000, 2000)
    assert machine_busy_share((1000, 2000), (1900, 3000)) == pytest.approx(0.9)
    assert machine_busy_share((1000, 2000), (1000, 2000)) is None  # no time passed


def test_this_machine_is_measured() -> None:
    before = machine_ticks()
    deadline = sum(i * i for i in range(2_000_000))  # some CPU, so some ticks pass
    after = machine_ticks()
    assert deadline > 0
    assert after[1] > before[1] and after[0] >= before[0]
    share = machine_busy_share(before, after)
    assert share is not None and 0.0 < share <= 1.0
