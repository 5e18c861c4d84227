"""Run the Faust app as a worker process (blocking), with clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import logging.config
import time
from typing import Any

import faust

from streamer.errors import AuthenticationError, BrokerError, ConfigError
from streamer.failure import failure
from streamer.kafka_security import check_connection
from streamer.log_repeats import collapse_repeats
from streamer.native_memory import limit_arenas
from streamer.pipeline import create_app
from streamer.settings import Settings

__all__ = ["build_worker", "logging_config", "run_worker", "tune_gc"]

log = logging.getLogger(__name__)


def logging_config(log_format: str, loglevel: str) -> dict[str, Any] | None:
    """The worker's logging set-up: Faust's own for ``text``; one JSON object per line for ``json``."""
    if log_format == "text":
        return None
    if log_format != "json":
        raise ConfigError(f"log format must be text or json, got {log_format!r}")
    level = loglevel.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "process": "pid",
                },
                "timestamp": False,
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "level": level,
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def run_worker(settings: Settings, loglevel: str = "warning", log_format: str = "text") -> int:
    limit_arenas()  # before Faust's consumer thread and RocksDB's threads start
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = logging_config(log_format, loglevel)
    if config is not None:  # the lines logged while waiting for Kafka are JSON too
        logging.config.dictConfig(config)
    _wait_for_kafka(settings)
    app = create_app(settings)
    collapse_repeats("aiokafka")  # a lost broker: one line per kind of failure per 10 s, not 25 a second
    tune_gc()
    worker = build_worker(app, loglevel, log_format)
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code or (1 if failure() is not None else 0)


def build_worker(app: faust.App, loglevel: str, log_format: str = "text") -> faust.Worker:
    """A Faust worker without its terminal spinner: the spinner sets the root logger to DEBUG so that it can
    spin on every record, which made aiokafka build a debug record for every send (11% of a worker's CPU)."""
    worker = faust.Worker(
        app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(log_format, loglevel),
    )
    worker.spinner = None
    return worker


def tune_gc() -> None:
    """Collect less often, and never look at what start-up built again.

    A worker keeps hundreds of thousands of long-lived objects (cached series, panes, Faust's services) and
    allocates several short-lived ones per event; with the default thresholds the collector's passes over
    the long-lived ones cost 12-15% of the CPU (``scripts/bench_state.py`` reports ``gc_share``). Measured
    through the broker on 100k events over 2,050 series: 155 us of CPU per event by default, 133 with
    these settings.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def _wait_for_kafka(settings: Settings, first_delay_s: float = 1.0, max_delay_s: float = 30.0) -> None:
    """Return once a bootstrap broker answers; until then log each failure and retry with backoff.

    Faust's clients give up at start-up when no broker answers, and the worker would exit; waiting here
    first means a worker started before its cluster (a compose stack, a cluster being restarted) just starts
    later. Refused credentials or failed TLS raise :class:`AuthenticationError` at once: retrying cannot fix
    them, and Faust's clients would retry them forever. SIGTERM or SIGINT while waiting stop the process;
    nothing has been consumed yet, so nothing is lost.
    """
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            asyncio.run(check_connection(settings.bootstrap, settings.kafka_security))
            if attempt > 1:
                log.warning("Kafka at %s answers after %d attempts; starting", settings.bootstrap, attempt)
            return
        except AuthenticationError:
            raise
        except BrokerError as exc:
            log.warning("%s; attempt %d, retrying in %.0f s", exc, attempt, delay)
        time.sleep(delay)
        delay = min(delay * 2, max_delay_s)
        attempt += 1
