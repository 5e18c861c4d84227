"""How every Kafka client streamer builds connects to a secured cluster, and what it says when it cannot.

One :class:`KafkaSecurity` (built from the settings) is translated here, and only here, into client options:
:func:`aiokafka_options` for aiokafka producers, consumers and admin clients, :func:`faust_options` for the
Faust app. :func:`check_connection` opens one connection the way the clients do and turns a refusal into a
one-line error: a wrong password is an :class:`~streamer.errors.AuthenticationError` at once, never a
client retrying in a loop. The password is never part of a ``repr``, an error message or a log line
(:func:`redact_logs` guards the last, also against client libraries that log their requests at debug).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from streamer.errors import AuthenticationError, BrokerError, ConfigError, StreamerError

__all__ = [
    "MECHANISMS",
    "PLAINTEXT",
    "PROTOCOLS",
    "KafkaSecurity",
    "aiokafka_options",
    "check_connection",
    "cli_args",
    "connection_failure",
    "faust_options",
    "redact_logs",
]

log = logging.getLogger(__name__)

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
REDACTED = "***"
_CHECK_TIMEOUT_MS = 15_000


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The security settings shared by every client. The password is left out of ``repr``."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"security protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"
            )
        if self.sasl_mechanism not in MECHANISMS:
            raise ConfigError(
                f"SASL mechanism must be one of {', '.join(MECHANISMS)}, got {self.sasl_mechanism!r}"
            )
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise ConfigError(
                f"{self.protocol} needs --sasl-username and --sasl-password (or --sasl-password-file)"
            )
        if not self.uses_sasl and (self.sasl_username or self.sasl_password):
            raise ConfigError(
                f"SASL credentials were given but --security-protocol is {self.protocol}; "
                "use SASL_SSL or SASL_PLAINTEXT"
            )
        files = [self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile]
        if not self.uses_tls and any(f is not None for f in files):
            raise ConfigError(
                f"TLS files were given but --security-protocol is {self.protocol}; use SSL or SASL_SSL"
            )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError("--ssl-keyfile needs --ssl-certfile (the client certificate)")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in {"SSL", "SASL_SSL"}

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in {"SASL_PLAINTEXT", "SASL_SSL"}

    def describe(self) -> str:
        """For messages: ``SASL_SSL (SCRAM-SHA-512 as alice)``; never the password."""
        if self.uses_sasl:
            return f"{self.protocol} ({self.sasl_mechanism} as {self.sasl_username})"
        return self.protocol


PLAINTEXT = KafkaSecurity()


def _ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's CAs), the client certificate for mTLS."""
    try:
        return create_ssl_context(
            cafile=security.ssl_cafile, certfile=security.ssl_certfile, keyfile=security.ssl_keyfile
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        files = ", ".join(
            str(f) for f in (security.ssl_cafile, security.ssl_certfile, security.ssl_keyfile) if f
        )
        raise ConfigError(f"cannot load the TLS files ({files}): {exc}") from None


def aiokafka_options(security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.uses_tls:
        options["ssl_context"] = _ssl_context(security)
    if security.uses_sasl:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password
    return options


def faust_options(security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for the Faust ``App``: ``broker_credentials`` for its consumer and producer."""
    # Imported here so that the commands that never start Faust (feed, dlq, topics) do not load it.
    from faust.auth import SASLCredentials, SSLCredentials

    if security.uses_sasl:
        context = _ssl_context(security) if security.uses_tls else None
        credentials = SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
        return {"broker_credentials": credentials}
    if security.uses_tls:
        return {"broker_credentials": SSLCredentials(_ssl_context(security))}
    return {}


def cli_args(security: KafkaSecurity, directory: Path) -> list[str]:
    """``streamer`` flags that give a child process these settings. The password goes into a file only
    the owner can read in ``directory`` (never onto a command line, which every user can list)."""
    if security.protocol == "PLAINTEXT":
        return []
    args = ["--security-protocol", security.protocol]
    if security.uses_sasl:
        password_file = directory / "sasl-password"
        password_file.touch(mode=0o600)
        password_file.write_text(security.sasl_password, encoding="utf-8")
        args += ["--sasl-mechanism", security.sasl_mechanism, "--sasl-username", security.sasl_username]
        args += ["--sasl-password-file", str(password_file)]
    for flag, path in (
        ("--ssl-cafile", security.ssl_cafile),
        ("--ssl-certfile", security.ssl_certfile),
        ("--ssl-keyfile", security.ssl_keyfile),
    ):
        if path is not None:
            args += [flag, str(path)]
    return args


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        if host and port.isdigit():
            hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise ConfigError(f"bootstrap address {bootstrap!r} is not HOST:PORT[,HOST:PORT...]")
    return hosts


async def check_connection(bootstrap: str, security: KafkaSecurity) -> None:
    """Connect to the first bootstrap broker that answers, with TLS and SASL as configured, and close.

    Raises :class:`AuthenticationError` when the broker refuses the credentials or TLS fails (without trying
    the other brokers: they would refuse them too), :class:`BrokerError` when no broker is reachable.
    """
    options = aiokafka_options(security)
    failures: list[str] = []
    for host, port in _hosts(bootstrap):
        where = f"{host}:{port}"
        try:
            conn = await create_conn(host, port, request_timeout_ms=_CHECK_TIMEOUT_MS, **options)
        except (SaslAuthenticationFailed, IllegalSaslStateError) as exc:
            raise AuthenticationError(
                f"Kafka at {where} refused the credentials of {security.describe()}: {_reason(exc)}"
            ) from None
        except UnsupportedSaslMechanismError as exc:
            raise AuthenticationError(f"Kafka at {where}: {_reason(exc)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise AuthenticationError(
                f"TLS with Kafka at {where} failed: {exc.verify_message or exc.reason} "
                "(is --ssl-cafile the CA that signed the broker's certificate?)"
            ) from None
        except ssl.SSLError as exc:
            raise AuthenticationError(f"TLS with Kafka at {where} failed: {exc.reason or exc}") from None
        except (TimeoutError, OSError, KafkaError) as exc:
            failures.append(f"{where}: {_reason(exc)}")
            continue
        conn.close()
        return
    hint = "" if security.protocol != "PLAINTEXT" else "; if its listener is secured, set --security-protocol"
    raise BrokerError(
        f"cannot reach Kafka at {bootstrap} with {security.describe()} ({'; '.join(failures)}){hint}"
    )


async def connection_failure(bootstrap: str, security: KafkaSecurity, error: BaseException) -> StreamerError:
    """The one-line error for a client that failed to start with ``error``: the reason, found by checking."""
    try:
        await check_connection(bootstrap, security)
    except StreamerError as exc:
        return exc
    return BrokerError(f"cannot reach Kafka at {bootstrap}: {_reason(error)}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def redact_logs(secret: str) -> None:
    """Replace ``secret`` in every log record made from now on (aiokafka logs SASL requests at debug)."""
    if not secret:
        return
    forms = {secret, repr(secret.encode())[2:-1]}  # as text, and as aiokafka prints it inside bytes
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return record
        if any(form in message for form in forms):
            for form in forms:
                message = message.replace(form, REDACTED)
            record.msg, record.args = message, None
        return record

    logging.setLogRecordFactory(factory)
