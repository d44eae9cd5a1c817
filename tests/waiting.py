"""Waiting in tests: observe something until it holds, or fail at a deadline.

A test never sleeps to wait: a fixed sleep is too short on a busy machine
(a flaky failure) and too long everywhere else (a slow suite). It waits
with :func:`eventually` inside a coroutine (a server on the same event loop
keeps serving meanwhile) or with :func:`eventually_sync` outside one (a
subprocess, a thread, a plain test).

Both call ``observe`` until ``until(value)`` holds (by default: the value is
truthy) and return that value. At the deadline they raise
:class:`DeadlinePassed`, an AssertionError naming what was awaited and the
last value seen, so a red test says what it waited for and how far it got.
The pause between two observations here is the only sleep that waits in the
test suite (``tests/unit/test_test_helpers.py`` keeps it that way).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["DeadlinePassed", "eventually", "eventually_sync"]

T = TypeVar("T")

_REPR_LIMIT = 600


class DeadlinePassed(AssertionError):
    """A wait ran out of time; ``last`` is the last value observed."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        shown = repr(last)
        if len(shown) > _REPR_LIMIT:
            shown = shown[:_REPR_LIMIT] + "..."
        super().__init__(f"waited {timeout:g} s for {what}; last value seen: {shown}")
        self.last = last


@overload
async def eventually(
    observe: Callable[[], Awaitable[T | None]],
    timeout: float = ...,
    *,
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    observe: Callable[[], Awaitable[T]],
    timeout: float = ...,
    *,
    until: Callable[[T], object],
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    observe: Callable[[], T | None],
    timeout: float = ...,
    *,
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    observe: Callable[[], T],
    timeout: float = ...,
    *,
    until: Callable[[T], object],
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


async def eventually(
    observe: Callable[[], Any],
    timeout: float = 30.0,
    *,
    until: Callable[[Any], object] = bool,
    what: str | None = None,
    interval: float = 0.05,
) -> Any:
    """The first value of ``observe()`` (awaited if it is awaitable) that
    satisfies ``until``, within ``timeout`` seconds of the event loop's clock.
    An exception from ``observe`` ends the wait at once (a crashed task
    should fail the test now, not at the deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = observe()
        if inspect.isawaitable(value):
            value = await value
        if until(value):
            return value
        if loop.time() >= deadline:
            raise DeadlinePassed(what or describe(observe), timeout, value)
        await asyncio.sleep(interval)


@overload
def eventually_sync(
    observe: Callable[[], T | None],
    timeout: float = ...,
    *,
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


@overload
def eventually_sync(
    observe: Callable[[], T],
    timeout: float = ...,
    *,
    until: Callable[[T], object],
    what: str | None = ...,
    interval: float = ...,
) -> T: ...


def eventually_sync(
    observe: Callable[[], Any],
    timeout: float = 30.0,
    *,
    until: Callable[[Any], object] = bool,
    what: str | None = None,
    interval: float = 0.05,
) -> Any:
    """:func:`eventually` for code without a running event loop: blocks the
    calling thread between observations."""
    deadline = time.monotonic() + timeout
    while True:
        value = observe()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise DeadlinePassed(what or describe(observe), timeout, value)
        time.sleep(interval)


def describe(observe: Callable[..., Any]) -> str:
    """What a wait is about when the caller did not say: a function's name,
    or for a lambda the source line that wrote it."""
    name = getattr(observe, "__qualname__", None) or repr(observe)
    if "<lambda>" not in name:
        return name
    try:
        lines, _ = inspect.getsourcelines(observe)
    except (OSError, TypeError):
        return name
    return " ".join(line.strip() for line in lines)
