"""Rate budgets: async token buckets, one per credential, shared process-wide.

A :class:`Budget` is what every request to one provider account draws from.
:func:`BudgetRegistry.get` returns the same budget for the same
(connector, credential) to every task in the process (:data:`BUDGETS` is the
process-wide registry), so N concurrent sinks never add up to N budgets.

Waiting is ``await``-only (an injectable ``sleep``, ``asyncio.sleep`` by
default); nothing here blocks the loop. Waiters are served first come, first
served. A request that would wait longer than ``policy.max_wait`` raises
:class:`~core.errors.RateLimitedError` with ``retry_at`` instead.

The effective rate is ``min(policy.rate, provider's announced quota/window)
* share`` and it adapts to what the provider says (:meth:`Budget.observe`):

- ``Retry-After`` (seconds or HTTP-date) on any response blocks the whole
  budget until then;
- ``X-RateLimit-Remaining/-Reset`` and IETF ``RateLimit`` (remaining,
  reset): when our share of what remains is used up, the budget waits for
  the reset;
- IETF ``RateLimit-Policy`` (quota per window) lowers the rate to the
  announced one, never above ``policy.rate``;
- a 429 with none of these (no ``Retry-After``, no rate header) is
  congestion the provider does not explain: AIMD. The rate is halved
  (never below 1/1000 of ``policy.rate``), at most once per "window" -- a
  429 for a request sent before the last decrease reflects the old rate
  and does not halve it again -- and every success after that adds back
  ``policy.rate / 10`` requests/s spread over one second's worth of
  successes (``step * min(1, 1/rate)`` each), up to the configured rate;
- a GraphQL API's cost (``extensions.cost.throttleStatus``) feeds a second
  bucket of cost points (:meth:`Budget.observe_graphql_cost`,
  :meth:`Budget.acquire_points`).

Share: when W workers split one provider quota, each worker owns some
partitions of the command topic; :meth:`Budget.set_partition_share` sets
share = owned / total (and falls back to ``policy.share`` when total is 0).
Invalid or hostile header values are ignored, never raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from core._policy import PolicyModel
from core._ratelimit_headers import RateSignal, parse_rate_headers
from core._token_bucket import EPS as _EPS
from core._token_bucket import TokenBucket
from core.errors import RateLimitedError

__all__ = ["BUDGETS", "Budget", "BudgetRegistry", "RatePolicy", "TokenBucket"]

Sleep = Callable[[float], Awaitable[None]]
_NO_SIGNAL = RateSignal()
_MIN_WAIT = 1e-4  # never sleep less: a tiny sleep may not move a coarse clock


class RatePolicy(PolicyModel):
    """A connector's request budget per credential.

    ``burst`` is the bucket size (default ``rate / 20``, at least 1): big
    enough that a late wake-up does not lose throughput, small enough that a
    provider enforcing the same rate never sees a burst above its own.
    """

    rate: float = Field(gt=0, description="requests per second")
    burst: float | None = Field(default=None, ge=1)
    share: float = Field(default=1.0, gt=0, le=1, description="fixed share of the quota")
    adapt: bool = Field(default=True, description="follow the provider's rate headers")
    max_block: float = Field(default=3600.0, gt=0, description="cap on a Retry-After block")
    max_wait: float = Field(default=60.0, gt=0, description="longest wait before RateLimitedError")

    @model_validator(mode="after")
    def _default_burst(self) -> RatePolicy:
        if self.burst is None:
            object.__setattr__(self, "burst", max(1.0, self.rate / 20))
        return self


class Budget:
    """The request budget of one credential. See the module docstring."""

    def __init__(
        self,
        name: str,
        policy: RatePolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._share = policy.share
        self._provider_rate: float | None = None
        self._bucket = TokenBucket(policy.rate * self._share, policy.burst or 1.0, clock=clock)
        self._blocked_until = 0.0
        self._remote_left: float | None = None
        self._remote_reset_at = 0.0
        self._points: TokenBucket | None = None
        self._congestion_rate: float | None = None  # AIMD's rate after a bare 429
        self._decreased_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._points_lock = asyncio.Lock()
        self._normal_waiting = 0

    def _check_loop(self) -> None:
        # asyncio locks bind to the loop that first waits on them; a budget
        # outliving its loop (tests, a restarted worker) gets fresh locks.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._points_lock = asyncio.Lock()

    # -- what callers read -------------------------------------------------
    @property
    def rate(self) -> float:
        """The effective rate now (requests per second)."""
        return self._bucket.rate

    @property
    def share(self) -> float:
        return self._share

    def now(self) -> float:
        """The budget's clock (pass a reading taken at send time to :meth:`observe`)."""
        return self._clock()

    def blocked_for(self) -> float:
        """Seconds until a Retry-After block ends (0 when not blocked)."""
        return max(0.0, self._blocked_until - self._clock())

    # -- acquiring -----------------------------------------------------------
    async def acquire(self, cost: float = 1.0, *, low_priority: bool = False) -> float:
        """Wait until one request may go; returns the seconds waited.

        Raises :class:`~core.errors.RateLimitedError` (with ``retry_at``)
        instead of waiting when the request would wait more than
        ``policy.max_wait`` in all (queue included): a provider quota
        exhausted for an hour must pause the caller, not hang it.

        ``low_priority`` (polls) yields to everyone else: such a request
        only queues once no normal request is waiting and the bucket holds
        a token for it, so when the budget is tight the normal callers
        (sinks) get it all and the low-priority ones wait their turn.
        """
        start = self._clock()
        self._check_loop()
        if low_priority:
            await self._yield_to_normal(cost, start)
        else:
            self._normal_waiting += 1
        try:
            async with self._lock:
                while True:
                    wait = self._wait_needed(cost)
                    if wait <= 0:
                        return self._clock() - start
                    wait = max(wait, _MIN_WAIT)
                    self._check_max_wait(start, wait)
                    await self._sleep(wait)
        finally:
            if not low_priority:
                self._normal_waiting -= 1

    async def _yield_to_normal(self, cost: float, start: float) -> None:
        while True:
            self._bucket.refill()
            needed = min(cost, self._bucket.capacity)
            rate = self._bucket.rate or 1.0
            if self._normal_waiting:
                wait = 1.0 / rate  # a normal request takes the next token
            elif self._bucket.tokens >= needed - _EPS:
                return
            else:
                wait = (needed - self._bucket.tokens) / rate
            wait = max(_MIN_WAIT, wait, self.blocked_for())
            self._check_max_wait(start, wait)
            await self._sleep(wait)

    def _check_max_wait(self, start: float, wait: float) -> None:
        if self._clock() - start + wait > self.policy.max_wait:
            retry_at = datetime.now(UTC) + timedelta(seconds=wait)
            exc = RateLimitedError(
                f"rate budget {self.name} exhausted for {wait:.1f} s", retry_at=retry_at
            )
            exc.sent = False
            raise exc

    def _wait_needed(self, cost: float) -> float:
        now = self._clock()
        if self._blocked_until > now + _EPS:
            return self._blocked_until - now
        if self._remote_left is not None:
            if now + _EPS >= self._remote_reset_at:
                self._remote_left = None
            elif self._remote_left < cost:
                return self._remote_reset_at - now
        wait = self._bucket.take(cost)
        if wait <= 0 and self._remote_left is not None:
            self._remote_left -= cost
        return wait

    async def acquire_points(self, cost: float) -> float:
        """Wait for ``cost`` GraphQL cost points (no-op until a cost was observed)."""
        waited = 0.0
        self._check_loop()
        async with self._points_lock:
            while self._points is not None:
                wait = self._points.take(cost)
                if wait <= 0:
                    break
                wait = max(wait, _MIN_WAIT)
                await self._sleep(wait)
                waited += wait
        return waited

    # -- adapting --------------------------------------------------------------
    def block_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (capped by ``policy.max_block``)."""
        seconds = min(max(0.0, seconds), self.policy.max_block)
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def observe(
        self, headers: Mapping[str, str], status: int | None = None, *, sent_at: float | None = None
    ) -> RateSignal:
        """Adapt to a response's rate headers; returns what was understood.

        ``sent_at`` (a :meth:`now` reading when the request left) lets a
        bare 429 halve the rate once per window, not once per request in flight.
        """
        if status is not None and status < 400 and self._congestion_rate is not None:
            self._additive_increase()
        if not headers and status != 429:
            return _NO_SIGNAL
        if not self.policy.adapt:
            signal = RateSignal(retry_after=parse_rate_headers(headers).retry_after)
        else:
            signal = parse_rate_headers(headers, now=self._wall())
        if signal.empty:
            if status == 429:
                if self.policy.adapt:
                    self._multiplicative_decrease(sent_at)
                self.block_for(1.0 / max(self._bucket.rate, 1e-3))
            return signal
        if signal.retry_after is not None and (status == 429 or status == 503 or status is None):
            self.block_for(signal.retry_after)
        elif status == 429:
            self.block_for(signal.reset if signal.reset is not None else 1.0)
        if signal.quota is not None and signal.window is not None and signal.window > 0:
            self._provider_rate = signal.quota / signal.window
            self._apply_rate()
        if signal.remaining is not None and signal.reset is not None:
            self._remote_left = signal.remaining * self._share
            self._remote_reset_at = self._clock() + min(signal.reset, self.policy.max_block)
        return signal

    def observe_graphql_cost(self, extensions: Any) -> None:
        """Feed a GraphQL ``extensions.cost.throttleStatus`` to the points bucket."""
        try:
            status = extensions["cost"]["throttleStatus"]
            maximum = float(status["maximumAvailable"])
            current = float(status["currentlyAvailable"])
            restore = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        if not (maximum > 0 and restore > 0 and 0 <= current <= maximum * 10):
            return
        share = self._share
        if self._points is None:
            self._points = TokenBucket(restore * share, maximum * share, clock=self._clock)
        self._points.configure(
            rate=restore * share, capacity=maximum * share, tokens=current * share
        )

    def set_partition_share(self, owned: int, total: int) -> None:
        """Take ``owned/total`` of the quota; ``total <= 0`` means use ``policy.share``."""
        share = owned / total if total > 0 and 0 <= owned <= total else self.policy.share
        self._share = max(share, 1e-3)  # owning no partition: keep a trickle, never divide by 0
        self._apply_rate()

    def _multiplicative_decrease(self, sent_at: float | None) -> None:
        if sent_at is not None and sent_at < self._decreased_at:
            return  # sent at the old rate: this window was already halved
        current = self._congestion_rate or self._ceiling()
        self._congestion_rate = max(current / 2, self.policy.rate / 1000)
        self._decreased_at = self._clock()
        self._apply_rate()

    def _additive_increase(self) -> None:
        current = self._congestion_rate or self._ceiling()
        step = self.policy.rate / 10
        raised = current + step * min(1.0, 1.0 / current)
        self._congestion_rate = None if raised >= self._ceiling() else raised
        self._apply_rate()

    def _ceiling(self) -> float:
        """The rate before congestion control: configured, or the provider's if lower."""
        rate = self.policy.rate
        if self._provider_rate is not None:
            rate = min(rate, self._provider_rate)
        return rate

    def _apply_rate(self) -> None:
        rate = self._ceiling()
        if self._congestion_rate is not None:
            rate = min(rate, self._congestion_rate)
        self._bucket.configure(rate=rate * self._share)


class BudgetRegistry:
    """Budgets by (connector, credential id). Never give it the secret itself:
    pass a fingerprint (see :func:`core.client.credential_fingerprint`)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._budgets: dict[tuple[str, str], Budget] = {}

    def get(self, connector: str, credential: str, policy: RatePolicy) -> Budget:
        """The budget for this credential, created with ``policy`` on first use."""
        key = (connector, credential)
        budget = self._budgets.get(key)
        if budget is None:
            budget = Budget(
                f"{connector}:{credential}",
                policy,
                clock=self._clock,
                wall=self._wall,
                sleep=self._sleep,
            )
            self._budgets[key] = budget
        return budget

    def set_partition_share(self, connector: str, owned: int, total: int) -> None:
        """Apply a partition share to every budget of ``connector``."""
        for (name, _), budget in self._budgets.items():
            if name == connector:
                budget.set_partition_share(owned, total)


BUDGETS = BudgetRegistry()
