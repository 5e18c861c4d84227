"""Options and output shared by every CLI verb.

Every option is made with :func:`option`: its environment variable is ``STREAMER_`` plus the flag's name in
upper snake case (``--windows`` reads ``STREAMER_WINDOWS``), shown in ``--help``, and parsed by click like
the flag itself, so a bad value (``STREAMER_DETECTORS=ture``, a negative size) is a usage error (exit 2).
A flag used by several verbs reads the same variable in each, unless it takes another kind of value in one
of them: there the verb is part of the name (``streamer schemas --topic``: ``STREAMER_SCHEMAS_TOPIC``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import orjson

from streamer.kafka_security import MECHANISMS, PROTOCOLS, redact_logs
from streamer.settings import ENV_PREFIX, Settings, load_settings

__all__ = [
    "SECURITY_FLAGS",
    "SettingOption",
    "bootstrap_option",
    "emit_json",
    "envvar_for",
    "fail",
    "json_option",
    "option",
    "prefix_option",
    "security_options",
    "settings_from",
]

F = TypeVar("F", bound=Callable[..., Any])


def envvar_for(flag: str) -> str:
    """``--sasl-password-file`` -> ``STREAMER_SASL_PASSWORD_FILE``."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


class SettingOption(click.Option):
    """A click option whose environment variable is derived from its (first long) flag name.

    ``verb="schemas"`` puts the verb in the name (``STREAMER_SCHEMAS_TOPIC``): for a flag whose name another
    verb uses for a different kind of value, so one exported variable cannot reach both.
    """

    def __init__(self, param_decls: Sequence[str], verb: str | None = None, **attrs: Any) -> None:
        if "envvar" in attrs:
            raise TypeError("the environment variable is derived from the flag name; do not pass envvar")
        attrs.setdefault("show_envvar", True)
        super().__init__(param_decls, **attrs)
        long_flags = [flag for flag in self.opts if flag.startswith("--")]
        if not long_flags:
            raise TypeError(f"option {self.opts} needs a --long name to derive its environment variable")
        self.envvar = envvar_for(f"--{verb}-{long_flags[0][2:]}" if verb else long_flags[0])


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` with the ``STREAMER_<FLAG_NAME>`` variable (see :class:`SettingOption`)."""
    return cast(Callable[[F], F], click.option(*param_decls, cls=SettingOption, **attrs))


def bootstrap_option(func: F) -> F:
    return option("--bootstrap", default=None, help="Kafka bootstrap address [default 127.0.0.1:9092].")(func)


def prefix_option(func: F) -> F:
    return option("--topic-prefix", default=None, help="Prefix for every topic name.")(func)


def json_option(func: F) -> F:
    return option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(func)


# flag -> Settings field; security_options hands them to the command as one ``security`` mapping.
SECURITY_FLAGS: dict[str, str] = {
    "--security-protocol": "security_protocol",
    "--sasl-mechanism": "sasl_mechanism",
    "--sasl-username": "sasl_username",
    "--sasl-password": "sasl_password",
    "--sasl-password-file": "sasl_password_file",
    "--ssl-cafile": "ssl_cafile",
    "--ssl-certfile": "ssl_certfile",
    "--ssl-keyfile": "ssl_keyfile",
}


def security_options(func: F) -> F:
    """The Kafka security flags, passed to the command as ``security``: a mapping of settings values."""
    existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
    options = [
        option(
            "--security-protocol",
            type=click.Choice(PROTOCOLS, case_sensitive=False),
            help="How clients connect to Kafka [default PLAINTEXT].",
        ),
        option(
            "--sasl-mechanism",
            type=click.Choice(MECHANISMS, case_sensitive=False),
            help="SASL mechanism with SASL_SSL or SASL_PLAINTEXT [default PLAIN].",
        ),
        option("--sasl-username", help="SASL user name."),
        option(
            "--sasl-password",
            help="SASL password. Prefer --sasl-password-file or the variable: flags show in process lists.",
        ),
        option(
            "--sasl-password-file",
            type=existing_file,
            help="File holding the SASL password (a mounted Kubernetes secret); a final newline is ignored.",
        ),
        option("--ssl-cafile", type=existing_file, help="CA certificate(s) that signed the brokers' (PEM)."),
        option("--ssl-certfile", type=existing_file, help="Client certificate for mutual TLS (PEM)."),
        option("--ssl-keyfile", type=existing_file, help="Private key of --ssl-certfile (PEM)."),
    ]
    names = list(SECURITY_FLAGS.values())

    @functools.wraps(func)
    def with_security(**kwargs: Any) -> Any:
        security = {name: kwargs.pop(name) for name in names}
        return func(security=security, **kwargs)

    wrapped: Any = with_security
    for decorator in reversed(options):
        wrapped = decorator(wrapped)
    return cast(F, wrapped)


def settings_from(**overrides: Any) -> Settings:
    """Settings from the parsed flags (None means the flag and its variable were not set).

    Once a password is known, every later log line has it replaced (see ``redact_logs``)."""
    settings = load_settings(overrides)
    redact_logs(settings.sasl_password)
    return settings


def emit_json(payload: Any) -> None:
    sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def fail(message: str, exit_code: int = 1) -> None:
    """Stop with a one-line reason on stderr."""
    raise click.exceptions.Exit(_print_error(message, exit_code))


def _print_error(message: str, exit_code: int) -> int:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"streamer: error: {first_line}", err=True)
    return exit_code
