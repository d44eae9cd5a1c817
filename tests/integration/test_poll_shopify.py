"""Shopify ``orders`` (REST, Link page_info) and ``orders-graphql`` (pageInfo)
poll streams against the Shopify sandbox over real sockets, through the
connector's own client. No Kafka needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

import connectors
from connectors.shopify import ShopifySettings
from connectors.shopify._sandbox import ShopifySandbox
from core import errors as e
from core.poll import PollStream
from core.testing.commands import CommandRunner
from tests.polltools import (
    assert_once,
    assert_repeat_stops,
    assert_resumes_after_each_page,
    events,
    final,
    ids,
    run,
)

SHOPIFY = connectors.get("shopify")
START = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
ORDERS = "/admin/api/2025-01/orders.json"


def section(sb: ShopifySandbox, api: str) -> ShopifySettings:
    return ShopifySettings(
        access_token="shpat_sandbox",
        base_url=sb.url,
        rate=1000,
        poll_orders=True,
        poll_orders_api=api,
    )


@asynccontextmanager
async def shop_of(api: str) -> AsyncIterator[tuple[ShopifySandbox, CommandRunner, PollStream]]:
    sandbox = ShopifySandbox(maximum=100_000, restore_rate=100_000, now=lambda: NOW)
    async with sandbox as sb:
        # 600 orders, one a minute from Mar 1 00:00 UTC (written at -05:00 by the shop)
        sb.seed_orders(600, start=START, step_s=60)
        async with CommandRunner(SHOPIFY, section(sb, api)) as runner:
            assert SHOPIFY.polls is not None
            (stream,) = SHOPIFY.polls(runner.section)
            yield sb, runner, stream


@pytest.fixture(params=["rest", "graphql"])
async def shop(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[ShopifySandbox, CommandRunner, PollStream]]:
    async with shop_of(request.param) as found:
        yield found


def version_id(order: dict[str, object]) -> str:
    updated = datetime.fromisoformat(str(order["updated_at"])).astimezone(UTC)
    return f"order:{order['id']}:{updated.isoformat().replace('+00:00', 'Z')}"


def by_update(sb: ShopifySandbox) -> list[dict[str, object]]:
    return sorted(sb.orders.values(), key=lambda o: (version_id(o).split(":", 2)[2], o["id"]))


async def test_a_full_run_yields_every_order_version_once(
    shop: tuple[ShopifySandbox, CommandRunner, PollStream],
) -> None:
    sb, r, stream = shop
    pages = await run(stream, r.client)
    rest = stream.name == "orders"
    assert [p.records for p in pages] == ([250, 250, 100] if rest else [100] * 6)
    assert assert_once(pages) == [version_id(o) for o in by_update(sb)]
    event = pages[0].events[0]
    assert event.id == "order:1001:2024-03-01T00:00:00Z"
    assert event.type == "shopify.orders.updated"
    assert event.subject == "gid://shopify/Order/1001"
    assert event.time == START
    assert event.delivery == "poll"
    if rest:
        assert event.data == sb.orders[1001]
        assert event.data["updated_at"] == "2024-02-29T19:00:00-05:00"
    else:
        assert event.data["updatedAt"] == "2024-03-01T00:00:00Z"
    assert final(pages).mark == "2024-03-01T09:59:00Z"


async def test_rest_pages_after_the_first_send_only_limit_and_page_info() -> None:
    async with shop_of("rest") as (sb, r, stream):
        assert stream.name == "orders"
        await run(stream, r.client)
        first, *rest = sb.requests_to(ORDERS, "GET")
        assert dict(first.query) == {"limit": "250", "status": "any", "order": "updated_at asc"}
        assert [sorted(dict(q.query)) for q in rest] == [["limit", "page_info"]] * 2
        # what Shopify refuses, the sandbox refuses too
        with pytest.raises(e.FatalRequestError) as info:
            await r.client.get(ORDERS, params={"page_info": "x", "status": "any"})
    assert info.value.status == 400


async def test_a_second_run_reads_updates_after_the_mark_and_only_the_lookback_again(
    shop: tuple[ShopifySandbox, CommandRunner, PollStream],
) -> None:
    sb, r, stream = shop
    full = await run(stream, r.client)
    done = final(full)
    old = {o_id: version_id(o) for o_id, o in sb.orders.items()}
    for order_id in (1001, 1300, 1600):
        sb.update_order(order_id, financial_status="refunded")
    added = sb.seed_orders(2, start=NOW + timedelta(minutes=1))
    again = await run(stream, r.client, done)
    found = set(assert_once(again))
    new = {version_id(sb.orders[i]) for i in (1001, 1300, 1600)} | {version_id(o) for o in added}
    assert new <= found
    assert not new & set(ids(full))
    repeated = found - new
    assert repeated <= set(ids(full))
    window = datetime(2024, 3, 1, 9, 54, tzinfo=UTC)  # mark - 300 s, inclusive
    assert repeated == {old[i] for i in range(1595, 1600)}  # 09:54..09:58; 1600 was updated
    assert all(ev.time is not None and ev.time >= window for ev in events(again))
    assert final(again).mark == "2024-03-10T12:02:00Z"  # the second order added


async def test_resuming_from_page_k_yields_exactly_the_pages_after_it(
    shop: tuple[ShopifySandbox, CommandRunner, PollStream],
) -> None:
    _sb, r, stream = shop
    full = await run(stream, r.client)
    await assert_resumes_after_each_page(stream, r.client, full)


async def test_a_repeated_page_token_stops_the_run_with_a_pagination_error(
    shop: tuple[ShopifySandbox, CommandRunner, PollStream],
) -> None:
    sb, r, stream = shop
    full = await run(stream, r.client)
    sb.repeat_cursor = True
    await assert_repeat_stops(stream, r.client, full)


async def test_both_apis_give_an_order_version_the_same_id() -> None:
    async with ShopifySandbox(now=lambda: NOW) as sb:
        sb.seed_orders(3, start=START)
        sb.update_order(1002, at=START + timedelta(hours=1))
        found = {}
        for api in ("rest", "graphql"):
            async with CommandRunner(SHOPIFY, section(sb, api)) as r:
                (stream,) = SHOPIFY.polls(r.section)
                found[api] = ids(await run(stream, r.client, backfill=START))
    assert found["rest"] == found["graphql"]
    assert found["rest"][-1] == "order:1002:2024-03-01T01:00:00Z"
    (query,) = sb.requests_to("/admin/api/2025-01/graphql.json", "POST")
    assert b"updated_at:>='2024-03-01T00:00:00Z'" in query.body


def test_polls_are_off_unless_asked_and_the_api_is_named() -> None:
    assert SHOPIFY.polls is not None
    assert SHOPIFY.polls(ShopifySettings()) == []
    with pytest.raises(ValidationError) as info:
        ShopifySettings.model_validate({"poll_orders": True, "poll_orders_api": "soap"})
    assert info.value.errors()[0]["loc"] == ("poll_orders_api",)
