"""The Stripe sandbox's event log and ``GET /v1/events``, over HTTP: Stripe's
list semantics (cursors both ways, created filters, limit, errors), the
events its own objects record, and the test API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.stripe import StripeVerifier
from connectors.stripe._sandbox import StripeSandbox
from connectors.stripe._webhook import normalize

AUTH = {"Authorization": "Bearer sk_test_sandbox"}


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[StripeSandbox, httpx.AsyncClient]]:
    async with (
        StripeSandbox() as sb,
        httpx.AsyncClient(base_url=sb.url, headers=AUTH, timeout=5) as http,
    ):
        yield sb, http


async def listed(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/events", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids_of(body: dict[str, Any]) -> list[str]:
    return [e["id"] for e in body["data"]]


async def test_list_pages_like_stripe(sandbox: tuple[StripeSandbox, httpx.AsyncClient]) -> None:
    sb, http = sandbox
    events = [e["id"] for e in sb.add_events(25)]  # oldest first
    first = await listed(http)
    assert (first["object"], first["url"], first["has_more"]) == ("list", "/v1/events", True)
    assert ids_of(first) == events[::-1][:10]  # default limit 10, newest first
    older = await listed(http, limit=10, starting_after=events[15])
    assert (ids_of(older), older["has_more"]) == (events[5:15][::-1], True)
    oldest = await listed(http, limit=10, starting_after=events[5])
    assert (ids_of(oldest), oldest["has_more"]) == (events[0:5][::-1], False)
    # ending_before: the ones just newer than the cursor, still newest first
    newer = await listed(http, limit=10, ending_before=events[4])
    assert (ids_of(newer), newer["has_more"]) == (events[5:15][::-1], True)
    newest = await listed(http, limit=10, ending_before=events[14])
    assert (ids_of(newest), newest["has_more"]) == (events[15:25][::-1], False)
    assert ids_of(await listed(http, ending_before=events[-1])) == []
    every = await listed(http, limit=100)
    assert (ids_of(every), every["has_more"]) == (events[::-1], False)


async def test_created_filters(sandbox: tuple[StripeSandbox, httpx.AsyncClient]) -> None:
    sb, http = sandbox
    for created in (100, 200, 200, 300, 400):
        sb.add_event("charge.succeeded", {"id": f"ch_{created}", "object": "charge"}, created)
    events = [e["id"] for e in sb.events()]

    async def within(**params: Any) -> list[str]:
        return ids_of(await listed(http, limit=100, **params))

    assert await within(**{"created[gte]": 200}) == events[1:][::-1]
    assert await within(**{"created[gt]": 200}) == events[3:][::-1]
    assert await within(**{"created[lte]": 200}) == events[:3][::-1]
    assert await within(**{"created[lt]": 200, "created[gte]": 100}) == events[:1]
    assert await within(created=200) == events[1:3][::-1]
    page = await listed(http, limit=1, starting_after=events[3], **{"created[gte]": 200})
    assert (ids_of(page), page["has_more"]) == (events[2:3], True)
    with pytest.raises(ValueError, match="creation order"):
        sb.add_event("charge.succeeded", {"id": "ch_old"}, created=399)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"limit": 0}, "limit", "parameter_invalid_integer"),
        ({"limit": 101}, "limit", "parameter_invalid_integer"),
        ({"limit": "x"}, "limit", "parameter_invalid_integer"),
        ({"starting_after": "evt_nope"}, "starting_after", "resource_missing"),
        ({"ending_before": "evt_nope"}, "ending_before", "resource_missing"),
        ({"created[gte]": "soon"}, "created[gte]", "parameter_invalid_integer"),
    ],
)
async def test_refused_list_requests(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient], params: dict[str, Any], param: str, code: str
) -> None:
    sb, http = sandbox
    sb.add_events(3)
    response = await http.get("/v1/events", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_both_cursors_and_a_wrong_key_are_refused(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient],
) -> None:
    sb, http = sandbox
    a, b = (e["id"] for e in sb.add_events(2))
    both = await http.get("/v1/events", params={"starting_after": a, "ending_before": b})
    assert both.status_code == 400
    assert "only specify one" in both.json()["error"]["message"]
    wrong = await http.get("/v1/events", headers={"Authorization": "Bearer sk_test_nope"})
    assert wrong.status_code == 401


async def test_calls_record_stripe_events_and_refused_calls_none(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient],
) -> None:
    sb, http = sandbox
    cus = (await http.post("/v1/customers", data={"email": "a@example.com"})).json()["id"]
    await http.post(f"/v1/customers/{cus}", data={"name": "Ada"})
    assert (await http.post(f"/v1/customers/{cus}", data={"email": "nope"})).status_code == 400
    pi = await http.post(
        "/v1/payment_intents",
        data={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"},
        headers={"Idempotency-Key": "key-pi"},
    )
    intent = pi.json()["id"]
    await http.post(f"/v1/payment_intents/{intent}/confirm")
    await http.post("/v1/refunds", data={"payment_intent": intent, "amount": 500})
    sub = await http.post("/v1/subscriptions", data={"customer": cus, "items[0][price]": "price_1"})
    await http.post(f"/v1/subscriptions/{sub.json()['id']}", data={"metadata[a]": "b"})
    await http.delete(f"/v1/subscriptions/{sub.json()['id']}")
    await http.delete(f"/v1/subscriptions/{sub.json()['id']}")  # already canceled: no event

    events = sb.events()
    assert [e["type"] for e in events] == [
        "customer.created",
        "customer.updated",
        "payment_intent.created",
        "payment_intent.succeeded",
        "refund.created",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    created, updated, intent_created, succeeded = events[:4]
    assert set(created) == {
        "id", "object", "api_version", "created", "data", "livemode",
        "pending_webhooks", "request", "type",
    }  # fmt: skip
    assert (created["object"], created["livemode"]) == ("event", False)
    assert created["id"].startswith("evt_")
    assert created["data"]["object"]["name"] is None  # the object as it was then
    assert updated["data"]["object"]["name"] == "Ada"
    assert updated["data"]["previous_attributes"] == {"name": None}
    assert intent_created["data"]["object"]["status"] == "requires_confirmation"
    assert succeeded["data"]["object"]["status"] == "succeeded"
    assert intent_created["request"]["idempotency_key"] == "key-pi"
    assert intent_created["request"]["id"] == pi.headers["Request-Id"]
    # An idempotent replay acts once: no second event.
    await http.post(
        "/v1/payment_intents",
        data={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"},
        headers={"Idempotency-Key": "key-pi"},
    )
    assert len(sb.events()) == len(events)


async def test_event_webhook_is_a_valid_delivery_of_the_event(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient],
) -> None:
    sb, _ = sandbox
    event = sb.add_event("invoice.paid", {"id": "in_1", "object": "invoice"})
    body, headers = sb.event_webhook(event, "whsec_x")
    StripeVerifier(["whsec_x"]).verify(body, headers)
    (normalized,) = normalize(body, headers, datetime.now(UTC))
    assert (normalized.id, normalized.type, normalized.subject) == (
        event["id"],
        "stripe.invoice.paid",
        "in_1",
    )


async def test_repeat_cursor_switch_over_http_and_reset(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient],
) -> None:
    sb, http = sandbox
    events = [e["id"] for e in sb.add_events(30)]
    switched = await http.put("/_sandbox/switches", json={"repeat_cursor": True})
    assert switched.json()["repeat_cursor"] is True
    page = await listed(http, limit=10, starting_after=events[20])
    assert (ids_of(page)[-1], page["has_more"]) == (events[20], True)  # hands it out again
    page = await listed(http, limit=10, ending_before=events[20])
    assert (ids_of(page)[0], page["has_more"]) == (events[20], True)
    sb.reset()
    assert (sb.repeat_cursor, sb.events()) == (False, [])


async def test_a_hundred_thousand_events_page_cheaply(
    sandbox: tuple[StripeSandbox, httpx.AsyncClient],
) -> None:
    sb, http = sandbox
    started = time.perf_counter()
    events = sb.add_events(100_000)
    seeded = time.perf_counter() - started
    assert seeded < 10  # ~0.5 s here: O(n), no per-event copying
    middle = events[50_000]["id"]
    page = await listed(http, limit=100, starting_after=middle)
    assert ids_of(page) == [e["id"] for e in events[49_900:50_000][::-1]]
    page = await listed(http, limit=100, ending_before=middle)
    assert ids_of(page) == [e["id"] for e in events[50_001:50_101][::-1]]
