"""GitHub webhooks: ``X-Hub-Signature-256`` verified.

id = ``X-GitHub-Delivery``, type = ``github.<X-GitHub-Event>[.<action>]``,
subject = the issue/pull request (``owner/repo#123``) or the repository,
time = the object's ``updated_at`` when present. ``ping`` is a handshake:
accepted, nothing produced.

GitHub signs only the body: the delivery id and the event name are unsigned
headers. So every Event carries ``bodydigest`` (dedup keys on it: a captured
delivery replayed under a new ``X-GitHub-Delivery`` is one event), and the
claimed event name is checked against the payload's shape where the payload
tells (:data:`EVENT_KEYS`): an ``issues`` body claimed as ``deployment`` is
400. Where the shape cannot tell (``create`` vs ``delete``, events not in
the table), a re-typed replay of a body already seen is dropped by dedup.

The scheme: ``X-Hub-Signature-256: sha256=<hex>``, an HMAC of the body
(:class:`GitHubVerifier`), configured by :class:`GitHubWebhookSettings`
built from the section's ``webhook_secrets``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from core.catalog import EventSchemas
from core.connector import HandshakeReply, MalformedPayload
from core.envelopes import Event
from core.webhooks import (
    Clock,
    Headers,
    HmacKeys,
    SecretsSettings,
    VerificationError,
    Verified,
    body_digest,
    hexdecode,
)

from .._normalize import digest_of, iso, parse_json_object, require, type_part, webhook_event
from ._settings import GitHubSettings

__all__ = [
    "EVENT_KEYS",
    "MAX_BODY",
    "GitHubVerifier",
    "GitHubWebhookSettings",
    "check_event_shape",
    "handshake",
    "normalize",
    "scheme",
]


class GitHubVerifier(HmacKeys):
    """GitHub ``X-Hub-Signature-256: sha256=<hex>``: HMAC-SHA256 of the body.

    GitHub signs no timestamp, id or event name, so there is no freshness
    check: replays are caught downstream by dedup on the body's digest (see
    :class:`~core.webhooks.Verified`). Every ``X-GitHub-*`` and
    ``X-Hub-Signature*`` header must occur once. Any configured secret may
    match.
    """

    scheme = "github"
    header = "X-Hub-Signature-256"

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, guarded_prefixes=("x-github-", "x-hub-signature"))
        value = view.require(self.header)
        prefix, sep, hexsig = value.partition("=")
        if not sep or prefix != "sha256":
            raise VerificationError(
                "malformed_header", f"malformed {self.header}", scheme=self.scheme
            )
        self.check_mac(body, [hexdecode(hexsig, self.header, self.scheme)])
        return Verified(body_digest(body))


class GitHubWebhookSettings(SecretsSettings):
    """GitHub webhook secrets."""

    type: Literal["github"] = "github"

    def build(self, *, clock: Clock = time.time) -> GitHubVerifier:
        """The verifier these settings describe (GitHub signs no timestamp)."""
        return GitHubVerifier(self.secret_values())


def scheme(settings: GitHubSettings) -> GitHubWebhookSettings | None:
    """The section's scheme settings; None (route off) without a secret."""
    if not settings.webhook_secrets:
        return None
    return GitHubWebhookSettings(secrets=settings.webhook_secrets)


MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

EVENT_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(keys.split())
    for name, keys in {
        "branch_protection_rule": "rule",
        "check_run": "check_run",
        "check_suite": "check_suite",
        "code_scanning_alert": "alert",
        "commit_comment": "comment",
        "create": "ref ref_type",
        "delete": "ref ref_type",
        "dependabot_alert": "alert",
        "deploy_key": "key",
        "deployment": "deployment",
        "deployment_status": "deployment deployment_status",
        "discussion": "discussion",
        "discussion_comment": "discussion comment",
        "fork": "forkee",
        "gollum": "pages",
        "issue_comment": "issue comment",
        "issues": "issue",
        "label": "label",
        "member": "member",
        "membership": "member team",
        "merge_group": "merge_group",
        "milestone": "milestone",
        "package": "package",
        "project": "project",
        "project_card": "project_card",
        "project_column": "project_column",
        "projects_v2_item": "projects_v2_item",
        "pull_request": "pull_request",
        "pull_request_review": "pull_request review",
        "pull_request_review_comment": "pull_request comment",
        "pull_request_review_thread": "pull_request thread",
        "push": "ref before after",
        "registry_package": "registry_package",
        "release": "release",
        "repository_advisory": "repository_advisory",
        "secret_scanning_alert": "alert",
        "security_advisory": "security_advisory",
        "sponsorship": "sponsorship",
        "star": "starred_at",
        "status": "sha state",
        "sub_issues": "parent_issue sub_issue",
        "team": "team",
        "workflow_dispatch": "workflow ref",
        "workflow_job": "workflow_job",
        "workflow_run": "workflow_run",
    }.items()
}
"""Top-level keys a payload of each event always has: each present in every
action's schema in GitHub's webhook descriptions (``@octokit/openapi-webhooks``
12.1.0, the "required" properties), keeping only the event's own objects."""


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


def check_event_shape(event: str, payload: Mapping[str, Any]) -> None:
    """MalformedPayload when ``payload`` cannot be an ``event`` delivery: it lacks
    the event's keys, or has every key of a more specific event (an
    ``issue_comment`` body claimed as ``issues``). Unknown events pass."""
    claimed = EVENT_KEYS.get(event)
    if claimed is None:
        return
    keys = payload.keys()
    if not claimed <= keys:
        raise MalformedPayload(f"payload does not fit X-GitHub-Event {event}")
    for other, needs in EVENT_KEYS.items():
        if needs > claimed and needs <= keys:
            raise MalformedPayload(f"payload is a {other} event, not {event}")


def _payload_of(event_type: str, names: frozenset[str]) -> str | None:
    """``issues.opened`` -> ``issues-opened`` (or ``push`` alone), as the
    webhook descriptions name their payloads."""
    full = event_type.replace(".", "-").replace("_", "-")
    event = event_type.split(".")[0].replace("_", "-")
    return full if full in names else event if event in names else None


def _webhook_payload(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = doc["webhooks"][name]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


EVENTS = EventSchemas(
    "connectors.github",
    "github",
    "github_webhooks.openapi.json.gz",
    lookup=_payload_of,
    payload=_webhook_payload,
)
"""The described payloads of GitHub's webhooks (one per event and action)."""


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    payload = parse_json_object(body)
    event = type_part(require(headers.get("X-GitHub-Event"), "X-GitHub-Event header"))
    check_event_shape(event, payload)
    action = payload.get("action")
    event_type = f"{event}.{type_part(action)}" if isinstance(action, str) and action else event
    return [
        webhook_event(
            "github",
            event_id=require(headers.get("X-GitHub-Delivery"), "X-GitHub-Delivery header"),
            event_type=event_type,
            dataschema=EVENTS.uri(f"github.{event_type}"),
            subject=_subject(payload),
            time=_time(payload),
            data=payload,
            headers=headers,
            received_at=received_at,
            bodydigest=digest_of(body, verified),
        )
    ]
