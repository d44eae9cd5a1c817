"""A local Stripe: the endpoints the Stripe commands call, with Stripe's
auth (401 on a wrong key), error format and idempotency-key semantics.

Routes (form-encoded bodies, bracket nesting)::

    POST   /v1/customers                     create (email checked)
    GET    /v1/customers/{id}                retrieve (404 resource_missing if unknown)
    POST   /v1/customers/{id}                update (404 resource_missing if unknown)
    POST   /v1/payment_intents               create (amount >= 50, known currency)
    POST   /v1/payment_intents/{id}/confirm  -> succeeded, or requires_capture (manual)
    POST   /v1/payment_intents/{id}/capture  only from requires_capture
    POST   /v1/refunds                       of a succeeded intent, amount <= refundable
    POST   /v1/subscriptions                 customer must exist, items[n][price] = price_...
    POST   /v1/subscriptions/{id}            update
    DELETE /v1/subscriptions/{id}            cancel (again: the canceled subscription)
    GET    /v1/events                        the event log, newest first (see below)

The key authenticates as at Stripe: ``Authorization: Bearer <key>`` or HTTP
Basic with the key as the username and any (usually empty) password --
``curl -u sk_test_...: https://.../v1/customers``; anything else is 401.
Errors are ``{"error": {"type", "code", "param", "message"}}`` with Stripe's
statuses; an unknown route is 404 ``invalid_request_error`` "Unrecognized
request URL (GET: /v1/...)". Idempotency (the base pipeline, POST only): same key + same
request replays the first answer (``Idempotent-Replayed: true``) with no new
side effect; same key + different body is 400 ``idempotency_error``; the
same key while its first request runs is 409 (stage it with ``hold()``).
As at Stripe, the auth check runs before a key is claimed, and a request
refused with a 4xx (validation, unknown resource) saves no result: its key
is released and it counts no side effect. ``side_effects(command_id)``
counts real executions (the sink's key is the command id); the DELETE of a
cancel carries no key at Stripe and counts under the command id, once:
cancelling a canceled subscription answers it again without acting.

Events: every call that acts records Stripe's event for it (``customer.created``
/ ``.updated``, ``payment_intent.created`` / ``.amount_capturable_updated`` /
``.succeeded``, ``refund.created``, ``customer.subscription.created`` /
``.updated`` / ``.deleted``) with the object as it was then and the call's
``request`` id and idempotency key; a refused call records none.
``GET /v1/events`` lists them as Stripe does (cursors both ways, ``created``
filters, ``has_more``: :mod:`connectors.stripe._sandbox_events`). Test API:
``add_event(type, obj, created=None)``, ``add_events(n, type)`` (fast: a
benchmark seeds 100,000), ``events()`` (oldest first),
``event_webhook(event, secret)`` (body and headers to deliver an event to
our ingest server), and the ``repeat_cursor`` switch (also ``PUT
/_sandbox/switches {"repeat_cursor": true}``): a list request with a cursor
gets the page that handed that cursor out again, ``has_more`` true.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response
from core.testing import RecordedRequest

from ._sandbox_events import EventLog, StripeEvents

__all__ = ["StripeSandbox", "decode_form"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CURRENCIES = frozenset({"usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "sek"})


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Bracket-nested form pairs back to nested dicts/lists (what Stripe parses)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY.match(key)
        if m is None:
            root[key] = value
            continue
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node = root
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[parts[-1]] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    fixed = {k: _lists(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        return [fixed[k] for k in sorted(fixed, key=int)]
    return fixed


@dataclass(frozen=True)
class _Unchanged:
    """A handler's answer that did not act (no side effect to count)."""

    obj: dict[str, Any]


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, code: str = "parameter_invalid"):
        super().__init__(message)
        self.param, self.code, self.status = param, code, 400


def _missing(kind: str, ident: str, param: str | None = None) -> _Invalid:
    err = _Invalid(f"No such {kind}: '{ident}'", param, "resource_missing")
    err.status = 404 if param is None else 400
    return err


def _int(data: dict[str, Any], name: str, required: bool = False) -> int | None:
    raw = data.get(name)
    if raw is None:
        if required:
            raise _Invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _Invalid(f"Invalid integer: {raw}", name, "parameter_invalid_integer") from None


class StripeSandbox(StripeEvents, ProviderSandbox):
    """Stripe's API, in memory. ``api_key`` is the only key accepted."""

    name = "stripe"
    idempotent_methods = frozenset({"POST"})
    switches = ProviderSandbox.switches | {"repeat_cursor"}

    def __init__(self, *, api_key: str = "sk_test_sandbox", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.event_log = EventLog()
        #: a list request with a cursor gets the page that handed it out again
        self.repeat_cursor = False
        # events of the call in progress (under self.lock), kept only if it succeeds
        self._pending = []

    def accepts(self) -> str:
        return (
            f"the test API key {self.api_key} (Authorization: Bearer, or curl -u {self.api_key}:)"
        )

    def settings_for(self, url: str) -> dict[str, str]:
        return {"stripe.base_url": url, "stripe.api_key": self.api_key}

    def reset(self) -> None:
        super().reset()
        self.repeat_cursor = False
        self.event_log.clear()
        with self.lock:
            for table in (self.customers, self.payment_intents, self.refunds, self.subscriptions):
                table.clear()

    def routes(self, router: web.UrlDispatcher) -> None:
        add = router.add_route
        add("POST", "/v1/customers", self._wrap(self._customer_create))
        add("GET", "/v1/customers/{id}", self._wrap(self._customer_retrieve))
        add("POST", "/v1/customers/{id}", self._wrap(self._customer_update))
        add("POST", "/v1/payment_intents", self._wrap(self._intent_create))
        add("POST", "/v1/payment_intents/{id}/confirm", self._wrap(self._intent_confirm))
        add("POST", "/v1/payment_intents/{id}/capture", self._wrap(self._intent_capture))
        add("POST", "/v1/refunds", self._wrap(self._refund_create))
        add("POST", "/v1/subscriptions", self._wrap(self._sub_create))
        add("POST", "/v1/subscriptions/{id}", self._wrap(self._sub_update))
        add("DELETE", "/v1/subscriptions/{id}", self._wrap(self._sub_cancel))
        add("GET", "/v1/events", self.list_events)

    async def _handle(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
        body: bytes,
        seen: RecordedRequest | None,
    ) -> web.StreamResponse:
        basic = self.basic(request)
        key = basic[0] if basic is not None else self.bearer(request)
        if key != self.api_key:
            return _error(401, "Invalid API Key provided.", None, None)
        return await super()._handle(request, handler, body, seen)

    def unknown_route(self, request: web.Request) -> web.Response:
        message = (
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
        return _error(404, message, None, None)

    def keeps_result(self, status: int) -> bool:
        return not 400 <= status < 500

    def _wrap(
        self, fn: Callable[[str | None, dict[str, Any]], dict[str, Any] | _Unchanged]
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            pairs = await self.form(request)
            if request.method in ("GET", "DELETE"):
                pairs = list(request.query.items())
            request_id = f"req_{self.new_id('')}"
            call = {"id": request_id, "idempotency_key": request.headers.get("Idempotency-Key")}
            try:
                with self.lock:
                    self._pending.clear()
                    obj = fn(request.match_info.get("id"), decode_form(pairs))
                    self._keep_events(call)
            except _Invalid as exc:
                return _error(exc.status, str(exc), exc.code, exc.param)
            if isinstance(obj, _Unchanged):
                obj = obj.obj
            else:
                self.count_effect(request)
            return json_response(obj, headers={"Request-Id": request_id})

        return handler

    # --- customers -----------------------------------------------------------

    def _customer_fields(self, obj: dict[str, Any], data: dict[str, Any]) -> None:
        email = data.get("email")
        if email is not None and email != "" and not _EMAIL.match(str(email)):
            raise _Invalid(f"Invalid email address: {email}", "email", "email_invalid")
        for name in ("email", "name", "description", "phone"):
            if name in data:
                obj[name] = data[name] or None
        _merge_metadata(obj, data)

    def _customer_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        ident = self.new_id("cus_")
        obj: dict[str, Any] = {"id": ident, "object": "customer", "created": int(time.time())}
        obj.update(email=None, name=None, description=None, phone=None, metadata={})
        self._customer_fields(obj, data)
        self.customers[ident] = obj
        self._emit("customer.created", obj)
        return obj

    def _customer_retrieve(self, ident: str | None, _: dict[str, Any]) -> _Unchanged:
        customer = self.customers.get(ident or "")
        if customer is None:
            raise _missing("customer", ident or "")
        return _Unchanged(dict(customer))

    def _customer_update(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        obj = self.customers.get(ident or "")
        if obj is None:
            raise _missing("customer", str(ident))
        before = orjson.loads(orjson.dumps(obj))
        self._customer_fields(obj, data)
        self._emit("customer.updated", obj, before)
        return obj

    # --- payment intents -------------------------------------------------------

    def _intent_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        amount = _int(data, "amount", required=True)
        assert amount is not None
        currency = str(data.get("currency") or "")
        if not currency:
            raise _Invalid("Missing required param: currency.", "currency", "parameter_missing")
        if currency not in CURRENCIES:
            raise _Invalid(f"Invalid currency: {currency}.", "currency", "parameter_invalid")
        if amount < 50:
            raise _Invalid("Amount must be at least 50 cents", "amount", "amount_too_small")
        customer = data.get("customer")
        if customer and customer not in self.customers:
            raise _missing("customer", customer, "customer")
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
        _merge_metadata(obj, data)
        self.payment_intents[obj["id"]] = obj
        self._emit("payment_intent.created", obj)
        if data.get("confirm") == "true":
            self._confirm(obj, data)
        return obj

    def _intent(self, ident: str | None) -> dict[str, Any]:
        obj = self.payment_intents.get(ident or "")
        if obj is None:
            raise _missing("payment_intent", str(ident))
        return obj

    def _confirm(self, obj: dict[str, Any], data: dict[str, Any]) -> None:
        if data.get("payment_method"):
            obj["payment_method"] = data["payment_method"]
        if not obj["payment_method"]:
            raise _Invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_method",
                "payment_intent_unexpected_state",
            )
        if obj["status"] not in ("requires_confirmation", "requires_payment_method"):
            raise _Invalid(
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
            raise _Invalid(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{obj['status']}.",
                None,
                "payment_intent_unexpected_state",
            )
        amount = _int(data, "amount_to_capture") or obj["amount"]
        if amount > obj["amount"]:
            raise _Invalid(
                "amount_to_capture is too large", "amount_to_capture", "amount_too_large"
            )
        obj["status"], obj["amount_received"] = "succeeded", amount
        _merge_metadata(obj, data)
        self._emit("payment_intent.succeeded", obj)
        return obj

    # --- refunds -------------------------------------------------------------------

    def _refund_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        ident = str(data.get("payment_intent") or "")
        if not ident:
            raise _Invalid(
                "Missing required param: payment_intent.", "payment_intent", "parameter_missing"
            )
        intent = self.payment_intents.get(ident)
        if intent is None:
            raise _missing("payment_intent", ident, "payment_intent")
        if intent["status"] != "succeeded":
            raise _Invalid(
                "This PaymentIntent has no successful charge to refund.",
                "payment_intent",
                "charge_not_refundable",
            )
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == ident)
        left = intent["amount_received"] - refunded
        amount = _int(data, "amount") or left
        if amount > left or left <= 0:
            raise _Invalid(
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
        _merge_metadata(obj, data)
        self.refunds[obj["id"]] = obj
        self._emit("refund.created", obj)
        return obj

    # --- subscriptions ---------------------------------------------------------------

    def _items(self, sub: dict[str, Any], items: Any) -> None:
        if not isinstance(items, list):
            raise _Invalid("Invalid array", "items", "parameter_invalid")
        current = {i["id"]: i for i in sub["items"]["data"]}
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise _Invalid("Invalid object", f"items[{n}]")
            if item.get("id"):
                if item["id"] not in current:
                    raise _missing("subscription_item", item["id"], f"items[{n}][id]")
                if item.get("deleted") == "true":
                    del current[item["id"]]
                    continue
                target = current[item["id"]]
            else:
                target = {"id": self.new_id("si_"), "object": "subscription_item", "quantity": 1}
                current[target["id"]] = target
            price = item.get("price", target.get("price"))
            if not price or not str(price).startswith("price_"):
                raise _missing("price", str(price), f"items[{n}][price]")
            target["price"] = price
            if item.get("quantity") is not None:
                target["quantity"] = _int(item, "quantity")
        sub["items"]["data"] = list(current.values())

    def _sub_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        customer = data.get("customer")
        if not customer:
            raise _Invalid("Missing required param: customer.", "customer", "parameter_missing")
        if customer not in self.customers:
            raise _missing("customer", customer, "customer")
        if not data.get("items"):
            raise _Invalid("Missing required param: items.", "items", "parameter_missing")
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
        _merge_metadata(sub, data)

    def _sub(self, ident: str | None) -> dict[str, Any]:
        sub = self.subscriptions.get(ident or "")
        if sub is None:
            raise _missing("subscription", str(ident))
        return sub

    def _sub_update(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        sub = self._sub(ident)
        if sub["status"] == "canceled":
            raise _Invalid(
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

    def _sub_cancel(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any] | _Unchanged:
        sub = self._sub(ident)
        if sub["status"] == "canceled":
            return _Unchanged(sub)
        sub["status"] = "canceled"
        self._emit("customer.subscription.deleted", sub)
        return sub


def _merge_metadata(obj: dict[str, Any], data: dict[str, Any]) -> None:
    meta = data.get("metadata")
    if meta == "":
        obj["metadata"] = {}
    elif isinstance(meta, dict):
        for key, value in meta.items():
            if value == "":
                obj["metadata"].pop(key, None)
            else:
                obj["metadata"][key] = value


def _error(status: int, message: str, code: str | None, param: str | None) -> web.Response:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return json_response({"error": error}, status=status)
