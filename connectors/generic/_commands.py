"""The generic connector's one command: ``generic.request``, a declarative
request template from settings filled with the command's values.

A template (``SWITCHBOARD_GENERIC__TEMPLATES``) names a method, a URL
template (relative to ``base_url`` or absolute) with ``{name}``
placeholders, headers, a JSON body template and the success statuses. In
the body, a string that is exactly ``"{name}"`` becomes the value itself
(numbers, lists and objects keep their type); other strings are formatted.
``{command_id}`` is always available. URL values are percent-encoded.
A template or value that does not fit is a FatalRequestError (nothing sent).
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.apicall import ApiCall, CallContext, fill_path
from core.connector import CommandParams
from core.errors import FatalRequestError

__all__ = ["COMMANDS", "Request", "RequestTemplate", "render"]

_WHOLE = re.compile(r"^\{(\w+)\}$")


class RequestTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1, description="e.g. /v1/orders/{order_id}/notes")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, description="JSON template; None sends no body")
    success_codes: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])


def _format(text: str, values: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(text, (), values)
    except (KeyError, IndexError, ValueError) as exc:
        raise FatalRequestError(f"template {text!r}: no value for {exc}") from None


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill a JSON template (see the module docstring)."""
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            if whole.group(1) not in values:
                raise FatalRequestError(f"template {template!r}: no value for {whole.group(1)!r}")
            return values[whole.group(1)]
        return _format(template, values)
    if isinstance(template, dict):
        return {_format(str(k), values): render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


class Request(CommandParams):
    """Run the settings' template ``template`` with ``values``."""

    template: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)

    def api_call(self, ctx: CallContext) -> ApiCall:
        templates: dict[str, RequestTemplate] = getattr(ctx.settings, "templates", None) or {}
        tpl = templates.get(self.template)
        if tpl is None:
            known = ", ".join(sorted(templates)) or "none"
            raise FatalRequestError(f"unknown request template {self.template!r}; known: {known}")
        values = {**self.values, "command_id": ctx.command_id}
        path = fill_path(tpl.url, values) if "{" in tpl.url else tpl.url
        headers = {k: _format(v, values) for k, v in tpl.headers.items()}
        body = render(tpl.body, values) if tpl.body is not None else None
        return ApiCall(
            tpl.method,
            path,
            "json" if body is not None else "none",
            body,
            headers=headers,
            success_statuses=frozenset(tpl.success_codes),
        )


COMMANDS: dict[str, type[CommandParams]] = {"request": Request}
