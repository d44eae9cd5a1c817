"""Shopify poll streams: the shop's orders, by ``updated_at``.

``orders`` (REST, the default: ``poll_orders_api="rest"``)::

    GET /admin/api/<version>/orders.json?limit=250&status=any
        &order=updated_at asc&updated_at_min=<mark - lookback>

Pages follow the ``Link: <...page_info=...>; rel="next"`` header
(:class:`~core.pagination.LinkHeaderPaginator`). Shopify forbids any
parameter but ``limit`` (and ``fields``) next to ``page_info``: the Link URL
carries the filters inside its token, so the next pages are fetched from
that URL alone, which is what the paginator does.

``orders-graphql`` (``poll_orders_api="graphql"``): the same list through
the GraphQL Admin API, ``orders(first:, after:, query: "updated_at:>='...'",
sortKey: UPDATED_AT)``, paged on ``pageInfo {hasNextPage endCursor}``
(:class:`~core.pagination.GraphQLPaginator`). Its records are GraphQL nodes
(camelCase fields), not REST orders. The two streams keep separate cursors
(an in-run position of one means nothing to the other) but produce the
same event ids for the same order version.

Incremental position (both): the mark is the latest ``updated_at`` seen, as
UTC ISO text (REST writes times in the shop's zone, ``-05:00``, GraphQL in
UTC). ``updated_at_min`` is inclusive, and a run starts at ``mark -
poll_lookback_s`` so an update Shopify lists late with an earlier
``updated_at`` is still read; what the lookback re-reads has the same ids.

Events: id = ``order:<numeric id>:<updated_at as UTC ISO>``, one per order
*version*: each update of an order is a new event, re-reading the same
version is not. type = ``shopify.orders.updated``, subject = the order's
GraphQL id (``gid://shopify/Order/<id>``, as the webhook normalization
picks ``admin_graphql_api_id``), time = ``updated_at``, data = the record
as listed. Shopify's webhook ids (``X-Shopify-Webhook-Id``) differ from
these, so an update seen both ways is two events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.envelopes import Event
from core.errors import InvalidBodyError
from core.pagination import GraphQLPaginator, LinkHeaderPaginator
from core.poll import PollStream

from .._poll_events import max_time_mark, parse_time, poll_event, required_text, utc_iso
from ._settings import ShopifySettings

__all__ = ["ORDERS_QUERY", "orders_graphql_stream", "orders_stream", "polls"]

ORDERS_QUERY = """
query SwitchboardOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {
      id legacyResourceId name email createdAt updatedAt cancelledAt closedAt
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip()


def _since(mark: Any, backfill: datetime | None, lookback_s: float) -> str | None:
    at = parse_time(mark)
    since = at - timedelta(seconds=lookback_s) if at is not None else backfill
    return None if since is None else utc_iso(since)


def _event(order_id: str, subject: str, updated_text: str, record: Any) -> Event:
    updated = parse_time(updated_text)
    if updated is None:
        raise InvalidBodyError(
            f"shopify order {order_id}: updated_at {updated_text!r} is not a time"
        )
    return poll_event(
        "shopify",
        event_id=f"order:{order_id}:{utc_iso(updated)}",
        event_type="orders.updated",
        subject=subject,
        time=updated,
        data=record,
    )


def _rest_events(order: Any) -> Sequence[Event]:
    order_id = required_text(order, "id")
    subject = order.get("admin_graphql_api_id") or f"gid://shopify/Order/{order_id}"
    return [_event(order_id, str(subject), required_text(order, "updated_at"), order)]


def _graphql_events(node: Any) -> Sequence[Event]:
    gid = required_text(node, "id")
    order_id = node.get("legacyResourceId") or gid.rsplit("/", 1)[-1]
    return [_event(str(order_id), gid, required_text(node, "updatedAt"), node)]


def orders_stream(version: str, *, lookback_s: float = 300.0, limit: int = 250) -> PollStream:
    """The REST ``orders`` stream (see the module docstring)."""

    def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
        since = _since(mark, backfill, lookback_s)
        return {} if since is None else {"updated_at_min": since}

    return PollStream(
        name="orders",
        path=f"/admin/api/{version}/orders.json",
        params={"limit": limit, "status": "any", "order": "updated_at asc"},
        paginator=lambda: LinkHeaderPaginator(records_path="orders"),
        to_events=_rest_events,
        first=first,
        advance=max_time_mark("updated_at"),
        description="the shop's orders by updated_at (orders.json, Link page_info)",
    )


def orders_graphql_stream(
    version: str, *, lookback_s: float = 300.0, size: int = 100
) -> PollStream:
    """The GraphQL ``orders-graphql`` stream (see the module docstring)."""

    def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
        since = _since(mark, backfill, lookback_s)
        return {} if since is None else {"query": f"updated_at:>='{since}'"}

    return PollStream(
        name="orders-graphql",
        path=f"/admin/api/{version}/graphql.json",
        graphql=ORDERS_QUERY,
        paginator=lambda: GraphQLPaginator("orders", size=size),
        to_events=_graphql_events,
        first=first,
        advance=max_time_mark("updatedAt"),
        description="the shop's orders by updatedAt (GraphQL orders, pageInfo)",
    )


_STREAMS: dict[str, Callable[..., PollStream]] = {
    "rest": orders_stream,
    "graphql": orders_graphql_stream,
}


def polls(settings: ShopifySettings) -> list[PollStream]:
    """The orders stream of ``poll_orders_api`` when ``poll_orders`` is on."""
    if not settings.poll_orders:
        return []
    make = _STREAMS[settings.poll_orders_api]
    return [make(settings.api_version, lookback_s=settings.poll_lookback_s)]
