"""A real Apache Kafka broker (KRaft, combined broker+controller) run as a child JVM on loopback.

Formats storage the way ``kafka-storage.sh format`` does (``kafka.tools.StorageTool``) and starts
the server the way ``kafka-server-start.sh`` does (``kafka.Kafka``). State lives in ``home``:
``server.properties``, ``data/``, ``broker.log`` and ``broker.json`` (pid and addresses), so another
process (``streamer kafka stop``) can find and stop it.

A node can also serve clients on a secured listener (:class:`SaslSslListener`: TLS, client certificates,
SCRAM-SHA-512 users created at format time with ``kafka-storage format --add-scram``), as a managed
cluster does; the broker's own traffic stays on its PLAINTEXT listener.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from streamer.broker.fetch import KAFKA_VERSION, ensure_kafka, require_program
from streamer.errors import BrokerError

__all__ = ["BrokerState", "LocalBroker", "SaslSslListener", "free_port", "new_cluster_id", "port_open"]

log = logging.getLogger(__name__)

_READY_LINE = "Kafka Server started"
_STATE_FILE = "broker.json"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def new_cluster_id() -> str:
    """A KRaft cluster id: a UUID as 22 characters of URL-safe base64."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


@dataclass(frozen=True, slots=True)
class SaslSslListener:
    """A client listener with TLS and SASL, on ``port``.

    ``keystore`` is a PKCS12 file with the broker's key and certificate, ``truststore`` a PEM file with the
    CA that signs client certificates (``client_auth="required"`` makes the listener mutual TLS). Each of
    ``users`` (name, password) is created as a SCRAM-SHA-512 credential when the storage is formatted;
    with ``plain=True`` the same users may also log in with SASL/PLAIN. Test tooling: the passwords are
    written to the broker's own files and formatting command line.
    """

    port: int
    keystore: Path
    keystore_password: str = field(repr=False)
    truststore: Path
    users: tuple[tuple[str, str], ...] = field(repr=False)
    client_auth: str = "required"
    plain: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> dict[str, str]:
        prefix = "listener.name.sasl_ssl."
        mechanisms = ["SCRAM-SHA-512", *(["PLAIN"] if self.plain else [])]
        props = {
            f"{prefix}ssl.keystore.type": "PKCS12",
            f"{prefix}ssl.keystore.location": str(self.keystore),
            f"{prefix}ssl.keystore.password": self.keystore_password,
            f"{prefix}ssl.key.password": self.keystore_password,
            f"{prefix}ssl.truststore.type": "PEM",
            f"{prefix}ssl.truststore.location": str(self.truststore),
            f"{prefix}ssl.client.auth": self.client_auth,
            f"{prefix}sasl.enabled.mechanisms": ",".join(mechanisms),
            f"{prefix}scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
        }
        if self.plain:
            users = " ".join(f'user_{name}="{password}"' for name, password in self.users)
            props[f"{prefix}plain.sasl.jaas.config"] = (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"
            )
        return props

    def scram_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the users."""
        args = []
        for name, password in self.users:
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return args


@dataclass(frozen=True, slots=True)
class BrokerState:
    pid: int
    node_id: int
    port: int
    controller_port: int
    kafka_version: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class LocalBroker:
    """One KRaft node. For a cluster, give every node the same ``voters`` and ``cluster_id``."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        node_id: int = 1,
        voters: str | None = None,
        cluster_id: str | None = None,
        cluster_size: int = 1,
        heap_mb: int = 768,
        sasl_ssl: SaslSslListener | None = None,
    ) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.node_id = node_id
        self.voters = voters or f"{node_id}@127.0.0.1:{self.controller_port}"
        self.cluster_id = cluster_id or new_cluster_id()
        self.cluster_size = cluster_size
        self.heap_mb = heap_mb
        self.sasl_ssl = sasl_ssl
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "broker.log"

    # -- state shared with other processes -------------------------------------------------------
    @staticmethod
    def read_state(home: Path) -> BrokerState | None:
        path = Path(home) / _STATE_FILE
        try:
            data = json.loads(path.read_text())
            return BrokerState(**data)
        except (OSError, ValueError, TypeError):
            return None

    @classmethod
    def running_state(cls, home: Path) -> BrokerState | None:
        """The state of a broker in ``home`` whose process is alive and whose port answers."""
        state = cls.read_state(home)
        if state and _pid_alive(state.pid) and port_open(state.port):
            return state
        return None

    # -- lifecycle ---------------------------------------------------------------------------------
    def _properties(self) -> str:
        replication = min(3, self.cluster_size)
        min_isr = 2 if self.cluster_size >= 3 else 1
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.sasl_ssl is not None:
            listeners.append(f"SASL_SSL://127.0.0.1:{self.sasl_ssl.port}")
            protocols.append("SASL_SSL:SASL_SSL")
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.home / "data"),
            "num.partitions": "4",
            "default.replication.factor": str(replication),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(replication),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(replication),
            "transaction.state.log.min.isr": str(min_isr),
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": str(replication),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(MAX_MESSAGE_BYTES),
            "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
            "log.retention.hours": "-1",
            **(self.sasl_ssl.properties() if self.sasl_ssl is not None else {}),
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _server_jvm_options(self) -> list[str]:
        """The heap and collector options of Kafka's own start script, and a GC log beside the broker log.

        The whole heap is taken at start. With 256 MiB to start from, G1 kept the heap near 310 MiB with 176
        MiB live, above its marking threshold: in one minute of the benchmark the broker ran 158 concurrent
        marking cycles (150-250 ms each, on a core the worker needs) and paused 241 times for 2.4 s in all;
        with these options, 4 cycles and 24 pauses for 0.3 s."""
        return [
            f"-Xms{self.heap_mb}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            f"-Xlog:gc:file={self.home / 'gc.log'}:time,uptime:filecount=2,filesize=10M",
        ]

    def _java_cmd(self, libs: Path, main_class: str, *args: str, jvm: Sequence[str] = ()) -> list[str]:
        java = require_program(
            "java", "install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless)"
        )
        log4j = resources.files("streamer.broker").joinpath("log4j2.properties")
        return [
            java,
            *jvm,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _format(self, libs: Path, props_path: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cmd = self._java_cmd(
            libs,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={self.cluster_id}",
            "-c",
            str(props_path),
            *(self.sasl_ssl.scram_arguments() if self.sasl_ssl is not None else []),
            jvm=("-Xmx256m",),
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            raise BrokerError(f"formatting Kafka storage failed: {tail[0]}")

    def start(self, timeout_s: float = 120.0) -> None:
        """Fetch (first run), format and start; returns once the broker accepts clients."""
        self.spawn()
        self.wait_ready(timeout_s)

    def spawn(self) -> None:
        """Format (first time) and launch the JVM without waiting: a cluster launches every node first."""
        libs = ensure_kafka()
        self.home.mkdir(parents=True, exist_ok=True)
        props_path = self.home / "server.properties"
        props_path.write_text(self._properties())
        self._format(libs, props_path)
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                self._java_cmd(libs, "kafka.Kafka", str(props_path), jvm=self._server_jvm_options()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        state = BrokerState(self._proc.pid, self.node_id, self.port, self.controller_port, KAFKA_VERSION)
        (self.home / _STATE_FILE).write_text(json.dumps(asdict(state)))

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        offset = 0
        seen_ready = False
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(f"Kafka exited with code {self._proc.returncode}: {self._last_log_line()}")
            if not seen_ready:
                with contextlib.suppress(OSError), self.log_path.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    seen_ready = _READY_LINE.encode() in chunk
                    offset += max(0, len(chunk) - len(_READY_LINE))
            if seen_ready and port_open(self.port):
                log.info("Kafka node %s ready at %s", self.node_id, self.bootstrap)
                return
            time.sleep(0.2)
        raise BrokerError(f"Kafka did not become ready within {timeout_s:.0f}s: {self._last_log_line()}")

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        errors = [line for line in lines if " ERROR " in line or "Exception" in line]
        return (errors or lines or ["empty log"])[-1][:300]

    def _pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        state = self.read_state(self.home)
        return state.pid if state else None

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL if it has not exited in time; waits for exit."""
        self._signal_and_wait(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """SIGKILL, for failover tests: no controlled shutdown."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def _signal_and_wait(self, sig: signal.Signals, timeout_s: float) -> None:
        pid = self._pid()
        if pid is None or not _pid_alive(pid):
            self._forget()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None:
                if self._proc.poll() is not None:
                    break
            elif not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            (self.home / _STATE_FILE).unlink()

    def is_running(self) -> bool:
        pid = self._pid()
        return pid is not None and _pid_alive(pid) and port_open(self.port)
