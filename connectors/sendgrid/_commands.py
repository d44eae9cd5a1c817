"""SendGrid command models (params of ``sendgrid.<command>``) and the calls they make.

``mail.send`` is ``POST /v3/mail/send`` with SendGrid's v3 JSON body; the
answer is 202 with no body, so the Result's response is
``{"message_id": <X-Message-Id>}``.
"""

from __future__ import annotations

from typing import Any, Self

import httpx
from pydantic import ConfigDict, EmailStr, Field, model_validator

from core.connector import CommandParams, Endpoint

__all__ = ["COMMANDS", "Address", "Content", "MailSend", "Personalization"]


class Address(CommandParams):
    email: EmailStr
    name: str | None = None


class Content(CommandParams):
    type: str = Field(default="text/plain", pattern=r"^[a-z]+/[a-z0-9.+-]+$")
    value: str = Field(min_length=1)


class Personalization(CommandParams):
    to: list[Address] = Field(min_length=1, max_length=1000)
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    subject: str | None = None
    dynamic_template_data: dict[str, Any] | None = None
    custom_args: dict[str, str] | None = None
    send_at: int | None = None


def _message_id(_data: Any, headers: httpx.Headers) -> dict[str, Any]:
    return {"message_id": headers.get("x-message-id")}


class MailSend(CommandParams):
    endpoint = Endpoint("POST", "/v3/mail/send", extract=_message_id)
    # ``from`` on the wire and in commands; ``from_`` in Python.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    personalizations: list[Personalization] = Field(min_length=1, max_length=1000)
    from_: Address = Field(alias="from")
    reply_to: Address | None = None
    subject: str | None = Field(default=None, min_length=1)
    content: list[Content] | None = Field(default=None, min_length=1)
    template_id: str | None = Field(default=None, min_length=1)
    categories: list[str] | None = Field(default=None, max_length=10)
    custom_args: dict[str, str] | None = None
    send_at: int | None = None

    @model_validator(mode="after")
    def _body_and_subject(self) -> Self:
        if not self.content and not self.template_id:
            raise ValueError("one of content or template_id is required")
        if not self.template_id and not self.subject:
            missing = [i for i, p in enumerate(self.personalizations) if not p.subject]
            if missing:
                raise ValueError(f"subject is required (top level or in personalizations{missing})")
        return self


COMMANDS: dict[str, type[CommandParams]] = {"mail.send": MailSend}
