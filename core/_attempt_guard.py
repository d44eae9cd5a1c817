"""A check before each attempt a provider request sends: :func:`guard_attempts`.

A worker holding work on a lease (the sink: a commands partition of its
consumer group) runs every call inside ``guard_attempts(check)``; the
client's transport (:mod:`core._transports`) awaits ``check()`` right
before each attempt goes to the network -- after the connection gate, every
retry pause, the breaker and the rate budget's wait -- so a worker that lost
the work while it waited sends nothing for it. What ``check`` raises comes
out of the request as it was raised (the client unwraps
:class:`AttemptRefused`), and the attempt is not counted as a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["AttemptRefused", "check_attempt", "guard_attempts"]

#: the check :func:`guard_attempts` runs before each attempt of this context's requests
_ATTEMPT_GUARD: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "switchboard_attempt_guard", default=None
)


@contextmanager
def guard_attempts(check: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Run ``check`` before each attempt of every request made in this
    context (the current task, and tasks it starts meanwhile), right before
    the attempt is sent: e.g. a worker proving the work is still its own.
    What ``check`` raises ends the request, unsent and not retried."""
    token = _ATTEMPT_GUARD.set(check)
    try:
        yield
    finally:
        _ATTEMPT_GUARD.reset(token)


class AttemptRefused(Exception):
    """The guard refused an attempt (``reason``: what it raised); nothing was sent."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


async def check_attempt() -> None:
    """Run the current context's check, if any; raises :class:`AttemptRefused`."""
    check = _ATTEMPT_GUARD.get()
    if check is None:
        return
    try:
        await check()
    except Exception as exc:
        raise AttemptRefused(exc) from exc
