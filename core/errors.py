"""The one error tree for everything that talks to a provider.

Each branch tells the caller what to do, so code above the client (sinks,
polls) never inspects HTTP statuses itself::

    SwitchboardError                 root; .status .provider_code .message .request_id
    ├── RetriableError               try again later (backoff); the request may succeed
    │   ├── NetworkError             connect/read/write failure, timeout, reset
    │   ├── ServerError              408/425/500/502/503/504, provider "retry" signals
    │   ├── RateLimitedError         429 or provider throttle; .retry_at
    │   └── CircuitOpenError         breaker open, request not sent; .retry_at
    ├── FatalConfigError             stop and fix configuration: 401/403, bad settings
    │   └── PolicyError              invalid client policy (also a ValueError)
    ├── FatalRequestError            this request can never succeed: dead-letter it
    │   │                            (400/404/409/422, other 4xx, GraphQL errors)
    │   ├── GraphQLError             ``errors`` array without usable data; .errors
    │   └── InvalidParamsError       params no safe request can be built from; not sent
    └── BadResponseError             the provider answered but the answer is unusable
        ├── InvalidBodyError         not JSON (or wrong shape) when JSON was expected
        ├── TruncatedResponseError   body ended early (retryable: it is transient)
        └── OversizedResponseError   body larger than the policy's limit

``err.retryable`` is the one flag the retry loop reads (like aiokafka's
``KafkaError.retriable``); it defaults per branch and ``BadResponseError``
sets it per case. ``err.to_error_info()`` gives the :class:`ErrorInfo`
that goes into a Result.

Contract: no error ever carries a secret. Messages taken from a provider
are passed through :func:`core.redaction.redact_text` and cut to
:data:`MAX_MESSAGE` characters; the request is described by method and a
redacted URL only, never by headers or body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from core.envelopes import ErrorInfo
from core.redaction import redact_text

__all__ = [
    "MAX_MESSAGE",
    "BadResponseError",
    "CircuitOpenError",
    "FatalConfigError",
    "FatalRequestError",
    "GraphQLError",
    "InvalidBodyError",
    "InvalidParamsError",
    "NetworkError",
    "OversizedResponseError",
    "PolicyError",
    "RateLimitedError",
    "RetriableError",
    "ServerError",
    "SwitchboardError",
    "TruncatedResponseError",
]

MAX_MESSAGE = 500


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    # Cut before redacting (bounded work on hostile input) with a wide margin,
    # so a secret straddling the first cut is dropped by the second anyway.
    text = redact_text(str(text)[: MAX_MESSAGE * 4])
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class SwitchboardError(Exception):
    """Root of every error the provider client raises.

    Attributes (all optional, all safe to log): ``status`` (HTTP status),
    ``provider_code`` and ``provider_message`` (what the provider said),
    ``request_id`` (the provider's request id), ``method`` and ``url``
    (redacted), ``attempts`` (set by the retry loop), ``sent`` (False only
    when the request provably never reached the provider).
    """

    code: ClassVar[str] = "error"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_code: str | None = None,
        provider_message: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = _clean(message) or ""
        super().__init__(self.message)
        self.status = status
        self.provider_code = _clean(provider_code)
        self.provider_message = _clean(provider_message)
        self.request_id = _clean(request_id)
        self.method = method
        self.url = _clean(url)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.attempts = 0
        # False only when the request provably never reached the provider
        # (then even a non-idempotent request may be retried).
        self.sent = True

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.provider_code:
            parts.append(f"provider_code={self.provider_code}")
        if self.provider_message and self.provider_message != self.message:
            parts.append(f"provider_message={self.provider_message!r}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    def to_error_info(self) -> ErrorInfo:
        """The envelope form carried in a failed Result."""
        message = self.message
        if self.provider_message and self.provider_message != message:
            message = f"{message}: {self.provider_message}"
        return ErrorInfo(
            code=self.code,
            message=message,
            retryable=self.retryable,
            provider_code=self.provider_code,
            request_id=self.request_id,
        )


class RetriableError(SwitchboardError):
    """The same request may succeed later; retry with backoff."""

    code = "retriable"
    default_retryable = True


class NetworkError(RetriableError):
    """No usable HTTP response: connect/read/write error, timeout, reset.

    ``sent`` is False when the request provably never reached the provider
    (connect failure, pool timeout), so even a non-idempotent request may be
    retried.
    """

    code = "network"

    def __init__(self, message: str, *, sent: bool = True, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.sent = sent


class ServerError(RetriableError):
    """The provider failed (5xx, 408, 425) or told us to retry.

    ``retry_after`` (seconds) is the provider's ``Retry-After``, if any.
    """

    code = "server_error"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class _RetryAt(RetriableError):
    def __init__(self, message: str, *, retry_at: datetime, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_at = retry_at

    def retry_after(self, now: datetime | None = None) -> float:
        """Seconds until ``retry_at`` (never negative)."""
        now = now or datetime.now(UTC)
        return max(0.0, (self.retry_at - now).total_seconds())


class RateLimitedError(_RetryAt):
    """The provider throttled us (429, GraphQL THROTTLED, an ``ok: false`` ratelimited body).

    ``retry_at`` is when the provider said we may try again (or our best
    estimate); the budget has already been blocked until then.
    """

    code = "rate_limited"


class CircuitOpenError(_RetryAt):
    """The circuit breaker for this (connector, host) is open: nothing was
    sent. ``retry_at`` is when the breaker will let a probe through."""

    code = "circuit_open"

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: object) -> None:
        super().__init__(message, retry_at=retry_at, **kwargs)
        self.sent = False


class FatalConfigError(SwitchboardError):
    """Configuration is wrong (401/403, bad credentials or settings): retrying
    cannot help; stop the connector and tell an operator."""

    code = "fatal_config"


class PolicyError(FatalConfigError, ValueError):
    """A client policy setting is invalid; ``setting`` names it
    (dotted path, e.g. ``rate.rate``)."""

    code = "invalid_policy"

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


class FatalRequestError(SwitchboardError):
    """The provider rejected this request (400/404/409/422, ...): it will never
    succeed as is; dead-letter it and move on."""

    code = "fatal_request"


class InvalidParamsError(FatalRequestError):
    """The command's params cannot make a safe request (a path value ``..``
    would climb to another endpoint): nothing was sent; the command is invalid."""

    code = "invalid_command"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.sent = False


class GraphQLError(FatalRequestError):
    """A GraphQL response carried ``errors`` and no usable ``data``.

    ``errors`` holds the provider's error objects (messages redacted);
    ``data`` whatever partial data came back (may be None).
    """

    code = "graphql_error"

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, object]] | None = None,
        data: object = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.errors = errors or []
        self.data = data


class BadResponseError(SwitchboardError):
    """The provider answered, but the answer cannot be used. Not retryable
    unless the case is transient (a truncated body)."""

    code = "bad_response"


class InvalidBodyError(BadResponseError):
    """The body is not JSON (or not the expected shape) although JSON was expected."""

    code = "invalid_body"


class TruncatedResponseError(BadResponseError):
    """The connection ended before the whole body arrived."""

    code = "truncated_response"
    default_retryable = True


class OversizedResponseError(BadResponseError):
    """The body exceeds ``ClientPolicy.max_response_bytes``; reading stopped there."""

    code = "oversized_response"
