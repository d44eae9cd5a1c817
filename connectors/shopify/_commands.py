"""Shopify command models (params of ``shopify.<command>``): GraphQL Admin API mutations.

Every command is a GraphQL mutation sent to
``/admin/api/<api_version>/graphql.json`` through :class:`core.graphql.GraphQLClient`
(cost-based throttling from ``extensions.cost``). A mutation's
``userErrors`` are an in-band rejection: FatalRequestError
(``provider_code="USER_ERROR"``), never a success.
"""

from __future__ import annotations

from typing import Any, Self

import httpx
from pydantic import EmailStr, Field, field_validator, model_validator

from core.apicall import ApiCall, CallContext, fill_path
from core.connector import CommandParams
from core.errors import FatalRequestError

__all__ = ["COMMANDS", "CUSTOMER_CREATE", "CustomersCreate", "GraphQLMutation", "user_errors"]

CUSTOMER_CREATE = """mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id email firstName lastName phone tags note }
    userErrors { field message }
  }
}"""


def user_errors(data: Any, _headers: httpx.Headers) -> Any:
    """``data`` unchanged, or FatalRequestError if any mutation reports userErrors."""
    if isinstance(data, dict):
        for name, payload in data.items():
            errors = payload.get("userErrors") if isinstance(payload, dict) else None
            if errors:
                first = errors[0] if isinstance(errors[0], dict) else {}
                field = ".".join(str(p) for p in first.get("field") or [])
                raise FatalRequestError(
                    f"shopify {name}: user error" + (f" on {field}" if field else ""),
                    status=200,
                    provider_code="USER_ERROR",
                    provider_message=str(first.get("message", "")),
                )
    return data


def _graphql_call(ctx: CallContext, query: str, variables: dict[str, Any] | None) -> ApiCall:
    version = getattr(ctx.settings, "api_version", None) or "2025-01"
    path = fill_path("/admin/api/{version}/graphql.json", {"version": version})
    body = {"query": query, "variables": variables or {}}
    return ApiCall("POST", path, "graphql", body, extract=user_errors)


class GraphQLMutation(CommandParams):
    """Any Admin API mutation: ``query`` must be a ``mutation`` document."""

    query: str = Field(min_length=1, max_length=50_000)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("query")
    @classmethod
    def _is_mutation(cls, value: str) -> str:
        if not value.lstrip().startswith("mutation"):
            raise ValueError("must be a GraphQL mutation document (starting with 'mutation')")
        return value

    def api_call(self, ctx: CallContext) -> ApiCall:
        return _graphql_call(ctx, self.query, self.variables)


class CustomersCreate(CommandParams):
    """``customerCreate``; at least one of email or phone."""

    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    first_name: str | None = None
    last_name: str | None = None
    note: str | None = None
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _contact(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError("one of email or phone is required")
        return self

    def api_call(self, ctx: CallContext) -> ApiCall:
        names = {"first_name": "firstName", "last_name": "lastName"}
        data = self.model_dump(mode="json", exclude_none=True)
        payload = {names.get(k, k): v for k, v in data.items() if v != []}
        return _graphql_call(ctx, CUSTOMER_CREATE, {"input": payload})


COMMANDS: dict[str, type[CommandParams]] = {
    "graphql.mutation": GraphQLMutation,
    "customers.create": CustomersCreate,
}
