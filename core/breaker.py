"""Circuit breakers, one per (connector, host).

States and transitions::

    CLOSED --(failure rate >= threshold over the window, with >= min_calls,
              or `consecutive_failures` failures in a row)--> OPEN
    OPEN   --(open_for seconds elapsed)--> HALF_OPEN
    HALF_OPEN --(`half_open_probes` successes)--> CLOSED
    HALF_OPEN --(any failure)--> OPEN (again for open_for)

Contracts:

- :meth:`CircuitBreaker.acquire` raises :class:`~core.errors.CircuitOpenError`
  (with ``retry_at``) when open, or when half-open and all probe slots are in
  use; otherwise it returns a :class:`Permit` that must be settled exactly
  once with ``success()``, ``failure()`` or ``neutral()`` (a permit dropped
  unsettled, e.g. on cancellation, is released by ``neutral()`` in
  ``__exit__``).
- Only outcomes the caller reports as failures count. The client reports
  network errors, timeouts and 5xx/408 as failures and 4xx caused by the
  request (400/404/422, 429 too) as *neutral*: they never open a breaker.
- Every state change is logged (``switchboard.breaker``) and counted
  (``switchboard_breaker_*`` metrics).
- The clock is injectable (``clock`` returns monotonic seconds); nothing
  here sleeps.

Written here rather than taken from a library: pybreaker is synchronous and
counts only consecutive failures; aiobreaker likewise, neither offers a
failure-rate window with a minimum call count nor an injectable clock.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from types import TracebackType

from pydantic import Field

from core import errors as e
from core._policy import PolicyModel
from core.observability import METRICS, Metrics, log_event

__all__ = ["BreakerPolicy", "BreakerRegistry", "BreakerState", "CircuitBreaker", "Permit"]

log = logging.getLogger("switchboard.breaker")
# A caller waking a few ms before retry_at (clock rounding) is let through.
_EARLY = 0.01


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerPolicy(PolicyModel):
    """When a breaker opens and how it recovers."""

    window: float = Field(default=30.0, gt=0, description="sliding window, seconds")
    min_calls: int = Field(default=20, ge=1, description="calls in window before rate counts")
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    consecutive_failures: int = Field(default=10, ge=1)
    open_for: float = Field(default=15.0, gt=0, description="seconds open before a probe")
    half_open_probes: int = Field(default=2, ge=1, description="concurrent probes; successes")


class Permit:
    """One admitted call; settle it once."""

    __slots__ = ("_breaker", "_generation", "_probe", "_settled")

    def __init__(self, breaker: CircuitBreaker, probe: bool, generation: int) -> None:
        self._breaker = breaker
        self._probe = probe
        self._generation = generation
        self._settled = False

    def success(self) -> None:
        self._settle(True)

    def failure(self) -> None:
        self._settle(False)

    def neutral(self) -> None:
        self._settle(None)

    def _settle(self, ok: bool | None) -> None:
        if not self._settled:
            self._settled = True
            self._breaker._record(ok, self._probe, self._generation)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.neutral()


class CircuitBreaker:
    """A breaker for one (connector, host). Safe for many tasks on one loop."""

    def __init__(
        self,
        connector: str,
        host: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics = METRICS,
    ) -> None:
        self.connector = connector
        self.host = host
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._metrics = metrics
        self._state = BreakerState.CLOSED
        self._calls: deque[tuple[float, bool]] = deque()
        self._failures_in_window = 0
        self._consecutive = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._generation = 0
        self._gauge = metrics.breaker_state.labels(connector, host)
        self._gauge.set(0)

    @property
    def state(self) -> BreakerState:
        """The current state (OPEN turns HALF_OPEN once ``open_for`` has passed)."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.open_for - _EARLY
        ):
            self._transition(BreakerState.HALF_OPEN, "open_for elapsed")
        return self._state

    def retry_at(self) -> datetime:
        """Wall-clock time when the breaker will next admit a call."""
        remaining = max(0.0, self._opened_at + self.policy.open_for - self._clock())
        return datetime.now(UTC) + timedelta(seconds=remaining)

    def acquire(self) -> Permit:
        """Admit one call or raise CircuitOpenError."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self, False, self._generation)
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < (
            self.policy.half_open_probes - self._probe_successes
        ):
            self._probes_in_flight += 1
            return Permit(self, True, self._generation)
        retry_at = self.retry_at()
        if state is BreakerState.HALF_OPEN:  # probes in flight; try again shortly
            retry_at = datetime.now(UTC) + timedelta(seconds=min(1.0, self.policy.open_for))
        raise e.CircuitOpenError(
            f"circuit open for {self.connector} at {self.host}", retry_at=retry_at
        )

    def _record(self, ok: bool | None, probe: bool, generation: int) -> None:
        if generation != self._generation:
            return  # admitted before the last state change: it no longer counts
        if probe:
            self._probes_in_flight -= 1
            if ok is False:
                self._open("probe failed")
            elif ok:
                self._probe_successes += 1
                if self._probe_successes >= self.policy.half_open_probes:
                    self._transition(BreakerState.CLOSED, "probes succeeded")
            return
        if ok is None or self._state is not BreakerState.CLOSED:
            return
        now = self._clock()
        self._calls.append((now, ok))
        if not ok:
            self._failures_in_window += 1
        self._consecutive = 0 if ok else self._consecutive + 1
        horizon = now - self.policy.window
        while self._calls and self._calls[0][0] < horizon:
            _, old_ok = self._calls.popleft()
            if not old_ok:
                self._failures_in_window -= 1
        if ok:
            return
        p = self.policy
        if self._consecutive >= p.consecutive_failures:
            self._open(f"{self._consecutive} consecutive failures")
        elif len(self._calls) >= p.min_calls:
            rate = self._failures_in_window / len(self._calls)
            if rate >= p.failure_rate:
                self._open(f"failure rate {rate:.0%} over {len(self._calls)} calls")

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, to: BreakerState, reason: str) -> None:
        previous = self._state
        self._state = to
        self._calls.clear()
        self._failures_in_window = 0
        self._consecutive = 0
        self._probe_successes = 0
        self._probes_in_flight = 0
        self._generation += 1
        self._gauge.set(int(to))
        self._metrics.breaker_transitions.labels(self.connector, self.host, to.name.lower()).inc()
        log_event(
            log,
            logging.WARNING if to is BreakerState.OPEN else logging.INFO,
            "breaker.state_change",
            connector=self.connector,
            host=self.host,
            from_state=previous.name.lower(),
            to_state=to.name.lower(),
            reason=reason,
        )


class BreakerRegistry:
    """Breakers by (connector, host), created on first use with the policy given."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, metrics: Metrics = METRICS
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, connector: str, host: str, policy: BreakerPolicy) -> CircuitBreaker:
        key = (connector, host)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                connector, host, policy, clock=self._clock, metrics=self._metrics
            )
            self._breakers[key] = breaker
        return breaker
