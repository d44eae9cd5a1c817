"""Generic webhooks: Standard Webhooks (or a configured HMAC scheme).

id = the id the signature covers (Standard Webhooks' ``webhook-id`` or
``svix-id``, a generic HMAC's signed ``{id}``), else the body's ``id``;
type = ``generic.<body.type>`` (the Standard Webhooks payload convention);
subject = the body's ``data.id``, else ``subject``; time = the signed
timestamp.

An unsigned header never overrides a signed id. When the scheme signs no id
(a generic HMAC template without ``{id}``), the id is the body's ``id``, else
the ``webhook-id`` header as a mere label: the Event carries ``bodydigest``
and dedup keys on that, so a replay under a new id is still one event.

The scheme: core's :class:`~core.webhooks.GenericHmacSettings` when the
section sets ``hmac``, else :class:`~core.webhooks.StandardWebhooksSettings`
built from ``webhook_secrets`` (``v1``, HMAC), ``webhook_public_keys``
(``v1a``, ed25519) and ``webhook_tolerance_s``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.envelopes import Event
from core.webhooks import GenericHmacSettings, StandardWebhooksSettings, Verified

from .._normalize import (
    digest_of,
    epoch,
    parse_json_object,
    require,
    type_part,
    webhook_event,
)
from ._settings import GenericSettings

__all__ = ["normalize", "scheme"]


def scheme(settings: GenericSettings) -> GenericHmacSettings | StandardWebhooksSettings | None:
    """The section's scheme settings; None (route off) without a secret or key."""
    if settings.hmac is not None:
        return settings.hmac
    if not settings.webhook_secrets and not settings.webhook_public_keys:
        return None
    return StandardWebhooksSettings(
        secrets=settings.webhook_secrets,
        public_keys=settings.webhook_public_keys,
        tolerance=settings.webhook_tolerance_s,
    )


def _field(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    payload = parse_json_object(body)
    event_id: Any
    digest: str | None
    if verified is not None and verified.event_id:  # the signature covers id and time
        event_id, timestamp, digest = verified.event_id, epoch(verified.timestamp), None
    else:  # no signed id: the id is a label, dedup keys on the body's digest
        header_id = headers.get("webhook-id") or headers.get("svix-id")
        event_id = payload.get("id") or header_id
        digest = digest_of(body, verified)
        if verified is not None:
            timestamp = epoch(verified.timestamp)
        else:  # a caller outside the ingest server
            event_id = header_id or event_id
            timestamp = epoch(headers.get("webhook-timestamp") or headers.get("svix-timestamp"))
    subject = _field(payload, "data.id") or payload.get("subject")
    raw_type = require(payload.get("type"), "type")
    return [
        webhook_event(
            "generic",
            event_id=require(event_id, "webhook-id header or id"),
            event_type=".".join(type_part(p) for p in raw_type.split(".")),
            subject=str(subject) if subject not in (None, "") else None,
            time=timestamp,
            data=payload,
            headers=headers,
            received_at=received_at,
            bodydigest=digest,
        )
    ]
