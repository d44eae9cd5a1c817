"""Response classification: which provider answer means what.

Modelled on airbyte's ``ErrorResolution`` / default error mapping: a table
maps an HTTP status to an :class:`Action`; a connector builds its own
:class:`ErrorMapping` from the default and overrides only what differs:

- ``statuses``: status -> action entries replacing the default ones;
- ``rules``: functions ``(ResponseView) -> Resolution | None`` consulted
  first, for signals the status cannot carry (an HTTP 200 with
  ``{"ok": false}``, a provider's own should-retry header);
- ``request_id_headers``, ``code_fields``/``message_fields``: where this
  provider puts its request id, error code and message.

Contract: :meth:`ErrorMapping.error_for` returns None for a success or the
error (a :mod:`core.errors` class) that the caller should raise; it never
raises itself, whatever the body holds.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from core import errors as e
from core.redaction import redact_url

__all__ = [
    "DEFAULT_STATUS_ACTIONS",
    "Action",
    "ErrorMapping",
    "Resolution",
    "ResponseView",
    "Rule",
    "parse_retry_after",
]


class Action(StrEnum):
    """What the caller should do with a response."""

    SUCCESS = "success"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FATAL_CONFIG = "fatal_config"
    FATAL_REQUEST = "fatal_request"


DEFAULT_STATUS_ACTIONS: Mapping[int, Action] = {
    400: Action.FATAL_REQUEST,
    401: Action.FATAL_CONFIG,
    403: Action.FATAL_CONFIG,
    404: Action.FATAL_REQUEST,
    408: Action.RETRY,
    409: Action.FATAL_REQUEST,
    422: Action.FATAL_REQUEST,
    425: Action.RETRY,
    429: Action.RATE_LIMITED,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}


@dataclass(frozen=True)
class Resolution:
    """A rule's verdict; ``message``/``provider_code`` override what the
    mapping would extract; ``retry_after`` (seconds) sets the retry delay."""

    action: Action
    message: str | None = None
    provider_code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class ResponseView:
    """What a rule sees: the response and its body parsed as JSON (or None)."""

    response: httpx.Response
    body: Any

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


Rule = Callable[[ResponseView], Resolution | None]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or HTTP-date); None if absent
    or invalid. Never negative, never raises."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _first(body: Any, fields: Sequence[str]) -> str | None:
    """The first string found at any of ``fields`` (dotted paths) in ``body``."""
    for path in fields:
        node: Any = body
        for part in path.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
                break
        if isinstance(node, str | int) and not isinstance(node, bool):
            return str(node)
    return None


@dataclass(frozen=True)
class ErrorMapping:
    """Status -> action table plus connector rules and field locations."""

    statuses: Mapping[int, Action] = field(default_factory=lambda: dict(DEFAULT_STATUS_ACTIONS))
    rules: Sequence[Rule] = ()
    request_id_headers: Sequence[str] = (
        "request-id",
        "x-request-id",
        "x-amzn-requestid",
        "x-correlation-id",
    )
    code_fields: Sequence[str] = ("error.code", "error.type", "code", "error", "errors.0.code")
    message_fields: Sequence[str] = (
        "error.message",
        "message",
        "error_description",
        "errors.0.message",
        "detail",
    )

    def override(
        self,
        statuses: Mapping[int, Action] | None = None,
        rules: Sequence[Rule] = (),
        **fields: Any,
    ) -> ErrorMapping:
        """A copy with some statuses replaced and ``rules`` consulted first."""
        return replace(
            self,
            statuses={**self.statuses, **(statuses or {})},
            rules=(*rules, *self.rules),
            **fields,
        )

    def action_for_status(self, status: int) -> Action:
        if status in self.statuses:
            return self.statuses[status]
        if status < 300:
            return Action.SUCCESS
        if status == 304:
            return Action.SUCCESS  # Not Modified: only ever the answer to a conditional request
        if 300 <= status < 400:
            return Action.FATAL_CONFIG  # a redirect we were not allowed to follow
        if status < 500:
            return Action.FATAL_REQUEST
        return Action.RETRY

    def resolve(self, view: ResponseView) -> Resolution:
        for rule in self.rules:
            try:
                verdict = rule(view)
            except Exception:  # a buggy rule must not crash the caller
                verdict = None
            if verdict is not None:
                return verdict
        return Resolution(self.action_for_status(view.status))

    def request_id(self, response: httpx.Response) -> str | None:
        """The first of ``request_id_headers`` present (one pass over the headers)."""
        wanted = {n.lower().encode("latin-1"): i for i, n in enumerate(self.request_id_headers)}
        best: tuple[int, bytes] | None = None
        for name, value in response.headers.raw:
            rank = wanted.get(name.lower())
            if rank is not None and value and (best is None or rank < best[0]):
                best = (rank, value)
        return best[1].decode("latin-1") if best else None

    def error_for(
        self, response: httpx.Response, body: Any, now: datetime | None = None
    ) -> e.SwitchboardError | None:
        """The error to raise for this response, or None when it is a success."""
        view = ResponseView(response, body)
        verdict = self.resolve(view)
        if verdict.action is Action.SUCCESS:
            return None
        status = response.status_code
        kwargs: dict[str, Any] = {
            "status": status,
            "provider_code": verdict.provider_code or _first(body, self.code_fields),
            "provider_message": _first(body, self.message_fields),
            "request_id": self.request_id(response),
            "method": response.request.method,
            "url": redact_url(response.request.url),
        }
        text = verdict.message or f"{response.request.method} {kwargs['url']} -> {status}"
        if verdict.action is Action.RETRY:
            hint = verdict.retry_after
            if hint is None:
                hint = parse_retry_after(response.headers.get("retry-after"), now)
            return e.ServerError(text, retry_after=hint, **kwargs)
        if verdict.action is Action.RATE_LIMITED:
            delay = verdict.retry_after
            if delay is None:
                delay = parse_retry_after(response.headers.get("retry-after"), now)
            retry_at = (now or datetime.now(UTC)) + timedelta(
                seconds=1.0 if delay is None else delay
            )
            return e.RateLimitedError(text, retry_at=retry_at, **kwargs)
        if verdict.action is Action.FATAL_CONFIG:
            return e.FatalConfigError(text, **kwargs)
        return e.FatalRequestError(text, **kwargs)
