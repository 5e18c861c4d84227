"""Fetch the pinned Apache Kafka broker jars from Maven Central into a cache outside the repo.

Maven resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies once; later calls
find the cache and return at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from streamer.errors import BrokerError, DependencyMissingError

__all__ = ["KAFKA_VERSION", "cache_root", "ensure_kafka", "require_program"]

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
_FETCH_TIMEOUT_S = 900


def cache_root() -> Path:
    """``$STREAMER_CACHE_DIR``, else ``$XDG_CACHE_HOME/streamer``, else ``~/.cache/streamer``."""
    explicit = os.environ.get("STREAMER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "streamer"


def require_program(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise DependencyMissingError(program, hint)
    return path


def ensure_kafka(version: str = KAFKA_VERSION) -> Path:
    """Return the directory of the broker's jars, fetching them with Maven on first use."""
    libs = cache_root() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = require_program("mvn", "install Maven (Debian: apt-get install maven) to fetch the Kafka broker")
    require_program("java", "install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless)")
    libs.mkdir(parents=True, exist_ok=True)
    pom = resources.files("streamer.broker").joinpath("pom.xml")
    with resources.as_file(pom) as pom_path:
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom_path),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        log.info("fetching Kafka %s jars with Maven into %s", version, libs)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_FETCH_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise BrokerError(f"Maven did not fetch Kafka {version} within {_FETCH_TIMEOUT_S}s") from None
    if proc.returncode != 0 or not any(libs.glob(f"kafka_2.13-{version}.jar")):
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise BrokerError(f"Maven could not fetch Kafka {version}: {tail[0]}")
    marker.write_text(version)
    return libs
