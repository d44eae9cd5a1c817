"""What a command does at its provider, declared as data the sink can run.

A command's params model (:class:`core.connector.CommandParams`) turns
itself into one :class:`ApiCall` -- method, path, body kind and body --
either declaratively through an :class:`Endpoint` class attribute or by
overriding ``api_call``. A connector's ``api`` callable turns its settings
section into a :class:`ClientSetup`: the :class:`~core.client.ClientPolicy`
(base URL, error mapping), the auth, and how side effects are kept single:

- ``idempotency="key"``: the provider honours an idempotency key; the
  command id is sent in ``policy.idempotency_header`` and the provider
  replays the first answer for ``idempotency_window``;
- ``idempotency="ledger"``: the provider has no such key; the sink must
  check its ledger of executed command ids before calling.

Either way every call carries the command id in :data:`COMMAND_ID_HEADER`
(harmless to real providers; sandboxes count side effects by it).

:func:`execute` sends an ApiCall through a :class:`~core.client.ProviderClient`
(GraphQL bodies through :class:`~core.graphql.GraphQLClient`, cost-throttled)
and returns a :class:`CallResult`, or raises from :mod:`core.errors`; a call
that cannot be built raises FatalRequestError before anything is sent. It
only picks the client's keyword for the body kind: the body is encoded
once, by the client (:mod:`core.encoding`; its :func:`form_encode` is
re-exported here). Running a whole command -- decode, validate, call,
Result -- is :mod:`core.executor`'s.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from core import errors as e
from core.client import ClientPolicy, ProviderClient, ProviderResponse
from core.encoding import FormData, form_encode, form_pairs
from core.graphql import GraphQLClients
from core.redaction import redact_url

__all__ = [
    "COMMAND_ID_HEADER",
    "ApiCall",
    "BodyKind",
    "Buildable",
    "CallContext",
    "CallResult",
    "ClientSetup",
    "Endpoint",
    "Idempotency",
    "Safety",
    "execute",
    "fill_path",
    "form_encode",
    "path_value_problem",
    "run_command",
    "safety",
]

COMMAND_ID_HEADER = "X-Switchboard-Command-Id"

BodyKind = Literal["none", "json", "form", "multipart", "query", "graphql", "content"]
Idempotency = Literal["key", "ledger"]
Safety = Literal["read", "idempotent", "key", "ledger"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_IDEMPOTENT = frozenset({"PUT", "DELETE"})


def safety(method: str | None, idempotency: Idempotency) -> Safety:
    """How a call of ``method`` is kept to one side effect.

    ``read``: no side effect, repeated freely (no ledger marker);
    ``idempotent``: PUT and DELETE, which HTTP defines as idempotent
    (retried, no marker); otherwise the provider's ``key`` or the sink's
    ``ledger``. An unknown method (a call built in code) is a write.
    """
    method = (method or "POST").upper()
    if method in _READS:
        return "read"
    if method in _IDEMPOTENT:
        return "idempotent"
    return idempotency


Extract = Callable[[Any, httpx.Headers], Any]


@dataclass(frozen=True)
class CallContext:
    """What a command may use besides its params: its id and the connector's settings."""

    command_id: str
    settings: Any = None


@dataclass(frozen=True)
class ApiCall:
    """One provider request, fully described.

    ``path`` is relative to the policy's base URL (or absolute). ``body``
    is a JSON value (``json``), a mapping (bracket-encoded, see
    :mod:`core.encoding`) or a list of pairs (``form``, ``query``), named
    text and :class:`~core.encoding.FilePart` parts (``multipart``),
    ``{"query", "variables"}`` (``graphql``), or bytes sent as they are
    (``content``, with a Content-Type header). ``idempotency_key`` is filled
    in by :meth:`ClientSetup.prepare`.
    ``success_statuses`` narrows success: another 2xx is a FatalRequestError.
    ``extract(data, headers)`` maps the parsed response to the Result's
    ``response`` and may raise a :mod:`core.errors` error for an in-band
    failure (GraphQL userErrors). ``answer``: what a success carries, JSON
    (anything else is an InvalidBodyError) or ``text`` (an operation
    described as answering text/html, text/plain ...: the response is the
    body as a string; a body that is not UTF-8 is an InvalidBodyError) or
    ``bytes`` (a file, e.g. a PDF: ``{"content_type", "size", "base64"}``) or
    ``redirect`` (an operation described as answering a redirect, e.g. a
    download link: the 3xx is the success, not followed, and the response is
    ``{"location": ...}``).
    """

    method: str
    path: str
    body_kind: BodyKind = "none"
    body: Any = None
    params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    success_statuses: frozenset[int] | None = None
    extract: Extract | None = None
    answer: Literal["json", "text", "bytes", "redirect"] = "json"


#: values that are not a path segment of their own: httpx (RFC 3986) removes
#: dot segments, so ``/repos/{owner}/{repo}/issues`` with ``..`` twice is
#: ``/issues``; an empty value merges two segments
_NOT_A_SEGMENT = frozenset({"", ".", ".."})


def path_value_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be the path parameter ``name`` (None if it can)."""
    text = str(value)
    if text not in _NOT_A_SEGMENT:
        return None
    shown = "empty" if text == "" else f"{text!r}"
    return (
        f"path parameter {name!r} is {shown}: it would not stay one path segment "
        "(the request would go to another endpoint); give the real value"
    )


def fill_path(template: str, values: Mapping[str, Any]) -> str:
    """``/v1/customers/{customer}`` with each value percent-encoded (``/`` and
    ``%`` too, so every value stays one segment as given).

    Raises :class:`~core.errors.InvalidParamsError` (nothing is sent) for a
    placeholder whose value is empty, ``.`` or ``..``; FatalRequestError for
    a missing one."""
    try:
        for _, name, _, _ in string.Formatter().parse(template):
            problem = path_value_problem(name, values[name]) if name and name in values else None
            if problem:
                raise e.InvalidParamsError(problem)
        return template.format_map({k: quote(str(v), safe="") for k, v in values.items()})
    except (KeyError, IndexError, ValueError) as exc:
        raise e.FatalRequestError(f"cannot fill path {template!r}: missing {exc}") from None


@dataclass(frozen=True)
class Endpoint:
    """A declarative call: path fields are taken out of the params and
    placed in the path; the rest (``exclude`` removed, None left out) is
    the body in ``body`` form."""

    method: str
    path: str
    body: BodyKind = "json"
    exclude: frozenset[str] = frozenset()
    extract: Extract | None = None

    def path_fields(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.path) if name]

    def build(self, params: BaseModel, ctx: CallContext) -> ApiCall:
        in_path = self.path_fields()
        data = params.model_dump(mode="json", exclude_none=True, by_alias=True)
        path = fill_path(self.path, {k: data.get(k) for k in in_path if k in data})
        body = {k: v for k, v in data.items() if k not in in_path and k not in self.exclude}
        if self.body == "none":
            body_value: Any = None
        elif self.body in ("form", "query"):
            body_value = form_encode(body)
        else:
            body_value = body
        return ApiCall(self.method, path, self.body, body_value, extract=self.extract)


@dataclass(frozen=True)
class ClientSetup:
    """A connector's client choices, built from its settings section.

    ``idempotency``/``idempotency_window``: see the module docstring
    (``window=None`` for a ledger: covered for the ledger's retention).
    ``graphql_cost`` is the cost assumed for a GraphQL document before the
    provider reported one. ``api_version`` is the provider API version the
    calls are pinned to (sent by the policy's headers or in the paths),
    recorded on every Result.
    """

    policy: ClientPolicy
    auth: httpx.Auth | None = None
    credential: str = "default"
    idempotency: Idempotency = "ledger"
    idempotency_window: timedelta | None = None
    graphql_cost: float = 10.0
    api_version: str | None = None

    def client(self, **kwargs: Any) -> ProviderClient:
        """A :class:`ProviderClient` for this setup (``kwargs``: budgets, sleep, transport...)."""
        return ProviderClient(self.policy, auth=self.auth, credential=self.credential, **kwargs)

    def prepare(self, call: ApiCall, command_id: str) -> ApiCall:
        """``call`` with the command id header and, for key providers, the idempotency key."""
        headers = {**call.headers, COMMAND_ID_HEADER: command_id}
        key = command_id if self.idempotency == "key" and call.method != "GET" else None
        return replace(call, headers=headers, idempotency_key=key)


@dataclass(frozen=True)
class CallResult:
    """A successful call: ``data`` is what goes in the Result's ``response``."""

    status: int
    data: Any
    attempts: int
    request_id: str | None


async def execute(
    client: ProviderClient,
    call: ApiCall,
    *,
    graphql_cost: float = 10.0,
    graphql: GraphQLClients | None = None,
) -> CallResult:
    """Send ``call`` (see the module docstring for what is raised).

    ``graphql`` are the GraphQL clients kept beside ``client`` (they
    remember each document's cost); without them a GraphQL call starts from
    ``graphql_cost``.
    """
    kind = call.body_kind
    if kind == "graphql":
        if not isinstance(call.body, Mapping) or not isinstance(call.body.get("query"), str):
            raise e.FatalRequestError("graphql call without a query document")
        gql = (graphql or GraphQLClients(client)).at(call.path, graphql_cost)
        result = await gql.execute(
            call.body["query"],
            call.body.get("variables"),
            idempotency_key=call.idempotency_key,
            headers=call.headers,
        )
        assert result.response is not None
        resp = result.response
        data: Any = result.data
    else:
        given = call.params.items() if isinstance(call.params, Mapping) else call.params or ()
        query = [*given, *(form_pairs(call.body) if kind == "query" else ())]
        form: FormData | None = (call.body or []) if kind == "form" else None
        resp = await client.request(
            call.method,
            call.path,
            params=query or None,
            json=call.body if kind == "json" else None,
            data=form,
            multipart=call.body if kind == "multipart" else None,
            content=call.body if kind == "content" else None,
            headers=call.headers,
            idempotency_key=call.idempotency_key,
            expect_json=call.answer == "json",
            redirect_is_answer=call.answer == "redirect",
        )
        data = _data(call, resp)
    _check_status(call, resp)
    if call.extract is not None:
        data = call.extract(data, resp.headers)
    return CallResult(resp.status, data, resp.attempts, resp.request_id)


class Buildable(Protocol):
    """A validated command's params (:class:`core.connector.CommandParams`)."""

    def api_call(self, ctx: CallContext) -> ApiCall: ...


async def run_command(
    setup: ClientSetup,
    client: ProviderClient,
    params: Buildable,
    ctx: CallContext,
    *,
    graphql: GraphQLClients | None = None,
) -> CallResult:
    """Build ``params``' call, add the command id (and key), and send it."""
    call = setup.prepare(params.api_call(ctx), ctx.command_id)
    return await execute(client, call, graphql_cost=setup.graphql_cost, graphql=graphql)


def _data(call: ApiCall, resp: ProviderResponse) -> Any:
    if call.answer == "redirect":
        return {"location": resp.headers.get("location")}
    if call.answer == "json":
        return resp.data
    if call.answer == "bytes":
        return {
            "content_type": resp.headers.get("content-type"),
            "size": len(resp.content),
            "base64": base64.b64encode(resp.content).decode("ascii"),
        }
    try:
        return resp.content.decode()
    except UnicodeDecodeError:
        raise e.InvalidBodyError(
            f"{call.method} {redact_url(call.path)}: the answer is not UTF-8 text",
            status=resp.status,
            request_id=resp.request_id,
        ) from None


def _check_status(call: ApiCall, resp: ProviderResponse) -> None:
    if call.success_statuses is not None and resp.status not in call.success_statuses:
        raise e.FatalRequestError(
            f"{call.method} {call.path} -> {resp.status}, expected one of "
            f"{sorted(call.success_statuses)}",
            status=resp.status,
            request_id=resp.request_id,
        )
