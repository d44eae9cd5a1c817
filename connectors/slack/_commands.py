"""Slack command models (params of ``slack.<command>``) and the Web API calls they make.

Both are JSON ``POST``s to ``<base_url>/<method>``; Slack answers HTTP 200
with ``{"ok": false, "error": ...}`` for failures (see ``_api``).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from core.connector import CommandParams, Endpoint

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
    endpoint = Endpoint("POST", "/chat.postMessage")

    thread_ts: str | None = None
    reply_broadcast: bool | None = None
    unfurl_links: bool | None = None
    mrkdwn: bool | None = None


class ChatUpdate(_Message):
    endpoint = Endpoint("POST", "/chat.update")

    ts: str = Field(min_length=1, pattern=r"^\d+\.\d+$", description="the message's ts")


COMMANDS: dict[str, type[CommandParams]] = {
    "chat.post_message": ChatPostMessage,
    "chat.update": ChatUpdate,
}
