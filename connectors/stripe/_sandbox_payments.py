"""The Stripe sandbox's payment intents and refunds.

A payment intent is created (``amount`` >= 50 in a known currency, for a
customer that exists), confirmed (``succeeded``, or ``requires_capture``
with ``capture_method=manual``) and captured (only from
``requires_capture``, at most its amount); a refund is of a succeeded
intent, at most what is left unrefunded. Each step records Stripe's event.
"""

from __future__ import annotations

import time
from typing import Any

from connectors._sandbox import ProviderSandbox

from ._sandbox_events import StripeEvents
from ._sandbox_form import Invalid, integer, merge_metadata, missing

__all__ = ["CURRENCIES", "StripePayments"]

CURRENCIES = frozenset({"usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "sek"})


class StripePayments(StripeEvents, ProviderSandbox):
    """The payments part of :class:`~connectors.stripe._sandbox.StripeSandbox`
    (handlers run under the sandbox's lock; its ``__init__`` makes the tables)."""

    customers: dict[str, dict[str, Any]]
    payment_intents: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]

    def _intent_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        amount = integer(data, "amount", required=True)
        assert amount is not None
        currency = str(data.get("currency") or "")
        if not currency:
            raise Invalid("Missing required param: currency.", "currency", "parameter_missing")
        if currency not in CURRENCIES:
            raise Invalid(f"Invalid currency: {currency}.", "currency", "parameter_invalid")
        if amount < 50:
            raise Invalid("Amount must be at least 50 cents", "amount", "amount_too_small")
        customer = data.get("customer")
        if customer and customer not in self.customers:
            raise missing("customer", customer, "customer")
        pm = data.get("payment_method")
        obj: dict[str, Any] = {
            "id": self.new_id("pi_"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer,
            "payment_method": pm,
            "capture_method": data.get("capture_method", "automatic"),
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "description": data.get("description"),
            "metadata": {},
            "created": int(time.time()),
        }
        merge_metadata(obj, data)
        self.payment_intents[obj["id"]] = obj
        self._emit("payment_intent.created", obj)
        if data.get("confirm") == "true":
            self._confirm(obj, data)
        return obj

    def _intent(self, ident: str | None) -> dict[str, Any]:
        obj = self.payment_intents.get(ident or "")
        if obj is None:
            raise missing("payment_intent", str(ident))
        return obj

    def _confirm(self, obj: dict[str, Any], data: dict[str, Any]) -> None:
        if data.get("payment_method"):
            obj["payment_method"] = data["payment_method"]
        if not obj["payment_method"]:
            raise Invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_method",
                "payment_intent_unexpected_state",
            )
        if obj["status"] not in ("requires_confirmation", "requires_payment_method"):
            raise Invalid(
                f"This PaymentIntent's status is {obj['status']}.",
                None,
                "payment_intent_unexpected_state",
            )
        if obj["capture_method"] == "manual":
            obj["status"] = "requires_capture"
            self._emit("payment_intent.amount_capturable_updated", obj)
        else:
            obj["status"], obj["amount_received"] = "succeeded", obj["amount"]
            self._emit("payment_intent.succeeded", obj)

    def _intent_confirm(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        obj = self._intent(ident)
        self._confirm(obj, data)
        return obj

    def _intent_capture(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        obj = self._intent(ident)
        if obj["status"] != "requires_capture":
            raise Invalid(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{obj['status']}.",
                None,
                "payment_intent_unexpected_state",
            )
        amount = integer(data, "amount_to_capture") or obj["amount"]
        if amount > obj["amount"]:
            raise Invalid("amount_to_capture is too large", "amount_to_capture", "amount_too_large")
        obj["status"], obj["amount_received"] = "succeeded", amount
        merge_metadata(obj, data)
        self._emit("payment_intent.succeeded", obj)
        return obj

    # --- refunds -------------------------------------------------------------------

    def _refund_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        ident = str(data.get("payment_intent") or "")
        if not ident:
            raise Invalid(
                "Missing required param: payment_intent.", "payment_intent", "parameter_missing"
            )
        intent = self.payment_intents.get(ident)
        if intent is None:
            raise missing("payment_intent", ident, "payment_intent")
        if intent["status"] != "succeeded":
            raise Invalid(
                "This PaymentIntent has no successful charge to refund.",
                "payment_intent",
                "charge_not_refundable",
            )
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == ident)
        left = intent["amount_received"] - refunded
        amount = integer(data, "amount") or left
        if amount > left or left <= 0:
            raise Invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount ({left}).",
                "amount",
                "amount_too_large",
            )
        obj = {
            "id": self.new_id("re_"),
            "object": "refund",
            "amount": amount,
            "payment_intent": ident,
            "currency": intent["currency"],
            "status": "succeeded",
            "reason": data.get("reason"),
            "metadata": {},
        }
        merge_metadata(obj, data)
        self.refunds[obj["id"]] = obj
        self._emit("refund.created", obj)
        return obj
