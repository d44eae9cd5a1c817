"""The worker's logging: one format, every logger, secrets redacted.

Every line the worker writes is ``<time> <LEVEL> <logger>: <message>`` on
stderr, whoever logs it: our modules, faust and mode (whose own formatter
drops the logger name), aiokafka, aiohttp, httpx. The same configuration is
applied before anything starts and handed to faust's worker, which applies
it again when it sets logging up, so no record goes through Python's
``lastResort`` or ``basicConfig`` formats.

At INFO the third-party loggers are lowered to WARNING: faust logs a line
per service started and stopped and two tables of every changelog
partition's offsets on each rebalance (130 lines before ``Ready`` for the
seven installed connectors), none of which an operator acts on. faust's
worker logger stays at the chosen level for its ``Starting...``/``Ready``/
``Stopping...`` lines; the rest comes back with ``--log-level debug``.

The one handler carries :class:`core.redaction.RedactingFilter`, so a
secret in any record (ours or a library's) is scrubbed before it is written.
"""

from __future__ import annotations

import logging.config
from typing import Any

__all__ = ["FORMAT", "configure_logging", "logging_config"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Chatty at INFO; lowered to WARNING unless the worker runs at DEBUG.
QUIET_LOGGERS = (
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "aiohttp",
    "httpx",
    "httpcore",
    "streams.kafka.faust_transport",  # faust's producer and consumer, subclassed
)
# Kept at the worker's level: the lines saying the worker started, is ready, stops.
KEPT_LOGGERS = ("faust.worker", "mode.worker")


def logging_config(level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for a worker logging at ``level``."""
    level = level.upper()
    quiet = level if level == "DEBUG" else "WARNING"
    loggers: dict[str, Any] = {name: {"level": quiet} for name in QUIET_LOGGERS}
    loggers.update({name: {"level": level} for name in KEPT_LOGGERS})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "core.redaction.RedactingFilter"}},
        "formatters": {"default": {"format": FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["redact"],
            }
        },
        "loggers": loggers,
        "root": {"level": level, "handlers": ["default"]},
    }


def configure_logging(level: str) -> None:
    """Apply :func:`logging_config` now (``dictConfig`` consumes its dict, so
    faust's worker is handed a fresh one)."""
    logging.config.dictConfig(logging_config(level))
