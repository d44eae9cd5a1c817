"""A local Shopify GraphQL Admin API with cost-based throttling.

Route::

    POST /admin/api/{version}/graphql.json   {"query", "variables"}

``X-Shopify-Access-Token`` must equal ``access_token`` (else 401
``{"errors": "[API] Invalid API key or access token ..."}``). Mutations
understood: ``customerCreate(input:)`` (email format and uniqueness ->
``userErrors``) and ``tagsAdd(id:, tags:)``; any other top-level field is a
GraphQL error (``undefinedField``) without data. Every answer carries
``extensions.cost`` with a leaky bucket (``maximum`` points, ``restore_rate``
per second, ``cost`` per mutation); a mutation the bucket cannot afford
answers ``THROTTLED`` and does nothing. No idempotency key: side effects
are counted per command id.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response

__all__ = ["ShopifySandbox"]

_FIELD = re.compile(r"^\s*mutation\b[^{]*\{\s*(\w+)", re.S)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ShopifySandbox(ProviderSandbox):
    """Customers in memory, and the points bucket."""

    name = "shopify"
    switches = frozenset({"latency", "record", "maximum", "restore_rate", "cost"})

    def __init__(
        self,
        *,
        access_token: str = "shpat_sandbox",  # noqa: S107
        maximum: float = 1000.0,
        restore_rate: float = 50.0,
        cost: float = 10.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.access_token = access_token
        self.maximum, self.restore_rate, self.cost = maximum, restore_rate, cost
        self.customers: dict[str, dict[str, Any]] = {}
        self._available = maximum
        self._at = self.clock()
        self.throttled = 0

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.customers.clear()
            self._available, self._at, self.throttled = self.maximum, self.clock(), 0

    def set_available(self, points: float) -> None:
        with self.lock:
            self._available, self._at = points, self.clock()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/admin/api/{version}/graphql.json", self._graphql)

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
        if request.headers.get("X-Shopify-Access-Token") != self.access_token:
            return json_response(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or "
                    "wrong password)"
                },
                status=401,
            )
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
            if match is None:
                ext = self._extensions(1, 1)
                return json_response(
                    {
                        "errors": [
                            {
                                "message": "only mutations are served here",
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
