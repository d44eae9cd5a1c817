"""Stripe webhooks: ``Stripe-Signature`` verified, one Event per Stripe event.

id = the event's ``id`` (``evt_...``), type = ``stripe.<type>``, subject =
the id of ``data.object``, time = ``created``. :func:`event_from_object`
is shared with the ``/v1/events`` poll stream, so an event polled after its
webhook was lost is the same Event (same id, type, subject and time) and
dedup keeps one.

The scheme: ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``, a
timestamped HMAC (:class:`StripeVerifier`), configured by
:class:`StripeWebhookSettings` built from the section's ``webhook_secrets``
and ``webhook_tolerance_s``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from core.catalog import EventSchemas
from core.envelopes import Event
from core.webhooks import (
    MAX_SIGNATURES,
    Clock,
    Headers,
    TimestampedHmac,
    TimestampedSecretsSettings,
    VerificationError,
    Verified,
    body_digest,
    hexdecode,
    parse_timestamp,
)

from .._normalize import epoch, parse_json_object, require, type_part, webhook_event
from ._settings import StripeSettings

__all__ = ["StripeVerifier", "StripeWebhookSettings", "event_from_object", "normalize", "scheme"]


class StripeVerifier(TimestampedHmac):
    """Stripe ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``.

    Signed content is ``<t>.<body>``, HMAC-SHA256, hex. The ``whsec_...``
    endpoint secret is used as-is (UTF-8 bytes, prefix included). Any ``v1``
    entry matching any configured secret passes (Stripe sends one ``v1`` per
    active secret while an endpoint secret is rolled; we accept old and new
    secrets on our side too). Other schemes (``v0``) are ignored. ``t`` must be
    within ``tolerance`` seconds of the clock, either way (Stripe's SDK checks
    only the past; ``None`` disables the check).

    Written here rather than taken from Stripe's SDK: that lets a
    ``ValueError`` out on a non-numeric ``t=``, takes no clock and is a large
    synchronous API client; it is the oracle in the tests instead.
    """

    scheme = "stripe"
    header = "Stripe-Signature"

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        value = Headers(headers, self.scheme, [self.header]).require(self.header)
        timestamp: str | None = None
        signatures: list[bytes] = []
        for item in value.split(","):
            key, sep, val = item.strip().partition("=")
            if not sep:
                raise self._malformed()
            if key == "t":
                if timestamp is not None:
                    raise self._malformed()
                timestamp = val
            elif key == "v1":
                if len(signatures) >= MAX_SIGNATURES:
                    raise self._malformed()
                signatures.append(hexdecode(val, self.header, self.scheme))
        if timestamp is None:
            raise VerificationError(
                "malformed_header", "no t= in Stripe-Signature", scheme=self.scheme
            )
        if not signatures:
            raise VerificationError("missing_header", "no v1 signature", scheme=self.scheme)
        ts = parse_timestamp(timestamp, "Stripe-Signature t", self.scheme)
        self.check_signed_at(timestamp.encode("ascii") + b"." + body, signatures, ts)
        return Verified(body_digest(body), timestamp=ts)

    def _malformed(self) -> VerificationError:
        return VerificationError(
            "malformed_header", "malformed Stripe-Signature", scheme=self.scheme
        )


class StripeWebhookSettings(TimestampedSecretsSettings):
    """Stripe endpoint secrets (``whsec_...``, used as-is) and the tolerance."""

    type: Literal["stripe"] = "stripe"

    def build(self, *, clock: Clock = time.time) -> StripeVerifier:
        """The verifier these settings describe."""
        return StripeVerifier(self.secret_values(), tolerance=self.tolerance, clock=clock)


def scheme(settings: StripeSettings) -> StripeWebhookSettings | None:
    """The section's scheme settings; None (route off) without a secret."""
    if not settings.webhook_secrets:
        return None
    return StripeWebhookSettings(
        secrets=settings.webhook_secrets, tolerance=settings.webhook_tolerance_s
    )


def _payload_of(event_type: str, names: frozenset[str]) -> str | None:
    """``customer.subscription.updated`` -> ``subscription``: the resource the
    event's ``data.object`` is (the type without its verb, or its last part)."""
    parts = event_type.split(".")[:-1]
    for candidate in (".".join(parts), parts[-1] if parts else ""):
        if candidate in names:
            return candidate
    return None


def _event_payload(_doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A Stripe event object whose ``data.object`` is the resource ``name``."""
    return {
        "allOf": [{"$ref": "#/components/schemas/event"}],
        "properties": {
            "data": {"properties": {"object": {"$ref": f"#/components/schemas/{name}"}}}
        },
    }


EVENTS = EventSchemas(
    "connectors.stripe",
    "stripe",
    "stripe.openapi.json.gz",
    lookup=_payload_of,
    payload=_event_payload,
)
"""The described payloads of Stripe events: an event object per resource."""


def event_from_object(
    payload: dict[str, Any],
    headers: Mapping[str, str],
    received_at: datetime,
    delivery: Literal["webhook", "poll"] = "webhook",
) -> Event:
    """The Event of one Stripe event object; MalformedPayload when unreadable."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    subject = obj.get("id") if isinstance(obj, dict) else None
    event_type = ".".join(type_part(p) for p in require(payload.get("type"), "type").split("."))
    return webhook_event(
        "stripe",
        event_id=require(payload.get("id"), "event id"),
        event_type=event_type,
        dataschema=EVENTS.uri(f"stripe.{event_type}"),
        subject=str(subject) if subject else None,
        time=epoch(payload.get("created")),
        data=payload,
        headers=headers,
        received_at=received_at,
        delivery=delivery,
    )


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    return [event_from_object(parse_json_object(body), headers, received_at)]
