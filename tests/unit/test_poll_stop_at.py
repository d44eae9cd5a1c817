"""``PollStream.stop_at``: a run over a list the provider cannot filter ends
at the first record the last run's mark (or the backfill date) covers --
that record and the rest of its page dropped, no further page fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from core.client import ClientPolicy, ProviderClient
from core.envelopes import Event
from core.pagination import CursorPaginator
from core.poll import Cursor, PolledPage, PollStream, max_mark, poll_run
from core.testing import DemoSandbox

PATH = "/datasets/items/cursor"  # ids 1..95, ten a page
SEEN: list[tuple[Any, datetime | None]] = []


def to_events(record: Any) -> Sequence[Event]:
    return [
        Event(
            id=f"item-{record['id']}",
            source="switchboard/demo",
            type="demo.item.listed",
            provider="demo",
            delivery="poll",
            data=record,
        )
    ]


def stop_at(mark: Any, backfill: datetime | None, record: Any) -> bool:
    """Here "covered" is any id above 25 + the mark (or 5 with a backfill)."""
    SEEN.append((mark, backfill))
    limit = 5 if backfill is not None else 25 + (mark or 0)
    return bool(record["id"] > limit)


STREAM = PollStream(
    name="items",
    path=PATH,
    paginator=lambda: CursorPaginator(limit=10, has_more_path="has_more"),
    to_events=to_events,
    advance=max_mark("id"),
    stop_at=stop_at,
)


@pytest.fixture
async def client() -> AsyncIterator[tuple[DemoSandbox, ProviderClient]]:
    async with (
        DemoSandbox() as sb,
        ProviderClient(ClientPolicy(connector="demo", base_url=sb.url)) as c,
    ):
        SEEN.clear()
        yield sb, c


async def run(c: ProviderClient, cursor: Cursor, **kw: Any) -> list[PolledPage]:
    return [page async for page in poll_run(STREAM, c, cursor, **kw)]


def ids(pages: list[PolledPage]) -> list[int]:
    return [event.data["id"] for page in pages for event in page.events]


async def test_the_run_ends_on_the_page_of_the_first_covered_record(
    client: tuple[DemoSandbox, ProviderClient],
) -> None:
    sb, c = client
    pages = await run(c, Cursor())
    assert ids(pages) == list(range(1, 26))
    assert [p.records for p in pages] == [10, 10, 5]
    assert len(sb.requests_to(PATH)) == 3  # nothing fetched after the stop
    assert pages[-1].cursor == Cursor(mark=25)
    assert {mark for mark, _ in SEEN} == {None}


async def test_stop_at_sees_the_last_runs_mark_also_when_resuming(
    client: tuple[DemoSandbox, ProviderClient],
) -> None:
    _, c = client
    pages = await run(c, Cursor(mark=40))
    assert ids(pages) == list(range(1, 66))
    resumed = await run(c, pages[2].cursor)  # in-run cursor: mark 40, run_mark 30
    assert ids(resumed) == list(range(31, 66))
    assert resumed[-1].cursor == pages[-1].cursor == Cursor(mark=65)
    assert {mark for mark, _ in SEEN} == {40}


async def test_stop_at_gets_the_backfill_date(
    client: tuple[DemoSandbox, ProviderClient],
) -> None:
    _, c = client
    backfill = datetime(2024, 1, 1, tzinfo=UTC)
    pages = await run(c, Cursor(), backfill=backfill)
    assert ids(pages) == [1, 2, 3, 4, 5]
    assert (pages[-1].records, len(pages)) == (5, 1)
    assert SEEN[0] == (None, backfill)
