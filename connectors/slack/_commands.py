"""Slack command models (params of ``slack.<command>``) and the Web API calls they make.

Both are JSON ``POST``s to ``<base_url>/<method>``; Slack answers HTTP 200
with ``{"ok": false, "error": ...}`` for failures (see ``_api``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from core.apicall import ApiCall, CallContext
from core.connector import CommandParams, Endpoint
from core.lookup import SentLookup

from ._lookup import find_message, metadata

__all__ = ["COMMANDS", "ChatPostMessage", "ChatUpdate"]


class _Message(CommandParams):
    channel: str = Field(min_length=1, description="channel id (C..., D..., G...)")
    text: str | None = Field(default=None, max_length=40000)
    blocks: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    attachments: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _content(self) -> Self:
        if not (self.text or self.blocks or self.attachments):
            raise ValueError("one of text, blocks or attachments is required")
        return self


class ChatPostMessage(_Message):
    """Posted with the command id in its metadata, so that it can be found
    after a crash (:mod:`connectors.slack._lookup`)."""

    endpoint = Endpoint("POST", "/chat.postMessage")
    sent_lookup: ClassVar[SentLookup | None] = find_message

    thread_ts: str | None = None
    reply_broadcast: bool | None = None
    unfurl_links: bool | None = None
    mrkdwn: bool | None = None

    def api_call(self, ctx: CallContext) -> ApiCall:
        call = super().api_call(ctx)
        return replace(call, body={**(call.body or {}), "metadata": metadata(ctx.command_id)})


class ChatUpdate(_Message):
    endpoint = Endpoint("POST", "/chat.update")

    ts: str = Field(min_length=1, pattern=r"^\d+\.\d+$", description="the message's ts")


COMMANDS: dict[str, type[CommandParams]] = {
    "chat.post_message": ChatPostMessage,
    "chat.update": ChatUpdate,
}
