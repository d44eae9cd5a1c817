"""Slack Events API: ``X-Slack-Signature`` (v0) verified.

``url_verification`` is a handshake answered with its challenge. Event
callbacks: id = ``event_id``, type = ``slack.<event.type>``, subject = the
channel, time = ``event_time``.

The scheme: ``X-Slack-Signature: v0=<hex>`` over ``v0:<ts>:<body>``, a
timestamped HMAC (:class:`SlackVerifier`), configured by
:class:`SlackWebhookSettings` built from the section's ``signing_secrets``
and ``webhook_tolerance_s``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

import orjson

from core.connector import HandshakeReply, MalformedPayload
from core.envelopes import Event
from core.webhooks import (
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
from ._settings import SlackSettings

__all__ = ["SlackVerifier", "SlackWebhookSettings", "handshake", "normalize", "scheme"]


class SlackVerifier(TimestampedHmac):
    """Slack ``X-Slack-Signature: v0=<hex>`` over ``v0:<ts>:<body>``.

    ``<ts>`` is ``X-Slack-Request-Timestamp``, which must be within
    ``tolerance`` seconds of the clock either way (Slack's documented 5
    minutes by default). HMAC-SHA256 with the app's signing secret; any
    configured secret may match.
    """

    scheme = "slack"
    header = "X-Slack-Signature"
    timestamp_header = "X-Slack-Request-Timestamp"

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, [self.header, self.timestamp_header])
        value = view.require(self.header)
        timestamp = view.require(self.timestamp_header)
        ts = parse_timestamp(timestamp, self.timestamp_header, self.scheme)
        version, sep, hexsig = value.partition("=")
        if not sep or version != "v0":
            raise VerificationError(
                "malformed_header", f"malformed {self.header}", scheme=self.scheme
            )
        given = hexdecode(hexsig, self.header, self.scheme)
        self.check_signed_at(b"v0:" + timestamp.encode("ascii") + b":" + body, [given], ts)
        return Verified(body_digest(body), timestamp=ts)


class SlackWebhookSettings(TimestampedSecretsSettings):
    """Slack app signing secrets and the tolerance."""

    type: Literal["slack"] = "slack"

    def build(self, *, clock: Clock = time.time) -> SlackVerifier:
        """The verifier these settings describe."""
        return SlackVerifier(self.secret_values(), tolerance=self.tolerance, clock=clock)


def scheme(settings: SlackSettings) -> SlackWebhookSettings | None:
    """The section's scheme settings; None (route off) without a secret."""
    if not settings.signing_secrets:
        return None
    return SlackWebhookSettings(
        secrets=settings.signing_secrets, tolerance=settings.webhook_tolerance_s
    )


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
