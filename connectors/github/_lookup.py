"""Finding a GitHub issue or comment a crashed worker may have created.

GitHub has no idempotency key, but it keeps what a body says: every issue
and comment the hand-written ``issues.create`` and ``issues.comment``
commands make ends with a hidden marker, ``<!-- switchboard:command-id=<id>
-->`` (an HTML comment: GitHub renders nothing for it, the API returns it
in ``body``). After a crash the sink looks the command up
(:mod:`core.lookup`): the repository's issues created since the call
(``GET /repos/{owner}/{repo}/issues?state=all&sort=created&since=...``,
newest first), or the issue's comments
(``GET /repos/{owner}/{repo}/issues/{n}/comments?since=...``), at most
:data:`MAX_PAGES` pages of 100, for one with the marker. GitHub's lists
may lag a write, so "not found" proves nothing: the command stays
``outcome_unknown``.

A body too long to take the marker (GitHub's 65,536 characters) is sent
without it, and its command cannot be found.
"""

from __future__ import annotations

from typing import Any

from core.apicall import ApiCall, CallResult, fill_path
from core.lookup import LookupContext

__all__ = ["MAX_BODY", "MAX_PAGES", "find_comment", "find_issue", "marker", "with_marker"]

MAX_BODY = 65536
MAX_PAGES = 10
PER_PAGE = 100


def marker(command_id: str) -> str:
    """The hidden marker a body carries for ``command_id``."""
    return f"<!-- switchboard:command-id={command_id} -->"


def with_marker(body: str | None, command_id: str) -> str | None:
    """``body`` ending with the marker (unchanged if it would be too long)."""
    tag = marker(command_id)
    text = f"{body}\n\n{tag}" if body else tag
    return text if len(text) <= MAX_BODY else body


def _iso(ctx: LookupContext) -> str:
    return ctx.since.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _find(ctx: LookupContext, path: str, query: list[tuple[str, str]]) -> CallResult | None:
    """The first item of the paged list at ``path`` whose body has the marker."""
    tag = marker(ctx.command_id)
    for page in range(1, MAX_PAGES + 1):
        pairs = [*query, ("since", _iso(ctx)), ("per_page", str(PER_PAGE)), ("page", str(page))]
        listed = await ctx.send(ApiCall("GET", path, params=pairs))
        items: list[Any] = listed.data if isinstance(listed.data, list) else []
        for item in items:
            if isinstance(item, dict) and tag in str(item.get("body") or ""):
                return CallResult(201, item, 0, listed.request_id)
        if len(items) < PER_PAGE:
            return None
    return None


async def find_issue(params: Any, ctx: LookupContext) -> CallResult | None:
    """The issue an ``issues.create`` call made, found by its marker."""
    path = fill_path("/repos/{owner}/{repo}/issues", {"owner": params.owner, "repo": params.repo})
    query = [("state", "all"), ("sort", "created"), ("direction", "desc")]
    return await _find(ctx, path, query)


async def find_comment(params: Any, ctx: LookupContext) -> CallResult | None:
    """The comment an ``issues.comment`` call made, found by its marker."""
    path = fill_path(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        {"owner": params.owner, "repo": params.repo, "issue_number": params.issue_number},
    )
    return await _find(ctx, path, [])
