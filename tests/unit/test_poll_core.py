"""core.poll against a real HTTP sandbox: runs, resume points, cursors, safety stops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from core.client import ClientPolicy, ProviderClient
from core.envelopes import Event
from core.pagination import CursorPaginator, PageRequest, PaginationError
from core.poll import Cursor, PolledPage, PollStream, max_mark, poll_run
from core.testing import DemoSandbox


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


def stream(**overrides: Any) -> PollStream:
    options: dict[str, Any] = {
        "name": "items",
        "path": "/datasets/items/cursor",
        "paginator": lambda: CursorPaginator(limit=10, has_more_path="has_more"),
        "to_events": to_events,
        "advance": max_mark("id"),
    }
    options.update(overrides)
    return PollStream(**options)


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox() as sb:
        yield sb


@pytest.fixture
async def client(sandbox: DemoSandbox) -> AsyncIterator[ProviderClient]:
    async with ProviderClient(ClientPolicy(connector="demo", base_url=sandbox.url)) as c:
        yield c


async def run(s: PollStream, client: ProviderClient, cursor: Cursor) -> list[PolledPage]:
    return [page async for page in poll_run(s, client, cursor)]


async def test_a_run_yields_every_record_once_with_the_cursor_after_each_page(
    client: ProviderClient,
) -> None:
    pages = await run(stream(), client, Cursor())
    ids = [e.id for p in pages for e in p.events]
    assert ids == [f"item-{i}" for i in range(1, 96)]
    assert [p.number for p in pages] == list(range(1, 11))
    assert all(p.cursor.in_run for p in pages[:-1])
    last = pages[-1].cursor
    assert not last.in_run
    assert last.mark == 95
    assert pages[3].cursor.run_mark == 40
    assert pages[3].cursor.mark is None


async def test_resuming_from_page_k_yields_exactly_the_pages_after_it(
    client: ProviderClient,
) -> None:
    full = await run(stream(), client, Cursor())
    saved = Cursor.from_json(full[3].cursor.to_json())  # as stored in Kafka
    resumed = await run(stream(), client, saved)
    assert [e.id for p in resumed for e in p.events] == [e.id for p in full[4:] for e in p.events]
    assert resumed[-1].cursor.mark == 95


async def test_a_repeated_page_token_stops_the_run_after_the_good_pages(
    client: ProviderClient, sandbox: DemoSandbox
) -> None:
    sandbox.repeat_cursor = True
    seen: list[PolledPage] = []

    async def consume() -> None:
        async for page in poll_run(stream(), client, Cursor()):
            seen.append(page)

    with pytest.raises(PaginationError, match="already fetched"):
        await consume()
    assert len(seen) == 2  # page 1, then page 2 pointed back at itself
    assert seen[-1].cursor.in_run  # the last good position is kept


async def test_first_gets_the_mark_and_backfill(client: ProviderClient) -> None:
    calls: list[tuple[Any, Any]] = []

    def first(mark: Any, backfill: Any) -> dict[str, Any]:
        calls.append((mark, backfill))
        return {"limit": 50}

    pages = await run(stream(first=first), client, Cursor(mark=7))
    assert calls == [(7, None)]
    assert [p.records for p in pages] == [50, 45]


def test_cursor_json_round_trip_and_errors() -> None:
    c = Cursor(mark="evt_1", next=PageRequest(params={"starting_after": "evt_9"}), run_mark="x")
    assert Cursor.from_json(c.to_json()) == c
    assert Cursor.from_obj(None) == Cursor()
    with pytest.raises(ValueError, match="unknown cursor field"):
        Cursor.from_obj({"mark": 1, "offset": 3})
    with pytest.raises(ValueError, match="next"):
        Cursor.from_obj({"next": [1]})
    with pytest.raises(ValueError, match="not JSON"):
        Cursor.from_json(b"{")
