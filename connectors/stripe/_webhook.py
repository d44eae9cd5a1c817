"""Stripe webhooks: ``Stripe-Signature`` verified, one Event per Stripe event.

id = the event's ``id`` (``evt_...``), type = ``stripe.<type>``, subject =
the id of ``data.object``, time = ``created``. :func:`event_from_object`
is shared with the ``/v1/events`` poll stream, so an event polled after its
webhook was lost is the same Event (same id, type, subject and time) and
dedup keeps one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from core.envelopes import Event
from core.webhooks import Verified

from .._normalize import epoch, parse_json_object, require, type_part, webhook_event


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
    return webhook_event(
        "stripe",
        event_id=require(payload.get("id"), "event id"),
        event_type=".".join(type_part(p) for p in require(payload.get("type"), "type").split(".")),
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
