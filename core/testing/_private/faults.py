"""Fault plans and the server-side token bucket of a sandbox.

Every structure here is mutated both by the sandbox's own event loop (while it
serves) and by the test (possibly from another thread), so each one guards
its state with a :class:`threading.Lock` held only for a few assignments,
never across an ``await``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultKind", "FaultPlan", "RateDecision", "ServerTokenBucket"]

FaultKind = Literal["status", "rate_limit", "hang", "reset", "truncate", "oversize", "non_json"]
FAULT_KINDS_ORDERED = ("status", "rate_limit", "hang", "reset", "truncate", "oversize", "non_json")
FAULT_KINDS: frozenset[str] = frozenset(FAULT_KINDS_ORDERED)


@dataclass
class Fault:
    """One switchable misbehaviour, applied to the next ``count`` matching requests.

    ``count=None`` keeps the fault until it is cleared; ``duration`` (seconds
    on the sandbox's clock, counted from when the fault is added) ends it
    earlier, whichever comes first. ``path`` is a path
    prefix and ``method`` an HTTP method; unset means any. With
    ``after_handler=True`` (``reset`` and ``truncate`` only) the route's
    handler runs first, so its side effect happens, and then the response is
    lost on the wire: the case idempotency keys exist for. ``http_date``
    sends ``Retry-After`` as an HTTP-date instead of seconds.
    """

    kind: FaultKind
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    status: int = 503
    retry_after: float | None = None
    http_date: bool = False
    seconds: float | None = None
    size: int = 2 * 1024 * 1024
    chunked: bool = False
    after_handler: bool = False
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    duration: float | None = None
    #: set by :meth:`FaultPlan.add` from ``duration``
    expires_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind: unknown fault {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count: must be >= 1 (or None for 'until cleared')")
        if self.after_handler and self.kind not in ("reset", "truncate"):
            raise ValueError("after_handler: only 'reset' and 'truncate' can follow the handler")
        if self.size < 0:
            raise ValueError("size: must be >= 0")
        if self.duration is not None and not self.duration > 0:
            raise ValueError("duration: must be > 0 seconds (or None for 'until cleared')")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


class FaultPlan:
    """An ordered list of pending faults; the first matching one is consumed per request.

    ``clock`` (monotonic seconds) times faults with a ``duration``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._clock = clock

    def add(self, fault: Fault) -> Fault:
        if fault.duration is not None:
            fault.expires_at = self._clock() + fault.duration
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> bool:
        """Withdraw ``fault`` (True if it was still pending)."""
        with self._lock:
            for i, pending in enumerate(self._faults):
                if pending is fault:
                    del self._faults[i]
                    return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _expire(self) -> None:
        now = self._clock()
        self._faults = [f for f in self._faults if f.expires_at is None or now < f.expires_at]

    def pending(self) -> list[Fault]:
        with self._lock:
            self._expire()
            return list(self._faults)

    def take(self, method: str, path: str, *, after_handler: bool) -> Fault | None:
        """Consume and return the first fault for this request and phase, if any."""
        with self._lock:
            self._expire()
            for i, fault in enumerate(self._faults):
                if fault.after_handler != after_handler or not fault.matches(method, path):
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        del self._faults[i]
                return fault
            return None

    def has_after_handler(self, method: str, path: str) -> bool:
        with self._lock:
            self._expire()
            return any(f.after_handler and f.matches(method, path) for f in self._faults)


@dataclass(frozen=True)
class RateDecision:
    """What the bucket said about one request, with the headers announcing it."""

    allowed: bool
    headers: dict[str, str]


class ServerTokenBucket:
    """A real token bucket the sandbox enforces: ``rate`` per second, ``burst`` deep.

    Every decision carries GitHub-style ``X-RateLimit-Limit/-Remaining/-Reset``
    (reset as epoch seconds) and the IETF structured ``RateLimit-Policy`` /
    ``RateLimit`` headers (``"default";q=<burst>;w=<burst/rate>`` and
    ``"default";r=<remaining>;t=<seconds to full>``) when ``announce`` is set.
    A refusal adds ``Retry-After``: whole seconds by default (as RFC 9110
    says), or fractional seconds with ``fractional_retry_after``; with
    ``retry_after=False`` (and ``announce=False``) a refusal is a bare 429,
    no rate header at all.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        announce: bool = True,
        fractional_retry_after: bool = False,
        retry_after: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate: must be > 0 requests per second")
        capacity = rate if burst is None else burst
        if not capacity >= 1:
            raise ValueError("burst: must be >= 1")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.announce = announce
        self.fractional_retry_after = fractional_retry_after
        self.retry_after = retry_after
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._at = clock()
        self.allowed = 0
        self.refused = 0

    def take(self) -> RateDecision:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
                self.allowed += 1
            else:
                self.refused += 1
            tokens = self._tokens
        headers = self._headers(tokens) if self.announce else {}
        if not allowed and self.retry_after:
            wait = (1 - tokens) / self.rate
            headers["Retry-After"] = (
                f"{wait:.3f}" if self.fractional_retry_after else str(max(1, math.ceil(wait)))
            )
        return RateDecision(allowed, headers)

    def _headers(self, tokens: float) -> dict[str, str]:
        remaining = max(0, math.floor(tokens))
        to_full = (self.capacity - tokens) / self.rate
        window = max(1, round(self.capacity / self.rate))
        limit = round(self.capacity)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(self._wall() + to_full)),
            "RateLimit-Policy": f'"default";q={limit};w={window}',
            "RateLimit": f'"default";r={remaining};t={math.ceil(to_full)}',
        }
