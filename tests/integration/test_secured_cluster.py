"""streamer on a secured cluster: the project's broker with a SASL_SSL listener (TLS with client
certificates, SCRAM-SHA-512 users made by ``kafka-storage format --add-scram``), a CA and certificates made
here with openssl. worker, feed, simulate, topics and every dlq verb run as real processes through it; the
outputs are read back through the same listener. A wrong password is one line and exit 1, at once; the
password never appears in any output, log, ``--help`` or ``--json``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.broker import LocalBroker
from streamer.broker.local import SaslSslListener, free_port
from streamer.kafka_security import KafkaSecurity, aiokafka_options
from tests.integration.tls import Pki, make_pki

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
USER = "streamer-app"
PARTITIONS = 2


@dataclass(frozen=True)
class SecureKafka:
    broker: LocalBroker
    bootstrap: str  # the SASL_SSL listener
    pki: Pki
    password: str
    password_file: Path

    def security(self, **changes: object) -> KafkaSecurity:
        security = KafkaSecurity(
            protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password=self.password,
            ssl_cafile=self.pki.ca,
            ssl_certfile=self.pki.client_cert,
            ssl_keyfile=self.pki.client_key,
        )
        return replace(security, **changes)  # type: ignore[arg-type]

    def env(self, prefix: str, *, password_from: str = "file") -> dict[str, str]:
        """Every setting as its STREAMER_* variable, as a Kubernetes pod gets them."""
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "STREAMER_BOOTSTRAP": self.bootstrap,
            "STREAMER_TOPIC_PREFIX": prefix,
            "STREAMER_PARTITIONS": str(PARTITIONS),
            "STREAMER_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMER_SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMER_SASL_USERNAME": USER,
            "STREAMER_SSL_CAFILE": str(self.pki.ca),
            "STREAMER_SSL_CERTFILE": str(self.pki.client_cert),
            "STREAMER_SSL_KEYFILE": str(self.pki.client_key),
        }
        if password_from == "file":
            env["STREAMER_SASL_PASSWORD_FILE"] = str(self.password_file)
        else:
            env["STREAMER_SASL_PASSWORD"] = self.password
        return env


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    root = tmp_path_factory.mktemp("secure-kafka")
    pki = make_pki(root / "pki", keystore_password=uuid.uuid4().hex)
    password = f"pw-{uuid.uuid4().hex}"
    password_file = root / "sasl-password"
    password_file.write_text(password + "\n")  # as `kubectl create secret --from-file` keeps it
    listener = SaslSslListener(
        port=free_port(),
        keystore=pki.broker_keystore,
        keystore_password=pki.keystore_password,
        truststore=pki.ca,
        users=((USER, password),),
        client_auth="required",
        plain=True,
    )
    broker = LocalBroker(root / "node", sasl_ssl=listener, heap_mb=512)
    broker.start(timeout_s=180)
    try:
        yield SecureKafka(broker, listener.bootstrap, pki, password, password_file)
    finally:
        broker.stop()


@dataclass
class Transcript:
    """Everything the commands of one test printed, to search for the password at the end."""

    texts: list[str]

    def run(
        self, args: Sequence[str], env: dict[str, str], timeout_s: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "streamer.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=timeout_s,
            check=False,
        )
        self.texts += [result.stdout, result.stderr]
        return result

    def json(self, args: Sequence[str], env: dict[str, str]) -> object:
        result = self.run([*args, "--json"], env)
        assert result.returncode == 0, result.stderr
        return orjson.loads(result.stdout)

    def assert_no_secret(self, secret: str) -> None:
        leaked = [text for text in self.texts if secret in text or repr(secret.encode())[2:-1] in text]
        assert not leaked, f"the password appears in {len(leaked)} outputs: {leaked[0][:300]}"


async def _end_offsets(bootstrap: str, security: KafkaSecurity, topics: Sequence[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **aiokafka_options(security))
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    totals = dict.fromkeys(topics, 0)
    for tp, offset in ends.items():
        totals[tp.topic] += offset
    return totals


async def _read(bootstrap: str, security: KafkaSecurity, topic: str) -> list[tuple[int, dict[str, bytes]]]:
    """(offset, headers) of every record of ``topic``, read through the secured listener."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", **aiokafka_options(security)
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[int, dict[str, bytes]]] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += [(r.offset, dict(r.headers)) for r in records]
        return out
    finally:
        await consumer.stop()


def _wait_for(kafka: SecureKafka, topics: Sequence[str], total: int, worker: subprocess.Popen[bytes]) -> None:
    security = kafka.security()
    deadline = time.monotonic() + 180
    seen = 0
    while time.monotonic() < deadline:
        seen = sum(asyncio.run(_end_offsets(kafka.bootstrap, security, topics)).values())
        if seen >= total:
            return
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        time.sleep(1)
    pytest.fail(f"only {seen} of {total} records in {topics} after 180 s")


def test_worker_feed_and_dlq_replay_through_sasl_ssl(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    kafka, out = secure_kafka, Transcript([])
    prefix = f"t{uuid.uuid4().hex[:8]}."
    env = kafka.env(prefix)
    created = out.json(["topics", "create"], env)
    assert isinstance(created, dict) and set(created.values()) == {"created"} and len(created) == 12

    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "-vv", "worker", "--app-id", f"{prefix}app",
             "--data-dir", str(tmp_path / "w1"), "--loglevel", "info"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # feed reads the password from its variable, simulate (like the worker) from the mounted file.
        fed = out.json(
            ["feed", "data/aemo_sa1/DATA200901_SA1.csv", "--format", "aemo"],
            kafka.env(prefix, password_from="env"),
        )
        simulated = out.json(["simulate", "--count", "400", "--corrupt-rate", "0.25", "--seed", "8"], env)
        assert isinstance(fed, dict) and isinstance(simulated, dict)
        inputs = fed["total"] + simulated["total"]
        corrupt = sum(simulated["corrupt"].values())
        assert fed["total"] > 1000 and corrupt > 50

        names = [
            f"{prefix}enriched.prices",
            f"{prefix}enriched.load",
            f"{prefix}enriched.gas",
            f"{prefix}dlq",
        ]
        _wait_for(kafka, names, inputs, worker)
        before = asyncio.run(_end_offsets(kafka.bootstrap, kafka.security(), names))
        dead_letters = before[f"{prefix}dlq"]
        assert sum(before.values()) == inputs  # every input once: enriched or dead-lettered
        assert dead_letters >= corrupt

        stats = out.json(["dlq", "stats"], env)
        assert isinstance(stats, dict) and stats["total"] == dead_letters
        shown = out.json(["dlq", "show", "--limit", "3"], env)
        assert isinstance(shown, list) and len(shown) == 3
        dry = out.json(["dlq", "replay", "--dry-run"], env)
        assert isinstance(dry, dict) and dry["counts"]["replayed"] == dead_letters
        replayed = out.json(["dlq", "replay", "--yes"], env)
        assert isinstance(replayed, dict) and replayed["counts"]["replayed"] == dead_letters

        # The worker validates each replayed record again; none passes, so each is dead-lettered once more,
        # now carrying its replay count.
        _wait_for(kafka, names, inputs + dead_letters, worker)
        after = asyncio.run(_end_offsets(kafka.bootstrap, kafka.security(), names))
        assert sum(after.values()) == inputs + dead_letters
        records = asyncio.run(_read(kafka.bootstrap, kafka.security(), f"{prefix}dlq"))
        counts = [headers.get("streamer.replay_count", b"0") for _, headers in records]
        replayed_rejects = after[f"{prefix}dlq"] - dead_letters
        assert counts.count(b"1") == replayed_rejects and len(counts) == after[f"{prefix}dlq"]
        assert replayed_rejects + sum(after[t] - before[t] for t in names[:3]) == dead_letters
        # The same command again resumes after the first run: only the records dead-lettered since.
        again = out.json(["dlq", "replay", "--yes"], env)
        assert isinstance(again, dict) and again["counts"]["replayed"] == replayed_rejects > 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            code = worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            code = worker.wait(timeout=30)
    assert code == 0, "the worker did not stop cleanly on SIGTERM"
    log_text = worker_log.read_text(errors="replace")
    assert "Authenticated as" in log_text or "streamer" in log_text  # the log holds something to search
    out.texts.append(log_text)
    for verb in (["worker"], ["feed"], ["dlq", "replay"], ["topics", "create"], ["bench"], ["demo"]):
        help_run = out.run([*verb, "--help"], kafka.env(prefix, password_from="env"))
        assert help_run.returncode == 0 and "STREAMER_SASL_PASSWORD" in help_run.stdout
    out.assert_no_secret(kafka.password)


def _failed_authentications(broker: LocalBroker) -> int:
    return broker.log_path.read_text(errors="replace").count("Failed authentication")


@pytest.mark.parametrize(
    "args",
    [
        ["feed", "data/eia_henry_hub", "--format", "eia"],
        ["dlq", "stats"],
        ["dlq", "replay", "--yes"],
        ["topics", "create"],
        ["worker", "--data-dir", "{tmp}/w"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_wrong_password_is_one_line_and_exit_1_at_once(
    secure_kafka: SecureKafka, tmp_path: Path, args: list[str]
) -> None:
    env = {**secure_kafka.env("wrong."), "STREAMER_SASL_PASSWORD_FILE": "", "STREAMER_SASL_PASSWORD": "nope"}
    before = _failed_authentications(secure_kafka.broker)
    started = time.monotonic()
    out = Transcript([])
    result = out.run([a.replace("{tmp}", str(tmp_path)) for a in args], env, timeout_s=60)
    elapsed_s = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamer: error: Kafka at ") and "refused the credentials" in lines[0]
    assert f"SCRAM-SHA-512 as {USER}" in lines[0]
    assert elapsed_s < 20, f"took {elapsed_s:.1f}s"
    # No retry storm: the broker saw a couple of attempts (the client's, then the check's), not a loop.
    time.sleep(1)
    assert _failed_authentications(secure_kafka.broker) - before <= 3
    out.assert_no_secret("nope")


def test_plain_mechanism_at_debug_never_logs_the_password(secure_kafka: SecureKafka) -> None:
    """aiokafka logs every request at debug, SASL/PLAIN's included, and that one holds the password."""
    out = Transcript([])
    env = {**secure_kafka.env("plain."), "STREAMER_SASL_MECHANISM": "PLAIN"}
    assert out.run(["topics", "create"], env).returncode == 0
    result = out.run(["-vvv", "feed", "data/eia_henry_hub", "--format", "eia", "--limit", "20"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SaslAuthenticateRequest" in result.stderr  # the request was logged...
    out.assert_no_secret(secure_kafka.password)  # ...without the password


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"STREAMER_SSL_CAFILE": "other_ca"}, "TLS with Kafka at"),
        ({"STREAMER_SECURITY_PROTOCOL": "PLAINTEXT", "STREAMER_SASL_USERNAME": "", "STREAMER_SSL_CAFILE": "",
          "STREAMER_SSL_CERTFILE": "", "STREAMER_SSL_KEYFILE": "", "STREAMER_SASL_PASSWORD_FILE": ""},
         "if its listener is secured, set --security-protocol"),
    ],
    ids=["untrusted-broker-certificate", "plaintext-client"],
)  # fmt: skip
def test_tls_mistakes_are_one_line(secure_kafka: SecureKafka, changes: dict[str, str], message: str) -> None:
    env = secure_kafka.env("tls.")
    for name, value in changes.items():
        env[name] = str(secure_kafka.pki.other_ca) if value == "other_ca" else value
    result = Transcript([]).run(["dlq", "stats"], env, timeout_s=90)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
