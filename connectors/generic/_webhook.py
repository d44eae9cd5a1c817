"""Generic webhooks: Standard Webhooks (or a configured HMAC scheme).

id = the ``webhook-id`` (or ``svix-id``) header, else the body's ``id``;
type = ``generic.<body.type>`` (the Standard Webhooks payload convention);
subject = the body's ``data.id``, else ``subject``; time = the
``webhook-timestamp`` header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.envelopes import Event

from .._normalize import epoch, parse_json_object, require, type_part, webhook_event


def _field(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def normalize(body: bytes, headers: Mapping[str, str], received_at: datetime) -> Sequence[Event]:
    payload = parse_json_object(body)
    event_id = headers.get("webhook-id") or headers.get("svix-id") or payload.get("id")
    subject = _field(payload, "data.id") or payload.get("subject")
    raw_type = require(payload.get("type"), "type")
    return [
        webhook_event(
            "generic",
            event_id=require(event_id, "webhook-id header or id"),
            event_type=".".join(type_part(p) for p in raw_type.split(".")),
            subject=str(subject) if subject not in (None, "") else None,
            time=epoch(headers.get("webhook-timestamp") or headers.get("svix-timestamp")),
            data=payload,
            headers=headers,
            received_at=received_at,
        )
    ]
