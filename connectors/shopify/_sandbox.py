"""A local Shopify Admin API: GraphQL with cost-based throttling, REST orders.

Routes::

    POST /admin/api/{version}/graphql.json   {"query", "variables"}
    GET  /admin/api/{version}/orders.json    the order list (Link page_info)

``X-Shopify-Access-Token`` must equal ``access_token`` (else 401
``{"errors": "[API] Invalid API key or access token ..."}``). Mutations
understood: ``customerCreate(input:)`` (email format and uniqueness ->
``userErrors``) and ``tagsAdd(id:, tags:)``; any other top-level field is a
GraphQL error (``undefinedField``) without data. Every answer carries
``extensions.cost`` with a leaky bucket (``maximum`` points, ``restore_rate``
per second, ``cost`` per mutation); a mutation the bucket cannot afford
answers ``THROTTLED`` and does nothing. No idempotency key: side effects
are counted per command id.

Orders (see :mod:`connectors.shopify._sandbox_orders` for the REST and
GraphQL list semantics): the GraphQL query ``orders(...)`` (cost ``2 +
first`` requested, ``2 + nodes`` charged) and ``GET orders.json`` read the
same store. A refused REST request is a 400 ``{"errors": {param: message}}``;
an unknown route 404 ``{"errors": "Not Found"}``.

Test API: ``seed_orders(count, start=, step_s=, **fields)`` and
``update_order(id, at=None, **changes)`` (a new ``updated_at``; ``now()``
is injectable), ``orders`` (by id); the ``repeat_cursor`` switch (also
``PUT /_sandbox/switches``) hands a page's ``page_info`` / ``after`` back
as the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response

from ._sandbox_orders import BadRequest, Orders

__all__ = ["ShopifySandbox"]

_FIELD = re.compile(r"^\s*mutation\b[^{]*\{\s*(\w+)", re.S)
_QUERY_FIELD = re.compile(r"^\s*(?:query\b[^{]*)?\{\s*(\w+)", re.S)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ShopifySandbox(ProviderSandbox):
    """Customers in memory, and the points bucket."""

    name = "shopify"
    switches = frozenset({"latency", "record", "maximum", "restore_rate", "cost", "repeat_cursor"})

    def __init__(
        self,
        *,
        access_token: str = "shpat_sandbox",  # noqa: S107
        maximum: float = 1000.0,
        restore_rate: float = 50.0,
        cost: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        utc_offset_minutes: int = -300,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.access_token = access_token
        self.maximum, self.restore_rate, self.cost = maximum, restore_rate, cost
        self.customers: dict[str, dict[str, Any]] = {}
        self._orders = Orders(now, utc_offset_minutes)
        #: a page fetched with a page_info / after hands the same token back
        self.repeat_cursor = False
        self._available = maximum
        self._at = self.clock()
        self.throttled = 0

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.customers.clear()
            self._orders.by_id.clear()
            self.repeat_cursor = False
            self._available, self._at, self.throttled = self.maximum, self.clock(), 0

    @property
    def orders(self) -> dict[int, dict[str, Any]]:
        """The orders by id (the live store: read, do not change it)."""
        return self._orders.by_id

    def seed_orders(
        self,
        count: int,
        *,
        start: datetime | None = None,
        step_s: float = 60.0,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        """Add ``count`` orders created (and updated) ``step_s`` apart from
        ``start`` (default ``now()``); ``fields`` override the defaults."""
        with self.lock:
            return self._orders.seed(count, start=start, step_s=step_s, **fields)

    def update_order(
        self, order_id: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Change an order and set its ``updated_at`` to ``at`` (default ``now()``)."""
        with self.lock:
            return self._orders.update(order_id, at, changes)

    def set_available(self, points: float) -> None:
        with self.lock:
            self._available, self._at = points, self.clock()

    def accepts(self) -> str:
        return f"the access token {self.access_token} (X-Shopify-Access-Token)"

    def settings_for(self, url: str) -> dict[str, str]:
        return {"shopify.base_url": url, "shopify.access_token": self.access_token}

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/admin/api/{version}/graphql.json", self._graphql)
        router.add_get("/admin/api/{version}/orders.json", self._orders_rest)

    def unknown_route(self, request: web.Request) -> web.Response:
        return json_response({"errors": "Not Found"}, status=404)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-Shopify-Access-Token") == self.access_token:
            return None
        return json_response(
            {
                "errors": "[API] Invalid API key or access token (unrecognized login or "
                "wrong password)"
            },
            status=401,
        )

    async def _orders_rest(self, request: web.Request) -> web.Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        try:
            with self.lock:
                page, links = self._orders.rest_page(request.query, request.url, self.repeat_cursor)
        except BadRequest as exc:
            return json_response({"errors": {exc.param: str(exc)}}, status=400)
        headers = {"Link": ", ".join(links)} if links else None
        return json_response({"orders": page}, headers=headers)

    def _orders_query(self, variables: dict[str, Any]) -> web.Response:
        # called under the lock, after _refill
        first = variables.get("first")
        requested = 2 + (first if isinstance(first, int) else 0)
        if self._available < requested:
            self.throttled += 1
            return json_response(
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": self._extensions(requested, 0),
                }
            )
        try:
            connection = self._orders.connection(variables, self.repeat_cursor)
        except BadRequest as exc:
            return json_response(
                {
                    "errors": [{"message": str(exc), "extensions": {"code": "badRequest"}}],
                    "extensions": self._extensions(requested, 0),
                }
            )
        actual = 2 + len(connection["nodes"])
        self._available -= actual
        return json_response(
            {"data": {"orders": connection}, "extensions": self._extensions(requested, actual)}
        )

    def _extensions(self, requested: float, actual: float) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum,
                    "currentlyAvailable": round(self._available, 3),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def _refill(self) -> None:
        now = self.clock()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now

    async def _graphql(self, request: web.Request) -> web.Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if (
            is_not_json(body)
            or not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
        ):
            return json_response({"errors": [{"message": "Bad Request: query is required"}]}, 400)
        match = _FIELD.match(body["query"])
        variables = body.get("variables") or {}
        with self.lock:
            self._refill()
            queried = _QUERY_FIELD.match(body["query"]) if match is None else None
            if queried is not None and queried.group(1) == "orders":
                return self._orders_query(variables)
            if match is None:
                ext = self._extensions(1, 1)
                return json_response(
                    {
                        "errors": [
                            {
                                "message": "only mutations and the orders query are served here",
                                "extensions": {"code": "badRequest"},
                            }
                        ],
                        "extensions": ext,
                    }
                )
            if self._available < self.cost:
                self.throttled += 1
                ext = self._extensions(self.cost, 0)
                return json_response(
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": ext,
                    }
                )
            field = match.group(1)
            handler = {"customerCreate": self._customer_create, "tagsAdd": self._tags_add}.get(
                field
            )
            if handler is None:
                ext = self._extensions(self.cost, 0)
                message = f"Field '{field}' doesn't exist on type 'Mutation'"
                return json_response(
                    {
                        "errors": [{"message": message, "extensions": {"code": "undefinedField"}}],
                        "extensions": ext,
                    }
                )
            self._available -= self.cost
            payload, effect = handler(variables)
            ext = self._extensions(self.cost, self.cost)
        if effect:
            self.count_effect(request)
        return json_response({"data": {field: payload}, "extensions": ext})

    def _customer_create(self, variables: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        data = variables.get("input") or {}
        email = data.get("email")
        if email is not None and not _EMAIL.match(str(email)):
            return _user_error(["email"], "Email is invalid"), False
        if email is not None and any(c["email"] == email for c in self.customers.values()):
            return _user_error(["email"], "Email has already been taken"), False
        if email is None and not data.get("phone"):
            return _user_error(
                None, "A name, phone number, or email address must be present"
            ), False
        gid = f"gid://shopify/Customer/{len(self.customers) + 1}"
        customer = {
            "id": gid,
            "email": email,
            "phone": data.get("phone"),
            "firstName": data.get("firstName"),
            "lastName": data.get("lastName"),
            "note": data.get("note"),
            "tags": list(data.get("tags") or []),
        }
        self.customers[gid] = customer
        return {"customer": customer, "userErrors": []}, True

    def _tags_add(self, variables: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        node = self.customers.get(str(variables.get("id")))
        if node is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Not found"}]}, False
        node["tags"] = list(dict.fromkeys([*node["tags"], *(variables.get("tags") or [])]))
        return {"node": {"id": node["id"]}, "userErrors": []}, True


def _user_error(field: list[str] | None, message: str) -> dict[str, Any]:
    return {"customer": None, "userErrors": [{"field": field, "message": message}]}
