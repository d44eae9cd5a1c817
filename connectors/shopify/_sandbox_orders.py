"""The Shopify sandbox's orders: a store, the REST list and the GraphQL connection.

REST ``GET /admin/api/{version}/orders.json``, as at Shopify:

- filters ``status`` (``open`` by default, ``closed``, ``cancelled``,
  ``any``), ``updated_at_min``/``_max``, ``created_at_min``/``_max``
  (inclusive, ISO 8601 with an offset), ``since_id``; ``order`` is
  ``<updated_at|created_at|id> <asc|desc>`` (the sandbox's default: ``id
  asc``); ``limit`` 1..250 (default 50);
- cursor pagination: ``Link: <...?limit=N&page_info=T>; rel="previous",
  <...>; rel="next"`` (absolute URLs). ``page_info`` is opaque and carries
  the filters, the order and the position (the last key of the page, so
  updates during a run do not shift later pages); a request with
  ``page_info`` and any parameter but ``limit``/``fields`` is a 400;
- times in the shop's zone (``2024-01-02T05:00:00-05:00``).

GraphQL ``orders(first:, after:, query:, sortKey: UPDATED_AT)``: nodes
sorted by ``updatedAt`` (UTC), ``query`` understood for
``updated_at:>='<time>'`` / ``updated_at:>'<time>'`` (the rest of the
search syntax is not); the nodes have a fixed shape whatever the selection.

``repeat_cursor`` (the sandbox's switch) makes a page fetched with a
``page_info`` / ``after`` hand that same token back as the next one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from yarl import URL

__all__ = ["BadRequest", "Orders"]

_FILTERS = (
    "status",
    "updated_at_min",
    "updated_at_max",
    "created_at_min",
    "created_at_max",
    "since_id",
)
_ORDER = re.compile(r"^(updated_at|created_at|id) (asc|desc)$")
_STATUSES = frozenset({"open", "closed", "cancelled", "any"})
_SEARCH = re.compile(r"^\s*updated_at:(>=?)'?([^'\s]+)'?\s*$")

Order = dict[str, Any]
Key = tuple[Any, int]


class BadRequest(ValueError):
    """A request Shopify would refuse: ``param`` is the parameter to name."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _time(raw: str, param: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(param, f"{raw!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(text: str) -> str:
    return _time(text, "").astimezone(UTC).isoformat().replace("+00:00", "Z")


def _encode(data: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode(token: str, param: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise BadRequest(param, "Invalid value.") from None


class Orders:
    """Orders in memory; callers hold the sandbox's lock around every method."""

    def __init__(self, now: Callable[[], datetime], utc_offset_minutes: int = -300) -> None:
        self.now = now
        self.zone = timezone(timedelta(minutes=utc_offset_minutes))
        self.by_id: dict[int, Order] = {}

    def _stamp(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).isoformat(timespec="seconds")

    def seed(
        self, count: int, *, start: datetime | None, step_s: float, **fields: Any
    ) -> list[Order]:
        at = start or self.now()
        made = []
        for i in range(count):
            order_id = 1001 + len(self.by_id)
            stamp = self._stamp(at + timedelta(seconds=step_s * i))
            order: Order = {
                "id": order_id,
                "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                "name": f"#{order_id}",
                "email": f"buyer{order_id}@example.com",
                "created_at": stamp,
                "updated_at": stamp,
                "cancelled_at": None,
                "closed_at": None,
                "financial_status": "paid",
                "fulfillment_status": None,
                "total_price": "10.00",
                "currency": "USD",
                **fields,
            }
            self.by_id[order_id] = order
            made.append(order)
        return made

    def update(self, order_id: int, at: datetime | None, changes: Mapping[str, Any]) -> Order:
        order = self.by_id[order_id]
        order.update(changes)
        order["updated_at"] = self._stamp(at or self.now())
        return order

    # --- REST ---------------------------------------------------------------

    def rest_page(
        self, query: Mapping[str, str], url: URL, repeat: bool
    ) -> tuple[list[Order], list[str]]:
        """The page's orders and its Link header entries; raises BadRequest."""
        token = query.get("page_info")
        if token is not None:
            extra = sorted(set(query) - {"page_info", "limit", "fields"})
            if extra:
                raise BadRequest(
                    "page_info", f"page_info cannot be combined with: {', '.join(extra)}"
                )
            state = _decode(token, "page_info")
            if not isinstance(state, dict) or not {"q", "o", "k", "d"} <= set(state):
                raise BadRequest("page_info", "Invalid value.")
            filters, order, position = state["q"], state["o"], state
        else:
            filters = {k: query[k] for k in _FILTERS if k in query}
            order, position = query.get("order", "id asc"), None
        limit = _limit(query.get("limit", "50"))
        match = _ORDER.match(order)
        if match is None:
            raise BadRequest("order", f"{order!r} is not '<field> asc|desc'")
        field, direction = match.groups()
        listed = sorted(
            _filtered(self.by_id.values(), filters),
            key=lambda o: _key(o, field),
            reverse=direction == "desc",
        )
        page, has_prev, has_next = _window(listed, field, direction, position, limit)

        def link(rel: str, page_info: str) -> str:
            return f'<{url.with_query({"limit": limit, "page_info": page_info})}>; rel="{rel}"'

        def at(order_: Order, step: str) -> str:
            return _encode({"q": filters, "o": order, "k": _dump(order_, field), "d": step})

        links = []
        if has_prev and page:
            links.append(link("previous", at(page[0], "prev")))
        if repeat and token:
            links.append(link("next", token))
        elif has_next and page:
            links.append(link("next", at(page[-1], "next")))
        return page, links

    # --- GraphQL ---------------------------------------------------------------

    def connection(self, variables: Mapping[str, Any], repeat: bool) -> dict[str, Any]:
        """``orders(first, after, query)`` sorted by updatedAt; raises BadRequest."""
        first = variables.get("first")
        if not isinstance(first, int) or not 1 <= first <= 250:
            raise BadRequest("first", "first must be an integer from 1 to 250")
        after = variables.get("after")
        search = variables.get("query")
        filters: dict[str, str] = {"status": "any"}
        if search:
            found = _SEARCH.match(str(search))
            if found is None:
                raise BadRequest("query", f"unsupported search {search!r}")
            op, value = found.groups()
            filters["updated_at_min" if op == ">=" else "updated_at_after"] = value
        listed = sorted(
            _filtered(self.by_id.values(), filters), key=lambda o: _key(o, "updated_at")
        )
        position = None if after is None else {"k": _decode(str(after), "after"), "d": "next"}
        page, _prev, has_next = _window(listed, "updated_at", "asc", position, first)
        end = _encode(_dump(page[-1], "updated_at")) if page else after
        if repeat and after:
            end, has_next = after, True
        return {
            "nodes": [_node(o) for o in page],
            "pageInfo": {"hasNextPage": has_next, "endCursor": end},
        }


def _limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("limit", "limit must be an integer") from None
    if not 1 <= value <= 250:
        raise BadRequest("limit", "limit must be from 1 to 250")
    return value


def _key(order: Order, field: str) -> Key:
    if field == "id":
        return (order["id"], order["id"])
    return (_time(order[field], field).astimezone(UTC), order["id"])


def _dump(order: Order, field: str) -> list[Any]:
    value, order_id = _key(order, field)
    return [value if field == "id" else value.isoformat(), order_id]


def _load(dumped: Any, field: str) -> Key:
    if not isinstance(dumped, list) or len(dumped) != 2:
        raise BadRequest("page_info", "Invalid value.")
    value, order_id = dumped
    return (value if field == "id" else _time(value, "page_info"), order_id)


def _window(
    listed: list[Order], field: str, direction: str, position: Any, limit: int
) -> tuple[list[Order], bool, bool]:
    """The page after (or before) ``position``; whether pages come before and after it."""
    if position is None:
        return listed[:limit], False, len(listed) > limit
    mark = _load(position.get("k"), field)
    desc = direction == "desc"
    if position.get("d") == "prev":
        before = [o for o in listed if (_key(o, field) > mark if desc else _key(o, field) < mark)]
        return before[-limit:], len(before) > limit, True
    rest = [o for o in listed if (_key(o, field) < mark if desc else _key(o, field) > mark)]
    return rest[:limit], True, len(rest) > limit


def _filtered(orders: Any, filters: Mapping[str, str]) -> list[Order]:
    status = filters.get("status", "open")
    if status not in _STATUSES:
        raise BadRequest("status", f"{status!r} is not one of {sorted(_STATUSES)}")
    bounds = {
        name: _time(filters[name], name)
        for name in ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max")
        if name in filters
    }
    after = _time(filters["updated_at_after"], "query") if "updated_at_after" in filters else None
    since_id = int(filters["since_id"]) if "since_id" in filters else None
    kept = []
    for order in orders:
        if not _status_matches(order, status):
            continue
        if since_id is not None and order["id"] <= since_id:
            continue
        times = {
            "updated_at": _time(order["updated_at"], "updated_at"),
            "created_at": _time(order["created_at"], "created_at"),
        }
        if after is not None and times["updated_at"] <= after:
            continue
        if all(
            times[name[:-4]] >= bound if name.endswith("_min") else times[name[:-4]] <= bound
            for name, bound in bounds.items()
        ):
            kept.append(order)
    return kept


def _status_matches(order: Order, status: str) -> bool:
    if status == "any":
        return True
    if status == "cancelled":
        return order["cancelled_at"] is not None
    if status == "closed":
        return order["closed_at"] is not None
    return order["cancelled_at"] is None and order["closed_at"] is None


def _node(order: Order) -> dict[str, Any]:
    return {
        "id": order["admin_graphql_api_id"],
        "legacyResourceId": str(order["id"]),
        "name": order["name"],
        "email": order["email"],
        "createdAt": _utc(order["created_at"]),
        "updatedAt": _utc(order["updated_at"]),
        "cancelledAt": order["cancelled_at"] and _utc(order["cancelled_at"]),
        "closedAt": order["closed_at"] and _utc(order["closed_at"]),
        "displayFinancialStatus": str(order["financial_status"] or "").upper() or None,
        "displayFulfillmentStatus": str(order["fulfillment_status"] or "UNFULFILLED").upper(),
        "totalPriceSet": {
            "shopMoney": {"amount": order["total_price"], "currencyCode": order["currency"]}
        },
    }
