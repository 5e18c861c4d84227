"""Options and output shared by every CLI verb. Every flag also reads ``STREAMER_<NAME>``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from streamer.settings import Settings, load_settings

__all__ = ["bootstrap_option", "emit_json", "fail", "json_option", "prefix_option", "settings_from"]

F = TypeVar("F", bound=Callable[..., Any])


def bootstrap_option(func: F) -> F:
    return click.option(
        "--bootstrap",
        envvar="STREAMER_BOOTSTRAP",
        default=None,
        help="Kafka bootstrap address [env STREAMER_BOOTSTRAP; default 127.0.0.1:9092].",
    )(func)


def prefix_option(func: F) -> F:
    return click.option(
        "--topic-prefix",
        envvar="STREAMER_TOPIC_PREFIX",
        default=None,
        help="Prefix for every topic name [env STREAMER_TOPIC_PREFIX].",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(func)


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment plus the flags given (None means the flag was not set)."""
    return load_settings(overrides)


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
