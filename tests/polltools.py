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


def assert_resumes(full: Sequence[PolledPage], resumed: Sequence[PolledPage], k: int) -> None:
    """``resumed`` (a run from page ``k``'s cursor) is exactly pages k+1..end of ``full``."""
    assert ids(resumed) == ids(full[k:])
    assert [p.records for p in resumed] == [p.records for p in full[k:]]
    assert resumed[-1].cursor.mark == full[-1].cursor.mark
    assert not resumed[-1].cursor.in_run
