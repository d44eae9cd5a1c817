"""Twilio command models (params of ``twilio.<command>``) and the calls they make.

``messages.create`` is ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``,
form-encoded with Twilio's parameter names (``To``, ``From``, ``Body``, one
``MediaUrl`` per URL); the account SID comes from the settings.
"""

from __future__ import annotations

from typing import Self

from pydantic import ConfigDict, Field, model_validator

from core.apicall import ApiCall, CallContext, fill_path
from core.catalog import Catalog
from core.connector import CommandParams
from core.errors import FatalConfigError

__all__ = ["CATALOG", "COMMANDS", "MessagesCreate"]


class MessagesCreate(CommandParams):
    to: str = Field(min_length=1, description="E.164 number, or whatsapp:+...")
    from_: str | None = Field(default=None, alias="from", min_length=1)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-f]{32}$")
    body: str | None = Field(default=None, max_length=1600)
    media_url: list[str] = Field(default_factory=list, max_length=10)
    status_callback: str | None = None
    validity_period: int | None = Field(default=None, ge=1, le=36000)

    # ``from`` on the wire and in commands; ``from_`` in Python.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    @model_validator(mode="after")
    def _sender_and_content(self) -> Self:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("exactly one of from or messaging_service_sid is required")
        if not self.body and not self.media_url:
            raise ValueError("one of body or media_url is required")
        return self

    def api_call(self, ctx: CallContext) -> ApiCall:
        account = getattr(ctx.settings, "account_sid", None)
        if not account:
            raise FatalConfigError("twilio.account_sid: required to send messages")
        pairs = [("To", self.to)]
        for name, value in (
            ("From", self.from_),
            ("MessagingServiceSid", self.messaging_service_sid),
            ("Body", self.body),
            ("StatusCallback", self.status_callback),
            ("ValidityPeriod", self.validity_period),
        ):
            if value is not None:
                pairs.append((name, str(value)))
        pairs.extend(("MediaUrl", url) for url in self.media_url)
        path = fill_path("/2010-04-01/Accounts/{sid}/Messages.json", {"sid": account})
        return ApiCall("POST", path, "form", pairs)


COMMANDS: dict[str, type[CommandParams]] = {"messages.create": MessagesCreate}

CATALOG = Catalog(
    __package__ or "connectors.twilio",
    base_urls=lambda s: {"messaging": str(s.messaging_base_url)},
    defaulted=frozenset({"AccountSid"}),
    defaults=lambda s: {"AccountSid": s.account_sid},
)
"""Every operation of Twilio's Api v2010 and Messaging v1 descriptions
(``make specs``), after twilio-python's resources (``messages.create``,
``calls.recordings.list``, ``messaging.services.create``). ``AccountSid``
comes from the settings unless a command gives it."""
