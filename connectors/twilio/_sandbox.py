"""A local Twilio Messages API.

Route::

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   201 message resource

HTTP Basic with the account SID and ``auth_token`` (or an API key SID and
secret in ``api_keys``); anything else is 401 ``{"code": 20003, "message":
"Authenticate"}``, another account's SID in the path 404 (20404).
Validation errors are 400 ``{"code", "message", "more_info", "status"}``:
21604 To missing, 21211 To invalid, 21603 From missing, 21212 From invalid,
21602 Body missing. No idempotency key: side effects are counted per
command id.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response

__all__ = ["TwilioSandbox"]

_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")


def _error(code: int, message: str, status: int = 400) -> web.Response:
    return json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


class TwilioSandbox(ProviderSandbox):
    """Twilio messages in memory for one account."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "twilio-sandbox-token",  # noqa: S107
        api_keys: dict[str, str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.messages: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.messages.clear()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    def _authorized(self, request: web.Request) -> bool:
        creds = self.basic(request)
        if creds is None:
            return False
        user, password = creds
        if user == self.account_sid:
            return password == self.auth_token
        return self.api_keys.get(user) == password

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(20003, "Authenticate", 401)
        sid = request.match_info["sid"]
        if sid != self.account_sid:
            return _error(20404, f"The requested resource {request.path} was not found", 404)
        form = await self.form(request)
        fields = dict(form)
        media = [v for k, v in form if k == "MediaUrl"]
        to, sender = fields.get("To"), fields.get("From")
        service = fields.get("MessagingServiceSid")
        if not to:
            return _error(21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not service:
            return _error(21603, "A 'From' phone number is required.")
        if sender and not _E164.match(sender):
            return _error(21212, f"The 'From' number {sender} is not a valid phone number.")
        if not fields.get("Body") and not media:
            return _error(21602, "Message body is required.")
        with self.lock:
            msg_sid = "SM" + self.new_id("").rjust(32, "0")
            message = {
                "sid": msg_sid,
                "account_sid": sid,
                "to": to,
                "from": sender,
                "messaging_service_sid": service,
                "body": fields.get("Body", ""),
                "num_media": str(len(media)),
                "status": "queued",
                "direction": "outbound-api",
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{msg_sid}.json",
            }
            self.messages[msg_sid] = message
        self.count_effect(request)
        return json_response(message, status=201, headers={"Twilio-Request-Id": "RQ" + msg_sid[2:]})
