"""The sink's Prometheus metrics and its logger.

Every module of the sink logs as ``streams.sink`` (the name operators
filter on), whichever module the line comes from.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["COMMANDS", "COMMAND_SECONDS", "HEALTHY", "LOOKUPS", "PAUSED", "REPLY_FAILED", "log"]

log = logging.getLogger("streams.sink")

COMMANDS = Counter(
    "switchboard_sink_commands_total", "Commands by connector and outcome", ["connector", "outcome"]
)
COMMAND_SECONDS = Histogram(
    "switchboard_sink_command_seconds", "Command processing time", ["connector"]
)
PAUSED = Gauge("switchboard_sink_paused", "1 while a sink's partitions are paused", ["connector"])
HEALTHY = Gauge(
    "switchboard_sink_healthy", "0 once a sink stopped on a config error", ["connector"]
)
REPLY_FAILED = Counter(
    "switchboard_sink_reply_failed_total",
    "Result copies to a command's reply_to that could not be delivered (dropped)",
    ["connector", "reason"],
)
LOOKUPS = Counter(
    "switchboard_sink_lookups_total",
    "Commands found started but unanswered after a crash, by what looking them up at the "
    "provider gave (found, not_found, error, unsupported)",
    ["connector", "outcome"],
)
