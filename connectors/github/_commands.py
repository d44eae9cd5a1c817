"""GitHub command models (params of ``github.<command>``) and the REST calls they make."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, ValidationInfo

from core.apicall import ApiCall, CallContext, path_value_problem
from core.catalog import Catalog
from core.connector import CommandParams, Endpoint
from core.lookup import SentLookup

from ._lookup import find_comment, find_issue, with_marker

__all__ = ["CATALOG", "COMMANDS", "IssuesAddLabels", "IssuesComment", "IssuesCreate"]


def _segment(value: str, info: ValidationInfo) -> str:
    # The pattern lets "." and ".." through; GitHub has no such names and
    # in a path they climb (``/repos/../../issues`` is ``/issues``).
    problem = path_value_problem(info.field_name or "name", value)
    if problem:
        raise ValueError(problem)
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"),
    AfterValidator(_segment),
]


class _Repo(CommandParams):
    owner: Name
    repo: Name


class _Marked(_Repo):
    """A call whose ``body`` ends with the command id's hidden marker, so
    that it can be found after a crash (:mod:`connectors.github._lookup`)."""

    def api_call(self, ctx: CallContext) -> ApiCall:
        call = super().api_call(ctx)
        body: dict[str, Any] = dict(call.body or {})
        body["body"] = with_marker(body.get("body"), ctx.command_id)
        return replace(call, body=body)


class IssuesCreate(_Marked):
    endpoint = Endpoint("POST", "/repos/{owner}/{repo}/issues")
    sent_lookup: ClassVar[SentLookup | None] = find_issue

    title: str = Field(min_length=1, max_length=256)
    body: str | None = Field(default=None, max_length=65536)
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list, max_length=10)
    milestone: int | None = Field(default=None, gt=0)


class IssuesComment(_Marked):
    endpoint = Endpoint("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    sent_lookup: ClassVar[SentLookup | None] = find_comment

    issue_number: int = Field(gt=0)
    body: str = Field(min_length=1, max_length=65536)


class IssuesAddLabels(_Repo):
    endpoint = Endpoint("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels")

    issue_number: int = Field(gt=0)
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(min_length=1)


COMMANDS: dict[str, type[CommandParams]] = {
    "issues.create": IssuesCreate,
    "issues.comment": IssuesComment,
    "issues.add_labels": IssuesAddLabels,
}

CATALOG = Catalog(
    __package__ or "connectors.github", base_urls=lambda s: {"uploads": str(s.uploads_base_url)}
)
"""Every operation of GitHub's REST description (``make specs``), after
Octokit's method names (``pulls/create-review`` -> ``pulls.create_review``);
the models above take precedence (``issues.comment`` is today's name of
``issues.create_comment``)."""
