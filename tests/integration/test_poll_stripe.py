"""Stripe's ``events`` poll stream against the Stripe sandbox over real
sockets, through the connector's own ProviderClient (no Kafka needed):
every event once, the webhook's ids, both paging directions, resume,
backfill, and a list that hands a cursor back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

import connectors
from connectors.stripe import StripeSettings, StripeVerifier
from connectors.stripe._sandbox import StripeSandbox
from connectors.stripe._webhook import normalize
from core.client import ProviderClient
from core.poll import Cursor, PaginationError, PolledPage, PollStream, poll_run
from core.ratelimit import BudgetRegistry

SECRET = "whsec_poll_test"


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[StripeSandbox, PollStream, ProviderClient]]:
    connector = connectors.get("stripe")
    async with StripeSandbox() as sb:
        section = StripeSettings(api_key="sk_test_sandbox", base_url=sb.url, rate=1000)
        assert connector.polls is not None
        assert connector.api is not None
        (stream,) = connector.polls(section)
        async with connector.api(section).client(budgets=BudgetRegistry()) as client:
            yield sb, stream, client


async def run(
    stream: PollStream, client: ProviderClient, cursor: Cursor, **kw: Any
) -> list[PolledPage]:
    return [page async for page in poll_run(stream, client, cursor, **kw)]


def ids(pages: list[PolledPage]) -> list[str]:
    return [event.id for page in pages for event in page.events]


def newest_first(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in reversed(events)]


def forward_pages(events: list[dict[str, Any]], size: int = 100) -> list[list[str]]:
    """How a later run reads ``events`` (oldest first): pages oldest first,
    each page newest first."""
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    return [newest_first(chunk) for chunk in chunks]


def test_stripe_declares_the_events_stream_only_with_an_api_key() -> None:
    polls = connectors.get("stripe").polls
    assert polls is not None
    assert polls(StripeSettings()) == []
    (stream,) = polls(StripeSettings(api_key="sk_test_x"))
    assert (stream.name, stream.path) == ("events", "/v1/events")


async def test_first_run_reads_every_event_once_newest_first_as_webhooks_would(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient],
) -> None:
    sb, stream, client = stripe
    customer = await client.post("/v1/customers", data={"email": "a@example.com"})
    await client.post(f"/v1/customers/{customer.data['id']}", data={"name": "Ada"})
    sb.add_events(250)
    stored = sb.events()
    assert len(stored) == 252

    pages = await run(stream, client, Cursor())

    assert [p.records for p in pages] == [100, 100, 52]
    assert ids(pages) == newest_first(stored)
    assert pages[-1].cursor == Cursor(mark=stored[-1]["id"])
    assert all(p.cursor.mark is None and p.cursor.run_mark == stored[-1]["id"] for p in pages[:-1])
    # Each polled Event is the one the webhook of the same event produces.
    verifier = StripeVerifier([SECRET])
    polled = {event.id: event for page in pages for event in page.events}
    for obj in stored:
        body, headers = sb.event_webhook(obj, SECRET)
        verifier.verify(body, headers)
        (hooked,) = normalize(body, headers, datetime.now(UTC))
        event = polled[obj["id"]]
        assert (event.id, event.type, event.subject, event.time) == (
            hooked.id,
            hooked.type,
            hooked.subject,
            hooked.time,
        )
        assert (event.delivery, hooked.delivery) == ("poll", "webhook")
        assert event.data == hooked.data == obj
    assert polled[stored[0]["id"]].type == "stripe.customer.created"
    assert polled[stored[0]["id"]].subject == customer.data["id"]


async def test_later_runs_read_only_newer_events_even_those_added_mid_run(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient],
) -> None:
    sb, stream, client = stripe
    sb.add_events(30)
    first = await run(stream, client, Cursor())
    assert ids(first) == newest_first(sb.events())
    mark = first[-1].cursor

    sb.add_events(250, "customer.created")  # more than two pages of news
    pages = []
    async for page in poll_run(stream, client, mark):
        pages.append(page)
        if page.number == 1:
            sb.add_events(30, "invoice.paid")  # arrives while the run pages on
    news = sb.events()[30:]
    assert len(news) == 280
    assert [[e.id for e in p.events] for p in pages] == forward_pages(news)
    # The mark follows each page's newest event; the last one is the newest of all.
    assert [p.cursor.run_mark for p in pages[:-1]] == [news[99]["id"], news[199]["id"]]
    assert pages[-1].cursor == Cursor(mark=news[-1]["id"])
    assert pages[0].events[0].type == "stripe.customer.created"

    again = await run(stream, client, pages[-1].cursor)
    assert [(p.records, p.events) for p in again] == [(0, [])]
    assert again[-1].cursor == pages[-1].cursor


@pytest.mark.parametrize("later", [False, True], ids=["backwards", "forwards"])
async def test_resuming_from_a_mid_run_cursor_reads_exactly_the_pages_after_it(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient], later: bool
) -> None:
    sb, stream, client = stripe
    start = Cursor()
    if later:
        sb.add_events(5)
        start = (await run(stream, client, Cursor()))[-1].cursor
    sb.add_events(420)
    full = await run(stream, client, start)
    assert len(full) == 5
    for k in (1, 2, 4):
        resumed = await run(stream, client, full[k - 1].cursor)
        assert [[e.id for e in p.events] for p in resumed] == [
            [e.id for e in p.events] for p in full[k:]
        ]
        assert resumed[-1].cursor == full[-1].cursor


async def test_a_first_run_starts_at_the_backfill_date(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient],
) -> None:
    sb, stream, client = stripe
    now = int(time.time())
    sb.add_events(120, created=now - 10 * 86400)
    recent = sb.add_events(130, created=now - 86400)
    backfill = datetime.fromtimestamp(now - 5 * 86400, UTC)

    pages = await run(stream, client, Cursor(), backfill=backfill)

    assert ids(pages) == newest_first(recent)
    assert all(
        dict(r.query).get("created[gte]") == str(int(backfill.timestamp()))
        for r in sb.requests_to("/v1/events")
    )
    # Later runs start at the mark; the backfill date no longer matters.
    newer = sb.add_events(3)
    later = await run(stream, client, pages[-1].cursor, backfill=backfill)
    assert ids(later) == newest_first(newer)


async def test_a_cursor_handed_back_again_stops_the_run_with_an_error(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient],
) -> None:
    sb, stream, client = stripe
    sb.add_events(250)
    sb.repeat_cursor = True
    pages: list[PolledPage] = []

    async def drain(cursor: Cursor) -> None:
        async for page in poll_run(stream, client, cursor):
            pages.append(page)

    with pytest.raises(PaginationError, match="already fetched"):
        await drain(Cursor())
    # the good page, the same page once more, then the stop: no third request
    assert [len(p.events) for p in pages] == [100, 100]
    assert ids(pages[:1]) == ids(pages[1:])
    assert len(sb.requests_to("/v1/events")) == 2

    sb.repeat_cursor = False
    mark = (await run(stream, client, Cursor()))[-1].cursor
    sb.add_events(150)
    sb.repeat_cursor = True
    pages.clear()
    with pytest.raises(PaginationError):
        await drain(mark)
    assert len(pages) == 1  # the page that handed out the mark, then the stop


async def test_an_unknown_mark_is_a_fatal_request_error(
    stripe: tuple[StripeSandbox, PollStream, ProviderClient],
) -> None:
    from core.errors import FatalRequestError

    _, stream, client = stripe
    with pytest.raises(FatalRequestError) as err:
        await run(stream, client, Cursor(mark="evt_expired"))
    assert err.value.status == 400
