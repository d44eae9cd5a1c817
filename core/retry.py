"""Retries: exponential backoff with full jitter, a cap and an overall deadline.

Built on tenacity's ``AsyncRetrying`` (asyncio-native, sleep injectable) with
its own ``retry``/``wait``/``stop`` callables, because the rules here are
ours, not a library default:

- Only what the *classifier* says is retried. A classifier takes the raised
  exception and returns False/None (give up), True (retry with backoff) or a
  number of seconds (retry after at least that long: ``Retry-After``, a rate
  limit's ``retry_at``), like stamina's backoff hook. The default,
  :func:`default_classifier`, reads ``err.retryable`` from :mod:`core.errors`.
- Backoff is "full jitter" by default: ``uniform(0, w)`` with the window
  ``w = min(max_delay, initial * 2**n)``; ``jitter="equal"`` draws from
  ``uniform(w/2, w)`` (never much shorter than the window: a poll stream's
  pause after a throttled run) and ``jitter="none"`` waits ``w`` exactly (a
  loop whose waits must be predictable). A provider-given delay replaces it
  (and is not capped by ``max_delay``).
- :class:`Backoff` gives the same pauses to a loop that retries until it
  succeeds or is cancelled (a poll stream, a partition owner reading its
  state, a follower of a topic): it counts failures, the caller sleeps.
- ``deadline`` bounds the whole call, sleeps included: when the next sleep
  would end past it, the last error is raised now instead of sleeping.
- A non-idempotent call (POST/PATCH without an idempotency key) is retried
  only after an error proving the request never left (``err.sent`` is
  False: connect failure, open circuit, exhausted budget).

stamina was the first choice but its jitter is additive, not full
jitter, its backoff-switch is process-global (``stamina.set_testing``) and its
deadline cannot use an injected clock; tenacity takes all three per call.

The last error is re-raised unchanged with ``err.attempts`` set; nothing is
wrapped in a ``RetryError``. Tests pass ``sleep`` (e.g. one that only records
the delay) and ``clock`` instead of waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import httpx
from pydantic import Field
from tenacity import AsyncRetrying, RetryCallState

from core import errors as e
from core._policy import PolicyModel

__all__ = ["Backoff", "Classifier", "Retrier", "RetryPolicy", "default_classifier"]

T = TypeVar("T")
Classifier = Callable[[BaseException], bool | float | None]
Sleep = Callable[[float], Awaitable[None]]


class RetryPolicy(PolicyModel):
    """How hard to try. ``attempts`` counts the first try too (1 = never retry)."""

    attempts: int = Field(default=5, ge=1, le=100)
    initial_delay: float = Field(default=0.5, ge=0, description="first backoff window, seconds")
    max_delay: float = Field(default=30.0, ge=0, description="cap of one backoff window")
    deadline: float = Field(default=120.0, gt=0, description="whole call, sleeps included")
    backoff: bool = Field(default=True, description="False: retry immediately (tests)")
    jitter: Literal["full", "equal", "none"] = Field(
        default="full", description="a pause is uniform(0, w), uniform(w/2, w) or w"
    )


def default_classifier(exc: BaseException) -> bool | float | None:
    """Retry what :mod:`core.errors` marks retryable; honour provider delays."""
    if isinstance(exc, e.RateLimitedError | e.CircuitOpenError):
        return exc.retry_after()
    if isinstance(exc, e.ServerError) and exc.retry_after is not None:
        return exc.retry_after
    if isinstance(exc, e.SwitchboardError):
        return exc.retryable
    return isinstance(exc, httpx.TransportError)


def _window(initial: float, cap: float, retry_number: int) -> float:
    """``min(cap, initial * 2**(retry_number - 1))``, also for a loop that has
    failed more than a float's exponent holds (2.0**1024 overflows)."""
    doublings = max(retry_number - 1, 0)
    if initial == 0 or doublings >= 1023:
        return 0.0 if initial == 0 else cap
    return min(cap, initial * 2.0**doublings)


def _never_sent(exc: BaseException) -> bool:
    return isinstance(exc, e.SwitchboardError) and not exc.sent


class Retrier:
    """Runs an async callable under a :class:`RetryPolicy`.

    ``on_retry(exc, attempt, delay)`` is called before each sleep (for logs and
    metrics); it must not raise.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        classifier: Classifier = default_classifier,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[BaseException, int, float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.classifier = classifier
        self._sleep = sleep
        self._clock = clock
        self._on_retry = on_retry
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    def backoff(self, retry_number: int) -> float:
        """The pause before retry ``retry_number`` (1 = first retry), jittered
        as the policy says."""
        p = self.policy
        if not p.backoff:
            return 0.0
        window = _window(p.initial_delay, p.max_delay, retry_number)
        if p.jitter == "none":
            return window
        return self._rng.uniform(window / 2 if p.jitter == "equal" else 0.0, window)

    async def call(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """Await ``fn()`` until it succeeds or the policy gives up; re-raise the
        last error with ``attempts`` set."""
        start = self._clock()
        # Fast path: the first attempt runs outside tenacity (most calls
        # succeed at once, and building tenacity's machinery costs more than
        # the call's own policy work); a failure is replayed as its first.
        try:
            return await fn()
        except e.SwitchboardError as exc:
            exc.attempts = 1
            first: BaseException = exc
        except Exception as exc:
            first = exc
        return await self._retried(fn, first, start, idempotent)

    async def _retried(
        self, fn: Callable[[], Awaitable[T]], first: BaseException, start: float, idempotent: bool
    ) -> T:
        policy = self.policy
        verdict: list[bool | float | None] = [None]

        def should_retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or isinstance(exc, asyncio.CancelledError):
                return False
            if not idempotent and not _never_sent(exc):
                return False
            try:
                verdict[0] = self.classifier(exc)
            except Exception:
                verdict[0] = False
            return verdict[0] is not None and verdict[0] is not False

        def wait(state: RetryCallState) -> float:
            hint = verdict[0]
            backoff = self.backoff(state.attempt_number)
            if isinstance(hint, bool) or hint is None:
                return backoff
            return max(float(hint), 0.0) if policy.backoff else 0.0

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.attempts:
                return True
            upcoming = state.upcoming_sleep or 0.0
            return self._clock() - start + upcoming >= policy.deadline

        def before_sleep(state: RetryCallState) -> None:
            if self._on_retry is not None and state.outcome is not None:
                exc = state.outcome.exception()
                if exc is not None:
                    self._on_retry(exc, state.attempt_number, state.upcoming_sleep or 0.0)

        retrying: AsyncRetrying = AsyncRetrying(
            sleep=self._sleep,
            retry=should_retry,
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 1
        pending: BaseException | None = first

        async def replay_then_attempt() -> T:
            nonlocal attempts, pending
            if pending is not None:
                exc, pending = pending, None
                raise exc
            attempts += 1
            try:
                return await fn()
            except e.SwitchboardError as exc:
                exc.attempts = attempts
                raise

        result: Any = await retrying(replay_then_attempt)
        return result  # type: ignore[no-any-return]


class Backoff:
    """The pauses of a loop that retries until it succeeds or is cancelled.

    :meth:`Retrier.call` bounds its tries (``attempts``, ``deadline``); a
    poll stream throttled for an hour, or a partition owner that cannot read
    its state yet, keeps trying instead and only needs to know how long to
    wait. Those loops count their failures here and get the pause the same
    policy gives a call (its ``initial_delay``, ``max_delay``, ``jitter``;
    ``attempts`` and ``deadline`` do not apply); they sleep themselves, so a
    pause can also end early (a poll stream wakes for a cursor change).
    """

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._retrier = Retrier(policy, rng=rng)
        self.failures = 0

    def failed(self) -> float:
        """Count one more failure; returns the pause before the next try."""
        self.failures += 1
        return self._retrier.backoff(self.failures)

    def succeeded(self) -> None:
        """The loop got through: the next failure starts at the first pause again."""
        self.failures = 0
