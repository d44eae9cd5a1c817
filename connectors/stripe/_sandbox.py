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
    POST   /v1/files                         a multipart upload (connectors.stripe._sandbox_files)

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
from typing import Any

import orjson
from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response
from core.testing import RecordedRequest

from ._sandbox_events import EventLog
from ._sandbox_files import StripeFiles
from ._sandbox_form import Invalid, Unchanged, decode_form, merge_metadata, missing, stripe_error
from ._sandbox_payments import StripePayments
from ._sandbox_subscriptions import StripeSubscriptions

# decode_form lives in _sandbox_form; tests and tools import it from here too
__all__ = ["StripeSandbox", "decode_form"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StripeSandbox(StripePayments, StripeSubscriptions, StripeFiles):
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
        self.files: dict[str, dict[str, Any]] = {}
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
            tables = (self.customers, self.payment_intents, self.refunds, self.subscriptions)
            for table in (*tables, self.files):
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
        add("POST", "/v1/files", self._wrap(self._file_create))

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
            return stripe_error(401, "Invalid API Key provided.", None, None)
        return await super()._handle(request, handler, body, seen)

    def unknown_route(self, request: web.Request) -> web.Response:
        message = (
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
        return stripe_error(404, message, None, None)

    def keeps_result(self, status: int) -> bool:
        return not 400 <= status < 500

    def _wrap(
        self, fn: Callable[[str | None, dict[str, Any]], dict[str, Any] | Unchanged]
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            request_id = f"req_{self.new_id('')}"
            call = {"id": request_id, "idempotency_key": request.headers.get("Idempotency-Key")}
            try:
                pairs = await self.decoded_pairs(request)
                if request.method in ("GET", "DELETE"):
                    pairs = list(request.query.items())
                with self.lock:
                    self._pending.clear()
                    obj = fn(request.match_info.get("id"), decode_form(pairs))
                    self._keep_events(call)
            except Invalid as exc:
                return stripe_error(exc.status, str(exc), exc.code, exc.param)
            if isinstance(obj, Unchanged):
                obj = obj.obj
            else:
                self.count_effect(request)
            return json_response(obj, headers={"Request-Id": request_id})

        return handler

    # --- customers -----------------------------------------------------------

    def _customer_fields(self, obj: dict[str, Any], data: dict[str, Any]) -> None:
        email = data.get("email")
        if email is not None and email != "" and not _EMAIL.match(str(email)):
            raise Invalid(f"Invalid email address: {email}", "email", "email_invalid")
        for name in ("email", "name", "description", "phone"):
            if name in data:
                obj[name] = data[name] or None
        merge_metadata(obj, data)

    def _customer_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        ident = self.new_id("cus_")
        obj: dict[str, Any] = {"id": ident, "object": "customer", "created": int(time.time())}
        obj.update(email=None, name=None, description=None, phone=None, metadata={})
        self._customer_fields(obj, data)
        self.customers[ident] = obj
        self._emit("customer.created", obj)
        return obj

    def _customer_retrieve(self, ident: str | None, _: dict[str, Any]) -> Unchanged:
        customer = self.customers.get(ident or "")
        if customer is None:
            raise missing("customer", ident or "")
        return Unchanged(dict(customer))

    def _customer_update(self, ident: str | None, data: dict[str, Any]) -> dict[str, Any]:
        obj = self.customers.get(ident or "")
        if obj is None:
            raise missing("customer", str(ident))
        before = orjson.loads(orjson.dumps(obj))
        self._customer_fields(obj, data)
        self._emit("customer.updated", obj, before)
        return obj
