"""The one fake clock of the test suite.

Code that waits or measures time takes its clock (and its sleep) as
arguments; the tests hand it a :class:`FakeClock`, so a backoff of minutes,
a token's expiry or a breaker's open period take no real time and every
wait the code asked for is recorded exactly.
"""

from __future__ import annotations

import asyncio

__all__ = ["EPOCH", "FakeClock"]

EPOCH = 1_800_000_000.0  # an epoch reading (2027-01-15) for code that wants wall time


class FakeClock:
    """Time that moves only when the code under test sleeps on it or the
    test moves it (``clock.now += 10``).

    ``clock()`` reads it (pass the instance wherever a ``time.monotonic``-
    or ``time.time``-like callable is taken), :meth:`wall` is an epoch
    reading that moves with it, :meth:`sleep` records the wait in
    :attr:`sleeps` and moves the time by it.
    """

    def __init__(self, now: float = 1000.0, *, wall_at_start: float = EPOCH) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._wall_offset = wall_at_start - now

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        """Seconds since the epoch, ``wall_at_start`` when the clock was made."""
        return self.now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Record the wait and end it at once: other tasks get a turn first
        (they run "during" the sleep, at the time it began), then the
        clock moves by the time slept."""
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        self.now += max(0.0, seconds)
