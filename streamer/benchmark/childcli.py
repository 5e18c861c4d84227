"""The command line of the bench's own child processes (the passthrough, the Faust agent, the Quix peer).

They are started by the harness, not by users, so they take plain ``argparse`` flags: the broker, the topic
prefix, and the security flags as :func:`streamer.kafka_security.cli_args` writes them (the password as a
file)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from streamer.kafka_security import KafkaSecurity
from streamer.settings import load_settings

__all__ = ["parse_child_args"]

_SECURITY_TEXT = ("--security-protocol", "--sasl-mechanism", "--sasl-username")
_SECURITY_FILES = ("--sasl-password-file", "--ssl-cafile", "--ssl-certfile", "--ssl-keyfile")


def parse_child_args(
    prog: str, argv: Sequence[str], extra: Sequence[str] = ()
) -> tuple[argparse.Namespace, KafkaSecurity]:
    """``--bootstrap``, ``--prefix``, ``--partitions``, the security flags and each of ``extra`` (a
    required string flag)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    for flag in extra:
        parser.add_argument(flag, required=True)
    for flag in _SECURITY_TEXT:
        parser.add_argument(flag)
    for flag in _SECURITY_FILES:
        parser.add_argument(flag, type=Path)
    args = parser.parse_args(list(argv))
    security = load_settings(
        {
            "security_protocol": args.security_protocol,
            "sasl_mechanism": args.sasl_mechanism,
            "sasl_username": args.sasl_username,
            "sasl_password_file": args.sasl_password_file,
            "ssl_cafile": args.ssl_cafile,
            "ssl_certfile": args.ssl_certfile,
            "ssl_keyfile": args.ssl_keyfile,
        }
    ).kafka_security
    return args, security
