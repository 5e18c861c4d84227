"""The ``streamer`` command line: a thin adapter that parses, builds settings and calls the package."""

from __future__ import annotations

import logging
import sys

import click

from streamer import __version__
from streamer.cli.common import option
from streamer.errors import StreamerError

__all__ = ["cli", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="streamer")
@option("-v", "--verbose", count=True, help="Log to stderr (-v warnings, -vv info, -vvv debug).")
def cli(verbose: int) -> None:
    """Validate, window and watch energy-market telemetry on Kafka.

    Every rejected message goes to the dead-letter topic, byte for byte, with its reason.
    """
    # Quiet by default: a failure is reported as one stderr line by main(), and client libraries
    # (aiokafka logs every refused connection) would otherwise bury it. force=True binds the handler
    # to the current stderr on every call.
    level = {0: logging.CRITICAL, 1: logging.WARNING, 2: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def _register() -> None:
    # Imported here so that `streamer --help` stays fast and module import has no side effects.
    from streamer.cli import commands

    for command in commands.all_commands():
        cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Entry point. Usage errors exit 2, runtime failures 1, each with one line on stderr."""
    _register()
    try:
        # With standalone_mode=False click returns the code of a raised Exit instead of exiting.
        outcome = cli.main(args=argv, prog_name="streamer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("streamer: error: aborted", err=True)
        return 1
    except click.UsageError as exc:
        where = f" ({exc.ctx.command_path})" if exc.ctx is not None else ""
        click.echo(f"streamer: error: {exc.format_message()}{where}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"streamer: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except StreamerError as exc:
        click.echo(f"streamer: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("streamer: error: interrupted", err=True)
        return 130
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
