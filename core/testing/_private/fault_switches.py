"""The switches a test flips on a running sandbox: faults, rate, latency, hold.

They only change state the request pipeline reads (:mod:`.pipeline`), so
they are safe to call from any thread while the sandbox serves. Kept apart
from the server so the list of behaviours reads in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.testing._private.faults import Fault, FaultPlan, ServerTokenBucket

__all__ = ["FaultSwitches"]


class FaultSwitches:
    """The fault, rate, latency and hold switches of :class:`~core.testing.Sandbox`."""

    clock: Callable[[], float]
    faults: FaultPlan
    latency: float
    rate: ServerTokenBucket | None
    # set = handlers run; cleared by hold()
    _released: threading.Event

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    def remove_fault(self, fault: Fault) -> bool:
        """Withdraw one fault (True if it was still pending)."""
        return self.faults.remove(fault)

    def outage(
        self,
        status: int = 503,
        *,
        seconds: float | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """Every matching request answers ``status`` without running, for
        ``seconds`` (sandbox clock) or until :meth:`remove_fault` / :meth:`clear_faults`."""
        return self.add_fault(
            Fault("status", None, path, status=status, retry_after=retry_after, duration=seconds)
        )

    def refuse(self, *, seconds: float | None = None, path: str | None = None) -> Fault:
        """Every matching request's connection is reset before its handler
        runs, for ``seconds`` or until removed: nothing happens at the provider."""
        return self.add_fault(Fault("reset", None, path, duration=seconds))

    def hold(self) -> None:
        """Requests wait just before their handler (key already claimed) until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """The next ``n`` matching requests answer ``status`` (a 5xx burst) without running."""
        return self.add_fault(Fault("status", n, path, status=status, retry_after=retry_after))

    def throttle_next(
        self,
        n: int = 1,
        *,
        retry_after: float = 1,
        http_date: bool = False,
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` matching requests answer 429 with ``Retry-After``
        (seconds, or an HTTP-date with ``http_date``)."""
        return self.add_fault(
            Fault("rate_limit", n, path, retry_after=retry_after, http_date=http_date)
        )

    def hang_next(
        self, n: int = 1, *, seconds: float | None = None, path: str | None = None
    ) -> Fault:
        """The next ``n`` requests get no answer for ``seconds`` (forever if None), then a reset."""
        return self.add_fault(Fault("hang", n, path, seconds=seconds))

    def reset_next(
        self, n: int = 1, *, path: str | None = None, after_handler: bool = False
    ) -> Fault:
        """The next ``n`` requests see their connection reset (RST)."""
        return self.add_fault(Fault("reset", n, path, after_handler=after_handler))

    def truncate_next(
        self, n: int = 1, *, path: str | None = None, after_handler: bool = False
    ) -> Fault:
        """The next ``n`` responses announce a Content-Length and stop halfway."""
        return self.add_fault(Fault("truncate", n, path, after_handler=after_handler))

    def oversize_next(
        self,
        n: int = 1,
        *,
        size: int = 2 * 1024 * 1024,
        chunked: bool = False,
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` responses are ``size`` bytes of JSON (chunked: no Content-Length)."""
        return self.add_fault(Fault("oversize", n, path, size=size, chunked=chunked))

    def non_json_next(
        self,
        n: int = 1,
        *,
        status: int = 200,
        content_type: str = "text/html",
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` responses are an HTML page (labelled ``content_type``)."""
        return self.add_fault(Fault("non_json", n, path, status=status, content_type=content_type))

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every following (non-control) request by ``seconds``."""
        if seconds < 0:
            raise ValueError("seconds: must be >= 0")
        self.latency = seconds

    def enforce_rate(
        self,
        rate: float,
        burst: float | None = None,
        *,
        announce: bool = True,
        fractional_retry_after: bool = False,
        retry_after: bool = True,
    ) -> ServerTokenBucket:
        """Enforce ``rate`` requests/s with a token bucket ``burst`` deep (default: ``rate``).

        Refused requests get 429 + ``Retry-After`` (none with ``retry_after=False``);
        with ``announce`` every response carries ``X-RateLimit-*`` and IETF
        ``RateLimit`` headers.
        """
        self.rate = ServerTokenBucket(
            rate,
            burst,
            announce=announce,
            fractional_retry_after=fractional_retry_after,
            retry_after=retry_after,
            clock=self.clock,
        )
        return self.rate

    def clear_rate(self) -> None:
        self.rate = None
