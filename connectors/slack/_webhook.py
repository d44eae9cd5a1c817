"""Slack Events API: ``X-Slack-Signature`` (v0) verified.

``url_verification`` is a handshake answered with its challenge. Event
callbacks: id = ``event_id``, type = ``slack.<event.type>``, subject = the
channel, time = ``event_time``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson

from core.connector import HandshakeReply, MalformedPayload
from core.envelopes import Event
from core.webhooks import Verified

from .._normalize import epoch, parse_json_object, require, type_part, webhook_event


def handshake(body: bytes, headers: Mapping[str, str]) -> HandshakeReply | None:
    if b"url_verification" not in body:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(payload, dict) and payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if isinstance(challenge, str):
            return HandshakeReply(200, orjson.dumps({"challenge": challenge}), "application/json")
    return None


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    payload = parse_json_object(body)
    if payload.get("type") != "event_callback":
        raise MalformedPayload("not an event_callback")
    inner = payload.get("event")
    if not isinstance(inner, dict):
        raise MalformedPayload("event is missing")
    channel = inner.get("channel")
    if isinstance(channel, dict):
        channel = channel.get("id")
    if channel is None and isinstance(inner.get("item"), dict):
        channel = inner["item"].get("channel")
    return [
        webhook_event(
            "slack",
            event_id=require(payload.get("event_id"), "event_id"),
            event_type=type_part(require(inner.get("type"), "event.type")),
            subject=str(channel) if channel else None,
            time=epoch(payload.get("event_time")),
            data=payload,
            headers=headers,
            received_at=received_at,
        )
    ]
