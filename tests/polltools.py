"""Running poll streams in tests the way the poll source does, without Kafka.

A run is driven by :func:`core.poll.poll_run` through the connector's own
client (a :class:`~core.testing.commands.CommandRunner`'s, so commands and
polls share it as in a worker). Every cursor a test resumes from goes
through JSON first, since that is how the poll source stores it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.envelopes import Event
from core.pagination import PaginationError
from core.poll import Cursor, PolledPage, PollStream, poll_run


async def run(
    stream: PollStream, client: Any, cursor: Cursor | None = None, **kwargs: Any
) -> list[PolledPage]:
    """Every page of one run from ``cursor`` (stored and reloaded as JSON)."""
    start = Cursor.from_json((cursor or Cursor()).to_json())
    return [page async for page in poll_run(stream, client, start, **kwargs)]


async def run_until_error(
    stream: PollStream, client: Any, cursor: Cursor | None = None
) -> tuple[list[PolledPage], PaginationError]:
    """The pages yielded before the run failed, and its PaginationError."""
    pages: list[PolledPage] = []
    try:
        async for page in poll_run(stream, client, cursor or Cursor()):
            pages.append(page)
    except PaginationError as exc:
        return pages, exc
    raise AssertionError(f"the run ended after {len(pages)} pages without a PaginationError")


def events(pages: Sequence[PolledPage]) -> list[Event]:
    return [event for page in pages for event in page.events]


def ids(pages: Sequence[PolledPage]) -> list[str]:
    return [event.id for event in events(pages)]


def final(pages: Sequence[PolledPage]) -> Cursor:
    """The cursor a finished run leaves: its last page's, with no ``next``."""
    cursor = pages[-1].cursor
    assert not cursor.in_run, "the run did not finish"
    return cursor


def assert_once(pages: Sequence[PolledPage]) -> list[str]:
    """The run's event ids, each asserted to appear once; returns them."""
    found = ids(pages)
    repeated = [i for i, n in Counter(found).items() if n > 1]
    assert not repeated, f"ids produced more than once in one run: {repeated[:5]}"
    return found


async def assert_resumes_after_each_page(
    stream: PollStream, client: Any, full: Sequence[PolledPage]
) -> None:
    """A run from page k's cursor (JSON round trip) is exactly pages k+1..end
    of ``full``, for every page k but the last, and ends at the same mark."""
    assert len(full) > 2, "resuming needs a run of three pages or more"
    for k in range(1, len(full)):
        assert full[k - 1].cursor.in_run
        resumed = await run(stream, client, full[k - 1].cursor)
        assert ids(resumed) == ids(full[k:]), f"resumed after page {k}"
        assert [p.records for p in resumed] == [p.records for p in full[k:]]
        assert final(resumed).mark == final(full).mark


async def assert_repeat_stops(
    stream: PollStream, client: Any, full: Sequence[PolledPage], good: int = 2
) -> PaginationError:
    """With the sandbox's repeat switch on, the run yields the ``good`` pages
    of ``full`` it could trust, then raises a non-retryable PaginationError."""
    pages, error = await run_until_error(stream, client)
    assert ids(pages) == ids(full[:good])
    assert not error.retryable
    return error
