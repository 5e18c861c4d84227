"""Every flag of every verb is also the environment variable STREAMER_<FLAG_NAME>, shown in --help, and a
value from the environment is parsed exactly like the flag."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from streamer.cli import cli, main
from streamer.cli.common import SettingOption, envvar_for

REPO = Path(__file__).resolve().parents[3]
NOT_SETTINGS = {"help", "version"}  # eager options that print and exit


def _commands() -> list[tuple[str, click.Command]]:
    main(["--help"])  # registers the verbs
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "streamer")
    return found


def _options() -> list[tuple[str, click.Option]]:
    return [
        (f"{path} {param.opts[-1]}", param)
        for path, command in _commands()
        for param in command.params
        if isinstance(param, click.Option) and param.name not in NOT_SETTINGS
    ]


def test_there_are_options_to_check() -> None:
    flags = {param.opts[0] for _, param in _options()}
    assert {"--bootstrap", "--windows", "--loglevel", "--yes", "--reason", "--sasl-password-file"} <= flags


@pytest.mark.parametrize(("where", "param"), _options(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_reads_streamer_flag_name(where: str, param: click.Option) -> None:
    long_flag = next(flag for flag in param.opts if flag.startswith("--"))
    name = long_flag.removeprefix("--")
    if where.startswith("streamer schemas "):  # --topic and --out mean other things for dlq and the sink
        name = f"schemas-{name}"
    expected = "STREAMER_" + name.replace("-", "_").upper()
    assert isinstance(param, SettingOption), where
    assert param.envvar == expected, where
    assert param.show_envvar, where


@pytest.mark.parametrize(
    ("flag", "variable"),
    [
        ("--windows", "STREAMER_WINDOWS"),
        ("--detectors", "STREAMER_DETECTORS"),
        ("--sasl-password-file", "STREAMER_SASL_PASSWORD_FILE"),
    ],
)
def test_envvar_names(flag: str, variable: str) -> None:
    assert envvar_for(flag) == variable


def test_help_shows_each_variable() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for variable in ("STREAMER_WINDOWS", "STREAMER_LOGLEVEL", "STREAMER_SASL_PASSWORD_FILE"):
        assert variable in result.output


def test_an_explicit_envvar_is_refused() -> None:
    with pytest.raises(TypeError):
        SettingOption(["--windows"], envvar="STREAMER_WINDOW_SPECS")


def _parsed(
    monkeypatch: pytest.MonkeyPatch, path: list[str], env: dict[str, str], args: tuple[str, ...] = ()
) -> dict[str, object]:
    """The values click hands to the verb at ``path``, with ``env`` set: nothing runs."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main(["--help"])
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command.make_context(" ".join(path), list(args)).params


def test_variables_reach_the_verbs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("pw\n")
    params = _parsed(
        monkeypatch,
        ["worker"],
        {
            "STREAMER_WINDOWS": "5m",
            "STREAMER_DETECTORS": "off",
            "STREAMER_LOGLEVEL": "info",
            "STREAMER_SECURITY_PROTOCOL": "sasl_ssl",
            "STREAMER_SASL_PASSWORD_FILE": str(secret),
        },
    )
    assert params["window_specs"] == "5m"
    assert params["detectors_enabled"] is False
    assert params["loglevel"] == "info"
    assert params["security_protocol"] == "SASL_SSL"
    assert params["sasl_password_file"] == secret
    replay = _parsed(
        monkeypatch,
        ["dlq", "replay"],
        {"STREAMER_YES": "true", "STREAMER_REASON": "not_json out_of_band", "STREAMER_KAFKA_HOME": "x"},
    )
    assert replay["yes"] is True
    assert replay["reasons"] == ("not_json", "out_of_band")


def test_a_flag_beats_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    params = _parsed(monkeypatch, ["worker"], {"STREAMER_WINDOWS": "5m"}, ("--windows", "1h"))
    assert params["window_specs"] == "1h"


def test_a_variable_shared_by_several_verbs_takes_the_same_kind_of_value_in_each() -> None:
    """One exported STREAMER_X must not be a valid value for one verb and a usage error for another."""
    kinds: dict[str, set[tuple[str, bool, bool]]] = {}
    for _, param in _options():
        assert isinstance(param.envvar, str)
        kinds.setdefault(param.envvar, set()).add((type(param.type).__name__, param.multiple, param.is_flag))
    assert {variable: kind for variable, kind in kinds.items() if len(kind) > 1} == {}
