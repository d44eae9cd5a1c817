"""Metrics and structured logs for provider calls.

Metrics (prometheus-client, registered once in the default registry so the
worker's ``GET /metrics`` exposes them):

- ``switchboard_http_requests_total{connector,method,status}``: one per
  attempt; ``status`` is the HTTP status or an error code (``network``,
  ``circuit_open``, ...).
- ``switchboard_http_request_duration_seconds{connector,method}``: attempt latency.
- ``switchboard_http_retries_total{connector,reason}``: retries scheduled.
- ``switchboard_ratelimit_wait_seconds{connector}``: time spent waiting for budget.
- ``switchboard_ratelimit_throttled_total{connector}``: 429/throttle answers seen.
- ``switchboard_breaker_state{connector,host}``: 0 closed, 1 half-open, 2 open.
- ``switchboard_breaker_transitions_total{connector,host,state}``.

Logs: :func:`log_event` logs one structured record whose ``extra`` fields
are redacted before the record is created (see :mod:`core.redaction`), so no
handler configuration is needed for secrets to stay out of logs.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.redaction import redact_mapping, redact_text

__all__ = ["METRICS", "Metrics", "log_event"]


class Metrics:
    """The client's metric families. Build your own with a private
    ``registry`` to isolate tests; everything else uses :data:`METRICS`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        self.requests = Counter(
            "switchboard_http_requests",
            "Provider HTTP attempts by connector, method and outcome.",
            ["connector", "method", "status"],
            **kw,
        )
        self.latency = Histogram(
            "switchboard_http_request_duration_seconds",
            "Provider HTTP attempt latency.",
            ["connector", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            **kw,
        )
        self.retries = Counter(
            "switchboard_http_retries",
            "Retries scheduled by the provider client.",
            ["connector", "reason"],
            **kw,
        )
        self.ratelimit_wait = Counter(
            "switchboard_ratelimit_wait_seconds",
            "Seconds spent waiting for rate budget.",
            ["connector"],
            **kw,
        )
        self.throttled = Counter(
            "switchboard_ratelimit_throttled",
            "Throttle answers (429, THROTTLED) received.",
            ["connector"],
            **kw,
        )
        self.breaker_state = Gauge(
            "switchboard_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["connector", "host"],
            **kw,
        )
        self.breaker_transitions = Counter(
            "switchboard_breaker_transitions",
            "Circuit breaker state changes.",
            ["connector", "host", "state"],
            **kw,
        )


METRICS = Metrics()


def log_event(
    logger: logging.Logger, level: int, event: str, /, *, exc: bool = False, **fields: Any
) -> None:
    """Log ``event`` with ``fields`` as structured extras, all redacted.

    Cheap when the level is disabled: nothing is formatted or redacted.
    """
    if not logger.isEnabledFor(level):
        return
    extra = redact_mapping(fields)
    detail = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
    logger.log(
        level,
        "%s %s",
        event,
        redact_text(detail),
        extra={"event": event, **extra},
        exc_info=exc,
    )
