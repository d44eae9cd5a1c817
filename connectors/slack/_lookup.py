"""Finding a Slack message a crashed worker may have posted.

``chat.post_message`` sends the command id as message metadata
(``metadata: {"event_type": "switchboard_command", "event_payload":
{"command_id": <id>}}``), which Slack keeps with the message and shows to
``conversations.history`` asked with ``include_all_metadata``. After a
crash the sink looks the command up (:mod:`core.lookup`): the channel's
history from the call's time on (``oldest``), at most :data:`MAX_PAGES`
pages of 200, for a message carrying the id. Not found stays
``outcome_unknown`` (the history may lag a post). A reply in a thread is
not in the channel's history (``conversations.replies`` lists it): it is
not looked up.
"""

from __future__ import annotations

from typing import Any

from core.apicall import ApiCall, CallResult
from core.lookup import LookupContext

__all__ = ["EVENT_TYPE", "MAX_PAGES", "find_message", "metadata"]

EVENT_TYPE = "switchboard_command"
MAX_PAGES = 10
LIMIT = 200


def metadata(command_id: str) -> dict[str, Any]:
    """The message metadata that carries ``command_id``."""
    return {"event_type": EVENT_TYPE, "event_payload": {"command_id": command_id}}


def _carries(message: Any, command_id: str) -> bool:
    meta = message.get("metadata") if isinstance(message, dict) else None
    return (
        isinstance(meta, dict)
        and meta.get("event_type") == EVENT_TYPE
        and isinstance(meta.get("event_payload"), dict)
        and meta["event_payload"].get("command_id") == command_id
    )


async def find_message(params: Any, ctx: LookupContext) -> CallResult | None:
    """The message a ``chat.post_message`` call posted, found by its metadata."""
    if params.thread_ts:
        return None
    query = [
        ("channel", params.channel),
        ("oldest", f"{ctx.since.timestamp():.6f}"),
        ("include_all_metadata", "true"),
        ("limit", str(LIMIT)),
    ]
    for _ in range(MAX_PAGES):
        listed = await ctx.send(ApiCall("GET", "/conversations.history", params=query))
        data = listed.data if isinstance(listed.data, dict) else {}
        for message in data.get("messages") or []:
            if _carries(message, ctx.command_id):
                answer = {"ok": True, "channel": params.channel, "ts": message["ts"]}
                return CallResult(200, {**answer, "message": message}, 0, listed.request_id)
        cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
        if not data.get("has_more") or not cursor:
            return None
        query = [*query[:4], ("cursor", cursor)]
    return None
