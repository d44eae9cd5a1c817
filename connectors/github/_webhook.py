"""GitHub webhooks: ``X-Hub-Signature-256`` verified.

id = ``X-GitHub-Delivery``, type = ``github.<X-GitHub-Event>[.<action>]``,
subject = the issue/pull request (``owner/repo#123``) or the repository,
time = the object's ``updated_at`` when present. ``ping`` is a handshake:
accepted, nothing produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.connector import HandshakeReply
from core.envelopes import Event

from .._normalize import iso, parse_json_object, require, type_part, webhook_event

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def handshake(body: bytes, headers: Mapping[str, str]) -> HandshakeReply | None:
    if headers.get("X-GitHub-Event") == "ping":
        return HandshakeReply(200, b"pong")
    return None


def _subject(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    for kind in ("issue", "pull_request"):
        item = payload.get(kind)
        if isinstance(item, dict) and item.get("number") is not None and full_name:
            return f"{full_name}#{item['number']}"
    return str(full_name) if full_name else None


def _time(payload: dict[str, Any]) -> datetime | None:
    for kind in ("issue", "pull_request", "comment", "release", "repository"):
        item = payload.get(kind)
        if isinstance(item, dict):
            found = iso(item.get("updated_at"))
            if found:
                return found
    return None


def normalize(body: bytes, headers: Mapping[str, str], received_at: datetime) -> Sequence[Event]:
    payload = parse_json_object(body)
    event = type_part(require(headers.get("X-GitHub-Event"), "X-GitHub-Event header"))
    action = payload.get("action")
    event_type = f"{event}.{type_part(action)}" if isinstance(action, str) and action else event
    return [
        webhook_event(
            "github",
            event_id=require(headers.get("X-GitHub-Delivery"), "X-GitHub-Delivery header"),
            event_type=event_type,
            subject=_subject(payload),
            time=_time(payload),
            data=payload,
            headers=headers,
            received_at=received_at,
        )
    ]
