"""A check before each attempt a provider request sends: :func:`guard_attempts`.

A worker holding work on a lease (the sink: a commands partition of its
consumer group) runs every call inside ``guard_attempts(check)``; the
client (:mod:`core.client`) awaits ``check()`` right before each attempt
goes out, after the connection gate and every retry pause, so a worker that
lost the work while it waited sends nothing for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["attempt_guard", "guard_attempts"]

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


def attempt_guard() -> Callable[[], Awaitable[None]] | None:
    """The check of the current context, if any."""
    return _ATTEMPT_GUARD.get()
