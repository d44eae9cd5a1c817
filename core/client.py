"""The one provider API client. Connectors pick policies; they never build an
httpx client of their own.

Usage::

    policy = ClientPolicy(
        connector="acme",
        base_url="https://api.acme.example",
        rate=RatePolicy(rate=25),
        retry=RetryPolicy(attempts=4, deadline=30),
        errors=ErrorMapping().override(rules=[acme_should_retry]),
    )
    async with ProviderClient(policy, auth=BearerAuth(key),
                              credential=credential_fingerprint(key)) as client:
        resp = await client.request("POST", "/v1/customers",
                                    data={"email": "a@b.c"}, idempotency_key=command.id)
        resp.data  # parsed JSON

Request path: retry loop -> httpx request and auth flow (:mod:`core._http_path`)
-> PolicyTransport (breaker, budget) -> network; see :mod:`core._transports`. Reading the body
within the size limit, and httpx faults as :mod:`core.errors`: :mod:`core._response_body`.

Contracts of :meth:`ProviderClient.request`:

- returns a :class:`ProviderResponse` for a success, or raises an error from
  :mod:`core.errors` -- never an httpx exception, never a JSON error;
- a non-idempotent method (POST/PATCH) is retried only with an
  ``idempotency_key`` (sent in ``policy.idempotency_header``) or after an
  error proving nothing was sent;
- a body over ``policy.max_response_bytes`` raises OversizedResponseError
  without reading the rest; a cut-off body raises TruncatedResponseError;
  a non-JSON body when ``expect_json`` raises InvalidBodyError;
- redirects are not followed unless ``policy.follow_redirects``; an
  unfollowed 3xx is a FatalConfigError (the base URL is wrong), unless the
  call says a redirect is its answer (``redirect_is_answer``: a download
  link; the 3xx is returned, not followed);
- a 401 is answered by the auth (one refresh-and-retry inside its
  ``async_auth_flow``); a 401 that still comes back is a FatalConfigError;
- at most ``policy.limits.max_connections`` requests are in flight per
  client; more wait in a FIFO gate (see :class:`ConnectionLimits`);
- a request that cannot be built (unserialisable JSON, bad header) raises
  FatalRequestError; nothing is sent;
- inside :func:`guard_attempts`, its check runs before each attempt goes to
  the network (after the gate, the breaker and the rate budget); what it
  raises ends the request, unsent and not retried (a worker's fence: the
  work is no longer its own).

Sinks and polls: share one client per (connector, credential); on
RateLimitedError / CircuitOpenError pause until ``err.retry_at``; on
FatalRequestError dead-letter; on FatalConfigError stop the connector;
``err.to_error_info()`` is the Result's ``error``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
import orjson

from core import errors as e
from core._aiohttp_transport import network_transport
from core._attempt_guard import AttemptRefused, guard_attempts
from core._client_policy import ClientPolicy, ConnectionLimits, Timeouts
from core._http_path import HttpPath
from core._response_body import network_error, read_body
from core._transports import PolicyTransport
from core.breaker import BreakerRegistry
from core.encoding import FormData, MultipartData, encode_body
from core.observability import METRICS, Metrics, log_event
from core.ratelimit import BUDGETS, Budget, BudgetRegistry
from core.redaction import RedactingFilter, redact_url
from core.retry import Classifier, Retrier, Sleep, default_classifier

__all__ = [
    "BREAKERS",
    "USER_AGENT",
    "ClientPolicy",
    "ConnectionLimits",
    "ProviderClient",
    "ProviderResponse",
    "Timeouts",
    "credential_fingerprint",
    "guard_attempts",
]

log = logging.getLogger("switchboard.client")


def _redact_httpx_logs() -> None:
    # httpx logs every request URL at INFO, query string included (API keys
    # in queries): scrub its records at the source.
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in httpx_log.filters):
        httpx_log.addFilter(RedactingFilter())


_redact_httpx_logs()

try:
    _VERSION = version("switchboard")
except PackageNotFoundError:  # running from a source tree that is not installed
    _VERSION = "0+unknown"
USER_AGENT = f"Switchboard/{_VERSION}"

BREAKERS = BreakerRegistry()
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def credential_fingerprint(secret: str) -> str:
    """A stable, non-reversible id for a credential (budget keys, logs)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """A successful answer, fully read. ``data`` is the parsed JSON (None when
    ``expect_json`` was False or the body was empty)."""

    status: int
    headers: httpx.Headers
    content: bytes
    data: Any
    request_id: str | None
    attempts: int
    raw: httpx.Response

    @property
    def links(self) -> dict[str | None, dict[str, str]]:
        """Parsed ``Link`` header (``links["next"]["url"]``)."""
        return self.raw.links


class ProviderClient:
    """One connector's HTTP client. Create one per (connector, credential) and
    share it between tasks; close it with ``aclose()`` or ``async with``.

    ``budgets``/``breakers`` default to the process-wide registries so every
    client of the same credential shares one budget. ``sleep``, ``clock`` and
    ``classifier`` are for tests and special connectors; ``transport``
    replaces the network (e.g. ``httpx.MockTransport`` in unit tests).
    ``low_priority`` (polls): this client's requests yield the shared budget
    to the other clients of the credential when it is tight.
    """

    def __init__(
        self,
        policy: ClientPolicy,
        *,
        auth: httpx.Auth | None = None,
        credential: str = "default",
        budgets: BudgetRegistry = BUDGETS,
        breakers: BreakerRegistry = BREAKERS,
        metrics: Metrics = METRICS,
        classifier: Classifier = default_classifier,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        low_priority: bool = False,
    ) -> None:
        self.policy = policy
        self.connector = policy.connector
        self._metrics = metrics
        self._children: dict[tuple[str, int | str], tuple[Any, Any]] = {}
        # Requests beyond the pool wait here (FIFO), not in httpcore's pool
        # queue, whose bookkeeping grows with every waiter.
        self._gate = asyncio.Semaphore(policy.limits.max_connections)
        self.budget: Budget | None = (
            budgets.get(policy.connector, credential, policy.rate) if policy.rate else None
        )
        inner = transport or network_transport(policy)
        self.transport = PolicyTransport(
            inner,
            connector=policy.connector,
            metrics=metrics,
            budget=self.budget,
            breakers=breakers,
            breaker_policy=policy.breaker,
            low_priority=low_priority,
        )
        t = policy.timeouts
        self._http = httpx.AsyncClient(
            base_url=policy.base_url,
            auth=auth,
            transport=self.transport,
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
            follow_redirects=policy.follow_redirects,
            max_redirects=policy.max_redirects,
            headers={"User-Agent": USER_AGENT, **policy.headers},
            trust_env=False,  # proxies from the environment would bypass PolicyTransport
        )
        self._path = HttpPath(
            self._http, self.transport, auth, follow_redirects=policy.follow_redirects
        )
        retry_kw: dict[str, Any] = {"classifier": classifier, "clock": clock}
        if sleep is not None:
            retry_kw["sleep"] = sleep
        self.retrier = Retrier(policy.retry, on_retry=self._on_retry, **retry_kw)

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: FormData | None = None,
        multipart: MultipartData | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        expect_json: bool = True,
        redirect_is_answer: bool = False,
        validate: Callable[[ProviderResponse], None] | None = None,
    ) -> ProviderResponse:
        """Send one logical request (with retries). See the module docstring.

        The body is ``json`` (orjson), ``data`` (a form: a nested mapping
        bracket-encoded or pairs, see :mod:`core.encoding`), ``multipart``
        (named text and file parts) or raw ``content``; this is the one
        place any of them is encoded.
        ``idempotent`` overrides the method's default (e.g. True for a
        GraphQL query sent by POST). ``validate`` runs on each successful
        attempt and may raise an error from :mod:`core.errors` (retried if
        the classifier says so).
        """
        method = method.upper()
        hdrs = dict(headers or {})
        if idempotency_key is not None:
            hdrs[self.policy.idempotency_header] = idempotency_key
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS or idempotency_key is not None
        try:
            content, content_type = encode_body(
                json=json, data=data, multipart=multipart, content=content
            )
            if content_type is not None:
                hdrs.setdefault("Content-Type", content_type)
            request = self._path.build(method, url, params, content, hdrs)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, TypeError, ValueError) as exc:
            # orjson.JSONEncodeError is a TypeError; bad header values raise ValueError.
            raise e.FatalRequestError(
                f"cannot build {method} request: {type(exc).__name__}: {exc}"
            ) from None

        attempts = 0

        async def attempt() -> ProviderResponse:
            nonlocal attempts
            attempts += 1
            return await self._attempt(request, attempts, expect_json, validate, redirect_is_answer)

        return await self.retrier.call(attempt, idempotent=idempotent)

    async def get(self, url: str, **kwargs: Any) -> ProviderResponse:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> ProviderResponse:
        return await self.request("POST", url, **kwargs)

    async def _attempt(
        self,
        request: httpx.Request,
        attempt: int,
        expect_json: bool,
        validate: Callable[[ProviderResponse], None] | None,
        redirect_is_answer: bool = False,
    ) -> ProviderResponse:
        started = time.perf_counter()
        status: int | str = "error"
        try:
            async with self._gate:
                try:
                    response = await self._path.send(request)
                except httpx.HTTPError as exc:
                    raise network_error(exc, request) from None
                except AttemptRefused as refused:
                    status = "unsent"  # not counted
                    raise refused.reason from None
                status = response.status_code
                try:
                    content = await read_body(
                        response, self.policy.max_response_bytes, self.policy.errors
                    )
                finally:
                    await response.aclose()
            body: Any = None
            bad_json = False
            if content and expect_json:
                try:
                    body = orjson.loads(content)
                except orjson.JSONDecodeError:
                    bad_json = True
            answered = redirect_is_answer and response.is_redirect
            error = None if answered else self.policy.errors.error_for(response, body)
            if error is not None:
                raise error
            if bad_json:
                raise e.InvalidBodyError(
                    f"{request.method} {redact_url(request.url)}: body is not JSON",
                    status=response.status_code,
                    request_id=self.policy.errors.request_id(response),
                )
            result = ProviderResponse(
                status=response.status_code,
                headers=response.headers,
                content=content,
                data=body,
                request_id=self.policy.errors.request_id(response),
                attempts=attempt,
                raw=response,
            )
            if validate is not None:
                validate(result)
            return result
        except e.SwitchboardError as exc:
            if not isinstance(status, int) or exc.status is None:
                status = exc.code
            raise
        finally:
            elapsed = time.perf_counter() - started
            if status != "unsent":
                self._count(request.method, status, elapsed)
            if status != "unsent" and log.isEnabledFor(logging.DEBUG):
                log_event(
                    log,
                    logging.DEBUG,
                    "http.attempt",
                    connector=self.connector,
                    method=request.method,
                    url=redact_url(request.url),
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )

    def _count(self, method: str, status: int | str, elapsed: float) -> None:
        # Label lookups take a lock and hash the label values: cache the children.
        key = (method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._metrics.requests.labels(self.connector, method, str(status)),
                self._metrics.latency.labels(self.connector, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    def _on_retry(self, exc: BaseException, attempt: int, delay: float) -> None:
        reason = exc.code if isinstance(exc, e.SwitchboardError) else type(exc).__name__
        self._metrics.retries.labels(self.connector, reason).inc()
        log_event(
            log,
            logging.INFO,
            "http.retry",
            connector=self.connector,
            attempt=attempt,
            delay_s=round(delay, 3),
            error=str(exc),
        )
