"""The policy layer between auth and the network, as an httpx transport.

Request path (see :mod:`core.client`)::

    ProviderClient.request   retry loop, size limit, classification, metrics, logs
      -> core._http_path     httpx.Request: base URL, timeouts, User-Agent
                             (redirects, when followed: httpx.AsyncClient)
        -> httpx.Auth        credentials; refresh-and-retry once on 401
          -> PolicyTransport breaker admission, rate budget, header feedback
            -> AsyncHTTPTransport (httpcore pool, HTTP/1.1 or HTTP/2)

Every physical request registers the credentials it carries with
:func:`core.redaction.register_secret`, so an echoed secret is scrubbed.
Every physical request (including one an auth flow re-sends after a
refresh) passes the breaker and draws from the budget here, exactly once.
Breaker accounting: transport errors, 5xx and 408 are failures; other
statuses are successes (<400) or neutral (4xx: the request's fault, and 429
which the budget handles), so 400/404/422 never open a breaker.
"""

from __future__ import annotations

import httpx

from core._attempt_guard import check_attempt
from core.breaker import BreakerPolicy, BreakerRegistry, CircuitBreaker
from core.observability import Metrics
from core.ratelimit import Budget
from core.redaction import register_request_secrets

__all__ = ["PolicyTransport"]


class PolicyTransport(httpx.AsyncBaseTransport):
    """Wraps ``inner`` with a circuit breaker per host and a rate budget."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        connector: str,
        metrics: Metrics,
        budget: Budget | None = None,
        breakers: BreakerRegistry | None = None,
        breaker_policy: BreakerPolicy | None = None,
        low_priority: bool = False,
    ) -> None:
        self.inner = inner
        self.low_priority = low_priority
        self.connector = connector
        self.budget = budget
        self._metrics = metrics
        self._wait_metric = metrics.ratelimit_wait.labels(connector)
        self._throttled_metric = metrics.throttled.labels(connector)
        self._breakers = breakers if breaker_policy is not None else None
        self._breaker_policy = breaker_policy
        self._last: tuple[str, CircuitBreaker] | None = None

    def breaker_for(self, host: str) -> CircuitBreaker | None:
        if self._breakers is None or self._breaker_policy is None:
            return None
        last = self._last
        if last is not None and last[0] == host:
            return last[1]
        breaker = self._breakers.get(self.connector, host, self._breaker_policy)
        self._last = (host, breaker)
        return breaker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Whatever credential the auth layer attached is scrubbed from every
        # log line and error from now on, even if the provider echoes it.
        register_request_secrets(request.headers.raw, request.url.query)
        breaker = self.breaker_for(request.url.host)
        permit = breaker.acquire() if breaker is not None else None  # may raise CircuitOpen
        sent_at: float | None = None
        try:
            if self.budget is not None:
                waited = await self.budget.acquire(low_priority=self.low_priority)
                if waited > 0:
                    self._wait_metric.inc(waited)
                sent_at = self.budget.now()
            await check_attempt()  # the last word before the network (core._attempt_guard)
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            if permit is not None:
                permit.failure()
            raise
        except BaseException:
            if permit is not None:
                permit.neutral()
            raise
        status = response.status_code
        if permit is not None:
            if status >= 500 or status == 408:
                permit.failure()
            elif status < 400:
                permit.success()
            else:
                permit.neutral()
        if status == 429:
            self._throttled_metric.inc()
        if self.budget is not None:
            self.budget.observe(response.headers, status, sent_at=sent_at)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
