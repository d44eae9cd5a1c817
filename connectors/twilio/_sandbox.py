"""A local Twilio Messages API.

Routes::

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   201 message resource
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json   a page of the message list

HTTP Basic with the account SID and ``auth_token`` (or an API key SID and
secret in ``api_keys``; by default ``SK000...`` with ``twilio-sandbox-secret``,
what ``switchboard sandbox twilio`` tells Switchboard to use); anything else
is 401 ``{"code": 20003, "message": "Authenticate"}``; another account's SID
in the path or an unknown route 404 (20404).
Validation errors are 400 ``{"code", "message", "more_info", "status"}``:
21604 To missing, 21211 To invalid, 21603 From missing, 21212 From invalid,
21602 Body missing. No idempotency key: side effects are counted per
command id.

The list, as at Twilio: newest first (``date_created``, then ``sid``),
``PageSize`` (default 50, at most 1000), ``Page`` and ``PageToken``
(``PA`` + the sid the next page starts after, so messages created during a
run do not shift its pages), filters ``To``, ``From``, ``DateSent``
(that UTC day), ``DateSent<`` / ``DateSent>`` (on or before / after that
day: ``DateSent>=2023-08-24`` on the wire); the body has ``messages``,
``page``, ``page_size``, ``start``, ``end``, ``uri``, ``first_page_uri``,
``next_page_uri`` and ``previous_page_uri`` (URIs relative to the origin,
carrying the filters). Times are RFC 2822. A message created here is
"sent" at once: ``date_sent`` = ``date_created`` (``now()``, injectable).

Test API: ``seed_messages(count, ...)`` adds many messages at once and
returns them, oldest first; ``listed()`` is the list, newest first; with
``repeat_cursor`` on (a switch: also ``PUT /_sandbox/switches``) a page
requested with a ``PageToken`` gives its own URI back as ``next_page_uri``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response

__all__ = ["TwilioSandbox"]

_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
_PAGE_KEYS = frozenset({"Page", "PageSize", "PageToken"})


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


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


DEFAULT_API_KEYS = {"SK" + "0" * 32: "twilio-sandbox-secret"}


class TwilioSandbox(ProviderSandbox):
    """Twilio messages in memory for one account."""

    name = "twilio"
    switches = frozenset({"latency", "record", "repeat_cursor"})

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "twilio-sandbox-token",  # noqa: S107
        api_keys: dict[str, str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(DEFAULT_API_KEYS if api_keys is None else api_keys)
        self.now = now
        self.messages: dict[str, dict[str, Any]] = {}
        #: a page requested with a PageToken hands its own URI back as the next
        self.repeat_cursor = False

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.messages.clear()
            self.repeat_cursor = False

    def seed_messages(
        self,
        count: int,
        *,
        start: datetime | None = None,
        step_s: float = 60.0,
        to: str = "+15550001111",
        from_: str = "+15550002222",
        status: str = "delivered",
        body: str = "message {i}",
    ) -> list[dict[str, Any]]:
        """Add ``count`` messages, oldest first, ``step_s`` apart from ``start``
        (default: ``now()``); ``body`` may use ``{i}``. Returns them."""
        at = start or self.now()
        with self.lock:
            return [
                self._store(
                    to=to,
                    sender=from_,
                    service=None,
                    text=body.format(i=i),
                    media=0,
                    status=status,
                    created=at + timedelta(seconds=step_s * i),
                )
                for i in range(count)
            ]

    def listed(self) -> list[dict[str, Any]]:
        """Every message, newest first (the list's order)."""
        with self.lock:
            return self._sorted()

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self.messages.values(), key=_order_key, reverse=True)

    def _store(
        self,
        *,
        to: str,
        sender: str | None,
        service: str | None,
        text: str,
        media: int,
        status: str,
        created: datetime,
    ) -> dict[str, Any]:
        msg_sid = "SM" + self.new_id("").rjust(32, "0")
        when = _rfc2822(created)
        message = {
            "sid": msg_sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": to,
            "from": sender,
            "messaging_service_sid": service,
            "body": text,
            "num_media": str(media),
            "num_segments": "1",
            "status": status,
            "direction": "outbound-api",
            "date_created": when,
            "date_updated": when,
            "date_sent": when,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{msg_sid}.json",
        }
        self.messages[msg_sid] = message
        return message

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list)

    def accepts(self) -> str:
        keys = "".join(f" or the API key {sid} with secret {s}" for sid, s in self.api_keys.items())
        return f"HTTP Basic: the account {self.account_sid} with auth token {self.auth_token}{keys}"

    def settings_for(self, url: str) -> dict[str, str]:
        # an API key, not auth_tokens: those also sign webhooks and need public_url
        found = {"twilio.base_url": url, "twilio.account_sid": self.account_sid}
        for sid, secret in list(self.api_keys.items())[:1]:
            found |= {"twilio.api_key_sid": sid, "twilio.api_key_secret": secret}
        return found

    def unknown_route(self, request: web.Request) -> web.Response:
        return _error(20404, f"The requested resource {request.path} was not found", 404)

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
            message = self._store(
                to=to,
                sender=sender,
                service=service,
                text=fields.get("Body", ""),
                media=len(media),
                status="queued",
                created=self.now(),
            )
        self.count_effect(request)
        request_id = "RQ" + message["sid"][2:]
        return json_response(message, status=201, headers={"Twilio-Request-Id": request_id})

    def _check_list(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            return _error(20003, "Authenticate", 401)
        if request.match_info["sid"] != self.account_sid:
            return _error(20404, f"The requested resource {request.path} was not found", 404)
        return None

    async def _list(self, request: web.Request) -> web.Response:
        refused = self._check_list(request)
        if refused is not None:
            return refused
        query = request.query
        try:
            size = min(max(int(query.get("PageSize", 50)), 1), 1000)
            page = max(int(query.get("Page", 0)), 0)
        except ValueError:
            return _error(20001, "Invalid paging parameter")
        days = {
            key: _day(query[key]) for key in ("DateSent", "DateSent<", "DateSent>") if key in query
        }
        if None in days.values():
            return _error(20001, "Invalid DateSent: expected YYYY-MM-DD")
        token = query.get("PageToken")
        with self.lock:
            listed = [m for m in self._sorted() if _matches(m, query, days)]
            repeat = self.repeat_cursor
            after = self.messages.get(token.removeprefix("PA")) if token else None
        if token and (after is None or not token.startswith("PA")):
            return _error(20001, f"Invalid PageToken {token}")
        if after is not None:
            # keyset: the next page starts below the token's message, wherever it is now
            start = sum(1 for m in listed if _order_key(m) >= _order_key(after))
        else:
            start = page * size
        chunk = listed[start : start + size]
        filters = [(k, v) for k, v in query.items() if k not in _PAGE_KEYS]

        def uri(**paging: Any) -> str:
            return f"{request.path}?{urlencode([*filters, *paging.items()])}"

        next_uri = None
        if start + len(chunk) < len(listed) and chunk:
            next_uri = uri(PageSize=size, Page=page + 1, PageToken="PA" + chunk[-1]["sid"])
        if repeat and token:
            next_uri = request.raw_path
        return json_response(
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "start": start,
                "end": start + max(len(chunk) - 1, 0),
                "uri": request.raw_path,
                "first_page_uri": uri(PageSize=size, Page=0),
                "next_page_uri": next_uri,
                "previous_page_uri": uri(PageSize=size, Page=page - 1) if page > 0 else None,
            }
        )


def _order_key(message: dict[str, Any]) -> tuple[datetime, str]:
    return parsedate_to_datetime(message["date_created"]), message["sid"]


def _matches(message: dict[str, Any], query: Any, days: dict[str, date | None]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    sent = parsedate_to_datetime(message["date_sent"] or message["date_created"]).date()
    exact, before, after = days.get("DateSent"), days.get("DateSent<"), days.get("DateSent>")
    return (
        (exact is None or sent == exact)
        and (before is None or sent <= before)
        and (after is None or sent >= after)
    )
