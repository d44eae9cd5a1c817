"""A local SendGrid Mail Send API.

Route::

    POST /v3/mail/send   202, empty body, ``X-Message-Id``

``Authorization: Bearer <api_key>``; a wrong key is 401 ``{"errors":
[{"field": null, "message": "The provided authorization grant is invalid,
expired, or revoked"}]}``. Invalid mail is 400 ``{"errors": [{"message",
"field", "help"}]}`` naming the field (``from.email``,
``personalizations.0.to``, ``content``, ``subject``); an unknown route is 404
``{"errors": [{"field": null, "message": "not found"}]}``. No idempotency key:
side effects are counted per command id; ``mails`` keeps what was accepted.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response

__all__ = ["SendGridSandbox"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


def _errors(*problems: tuple[str | None, str], status: int = 400) -> web.Response:
    return json_response(
        {"errors": [{"message": m, "field": f, "help": HELP} for f, m in problems]},
        status=status,
    )


def _address_ok(value: Any) -> bool:
    return isinstance(value, dict) and bool(_EMAIL.match(str(value.get("email", ""))))


class SendGridSandbox(ProviderSandbox):
    """Accepted mails in memory."""

    name = "sendgrid"

    def __init__(self, *, api_key: str = "SG.sandbox-key", **kw: Any) -> None:
        super().__init__(**kw)
        self.api_key = api_key
        self.mails: list[dict[str, Any]] = []

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.mails.clear()

    def accepts(self) -> str:
        return f"the API key {self.api_key} (Authorization: Bearer)"

    def settings_for(self, url: str) -> dict[str, str]:
        return {"sendgrid.base_url": url, "sendgrid.api_key": self.api_key}

    def unknown_route(self, request: web.Request) -> web.Response:
        return json_response({"errors": [{"field": None, "message": "not found"}]}, status=404)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/mail/send", self._send)

    def _problems(self, mail: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not _address_ok(mail.get("from")):
            problems.append(
                (
                    "from.email",
                    "The from object must be provided for every email "
                    "send. It is an object that requires the email parameter.",
                )
            )
        people = mail.get("personalizations")
        if not isinstance(people, list) or not people:
            problems.append(
                (
                    "personalizations",
                    "The personalizations field is required and "
                    "must have at least one personalization.",
                )
            )
            people = []
        for i, person in enumerate(people):
            to = person.get("to") if isinstance(person, dict) else None
            if not isinstance(to, list) or not to or not all(_address_ok(a) for a in to):
                problems.append((f"personalizations.{i}.to", "Does not contain a valid address."))
            elif not mail.get("template_id") and not (mail.get("subject") or person.get("subject")):
                problems.append(
                    (
                        "subject",
                        "The subject is required. You can get around this "
                        "requirement if you use a template with a subject defined.",
                    )
                )
        if not mail.get("content") and not mail.get("template_id"):
            problems.append(
                (
                    "content",
                    "Unless a valid template_id is provided, the content parameter is required.",
                )
            )
        return problems

    async def _send(self, request: web.Request) -> web.Response:
        if self.bearer(request) != self.api_key:
            return _errors(
                (None, "The provided authorization grant is invalid, expired, or revoked"),
                status=401,
            )
        mail = await self.json_body(request)
        if is_not_json(mail) or not isinstance(mail, dict):
            return _errors((None, "Bad Request"))
        problems = self._problems(mail)
        if problems:
            return _errors(*problems)
        with self.lock:
            message_id = self.new_id("sg-msg-")
            self.mails.append({"message_id": message_id, **mail})
        self.count_effect(request)
        return web.Response(status=202, headers={"X-Message-Id": message_id})
