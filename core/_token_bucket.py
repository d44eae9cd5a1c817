"""The token bucket under every :class:`~core.ratelimit.Budget` (and its GraphQL
cost points): synchronous arithmetic on an injectable clock; the waiting is
the budget's."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["EPS", "TokenBucket"]

EPS = 1e-9


class TokenBucket:
    """``rate`` tokens per second up to ``capacity``; not async itself.

    :meth:`take` either takes ``cost`` tokens and returns 0, or returns the
    seconds until it could. Costs above capacity are clamped to capacity.
    """

    def __init__(
        self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._clock = clock
        self._last = clock()

    def refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)

    def take(self, cost: float = 1.0) -> float:
        self.refill()
        cost = min(cost, self.capacity)
        if self.tokens >= cost - EPS:  # float dust must not become an endless tiny wait
            self.tokens = max(0.0, self.tokens - cost)
            return 0.0
        if self.rate <= 0:
            return 1.0
        return (cost - self.tokens) / self.rate

    def configure(
        self,
        *,
        rate: float | None = None,
        capacity: float | None = None,
        tokens: float | None = None,
    ) -> None:
        self.refill()
        if rate is not None:
            self.rate = rate
        if capacity is not None:
            self.capacity = capacity
        if tokens is not None:
            self.tokens = tokens
        self.tokens = min(self.tokens, self.capacity)
