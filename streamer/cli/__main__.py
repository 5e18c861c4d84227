"""``python -m streamer.cli``: the same as the ``streamer`` command."""

from streamer.cli import run

run()
