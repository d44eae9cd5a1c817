"""The Stripe sandbox's subscriptions.

A subscription is for a customer that exists, with ``items[n][price]``
naming a ``price_...``; an update adds, changes or (``deleted=true``) drops
items; a canceled subscription takes no update, and cancelling it again
answers it unchanged (no side effect). Each step records Stripe's event.
"""

from __future__ import annotations

from typing import Any

import orjson

from connectors._sandbox import ProviderSandbox

from ._sandbox_events import StripeEvents
from ._sandbox_form import Invalid, Unchanged, integer, merge_metadata, missing

__all__ = ["StripeSubscriptions"]


class StripeSubscriptions(StripeEvents, ProviderSandbox):
    """The subscriptions part of :class:`~connectors.stripe._sandbox.StripeSandbox`
    (handlers run under the sandbox's lock; its ``__init__`` makes the tables)."""

    customers: dict[str, dict[str, Any]]
    subscriptions: dict[str, dict[str, Any]]

    def _items(self, sub: dict[str, Any], items: Any) -> None:
        if not isinstance(items, list):
            raise Invalid("Invalid array", "items", "parameter_invalid")
        current = {i["id"]: i for i in sub["items"]["data"]}
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise Invalid("Invalid object", f"items[{n}]")
            if item.get("id"):
                if item["id"] not in current:
                    raise missing("subscription_item", item["id"], f"items[{n}][id]")
                if item.get("deleted") == "true":
                    del current[item["id"]]
                    continue
                target = current[item["id"]]
            else:
                target = {"id": self.new_id("si_"), "object": "subscription_item", "quantity": 1}
                current[target["id"]] = target
            price = item.get("price", target.get("price"))
            if not price or not str(price).startswith("price_"):
                raise missing("price", str(price), f"items[{n}][price]")
            target["price"] = price
            if item.get("quantity") is not None:
                target["quantity"] = integer(item, "quantity")
        sub["items"]["data"] = list(current.values())

    def _sub_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        customer = data.get("customer")
        if not customer:
            raise Invalid("Missing required param: customer.", "customer", "parameter_missing")
        if customer not in self.customers:
            raise missing("customer", customer, "customer")
        if not data.get("items"):
            raise Invalid("Missing required param: items.", "items", "parameter_missing")
        sub: dict[str, Any] = {
            "id": self.new_id("sub_"),
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "metadata": {},
            "cancel_at_period_end": False,
            "items": {"object": "list", "data": []},
        }
        self._items(sub, data["items"])
        self._sub_fields(sub, data)
        self.subscriptions[sub["id"]] = sub
        self._emit("customer.subscription.created", sub)
        return sub

    def _sub_fields(self, sub: dict[str, Any], data: dict[str, Any]) -> None:
        if "cancel_at_period_end" in data:
            sub["cancel_at_period_end"] = data["cancel_at_period_end"] == "true"
        if data.get("trial_period_days"):
            sub["status"] = "trialing"
        merge_metadata(sub, data)

    def _sub(self, ident: str | None) -> dict[str, Any]:
        sub = self.subscriptions.get(ident or "")
        if sub is None:
            raise missing("subscription", str(ident))
        return sub

    def _sub_update(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        sub = self._sub(ident)
        if sub["status"] == "canceled":
            raise Invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                None,
                "resource_missing",
            )
        before = orjson.loads(orjson.dumps(sub))
        if "items" in data:
            self._items(sub, data["items"])
        self._sub_fields(sub, data)
        self._emit("customer.subscription.updated", sub, before)
        return sub

    def _sub_cancel(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any] | Unchanged:
        sub = self._sub(ident)
        if sub["status"] == "canceled":
            return Unchanged(sub)
        sub["status"] = "canceled"
        self._emit("customer.subscription.deleted", sub)
        return sub
