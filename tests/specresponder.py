"""A provider as its description says: the spec-driven responder.

:class:`SpecResponder` is a sandbox (:class:`core.testing.Sandbox`, the same
aiohttp server and request pipeline as the hand-written ones) with no
hand-written routes: any request is matched to an operation of the
connector's stripped description(s) (``connectors/<c>/_spec/*.openapi.json.gz``),
judged by openapi-core (:func:`tests.openapi_judge.verdict`: path, query,
headers the description names, body), recorded as a :class:`Seen`, and
answered:

- valid (or openapi-core could not judge it): the operation's first 2xx
  status, with a deterministic minimal body of that response's JSON schema
  (:mod:`tests.minimal_values`: required properties, first enum values,
  depth bounded for recursive schemas); an operation the description
  answers only with a redirect gets that status and a ``Location``;
- invalid: 400 with openapi-core's message, so a test can show it;
- no operation matches: 404.

A responder serves every description of its connector at once (Twilio's
Api v2010 and Messaging v1: their paths do not overlap), so every base URL
of the connector can point at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.apicall import COMMAND_ID_HEADER
from core.catalog._export import to_json_schema
from core.testing import Sandbox
from tests.minimal_values import Minimal, NoValue
from tests.openapi_judge import (
    DESCRIPTIONS,
    Verdict,
    description,
    path_values,
    verdict,
    wire_request,
)
from tests.openapi_judge import server as server_of

__all__ = ["Described", "Seen", "SpecResponder"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: how deep a response body is built (Stripe's objects nest without end)
RESPONSE_DEPTH = 6


@dataclass(frozen=True)
class Described:
    """One operation of a description, as the responder answers it."""

    base: str
    template: str
    method: str
    operation_id: str
    params: frozenset[str]
    status: int
    media: str | None
    schema: Any
    #: where the description serves it (an operation's own ``servers`` first)
    server: str = ""


@dataclass(frozen=True)
class Seen:
    """One request the responder judged."""

    operation_id: str | None
    method: str
    path: str
    command_id: str | None
    verdict: Verdict
    status: int


def _first_success(responses: Mapping[str, Any]) -> str:
    codes = sorted(k for k in responses if k[:1] == "2")
    if codes:
        return codes[0]
    return sorted(k for k in responses if k[:1] == "3")[0]


def _operations(connector: str) -> list[Described]:
    found: list[Described] = []
    files: set[str] = set()
    for base, file in DESCRIPTIONS[connector].items():
        if file in files:  # another host of the same description (its ops have servers)
            continue
        files.add(file)
        spec = description(connector, base)
        components = spec.get("components", {})
        for template, item in spec["paths"].items():
            shared = item.get("parameters", [])
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                names = set()
                for param in [*shared, *op.get("parameters", [])]:
                    if "$ref" in param:
                        param = components["parameters"][param["$ref"].rsplit("/", 1)[-1]]
                    names.add(param["name"])
                code = _first_success(op["responses"])
                answer = op["responses"][code]
                if "$ref" in answer:
                    answer = components["responses"][answer["$ref"].rsplit("/", 1)[-1]]
                content = answer.get("content") or {}
                media = next((m for m in content if "json" in m), next(iter(content), None))
                schema = (content.get(media) or {}).get("schema") if media else None
                found.append(
                    Described(
                        base,
                        template,
                        method.upper(),
                        op["operationId"],
                        frozenset(names),
                        int(code),
                        media,
                        schema,
                        str(
                            (op.get("servers") or item.get("servers") or spec["servers"])[0]["url"]
                        ).rstrip("/"),
                    )
                )
    # the most literal template first: ``/repos/{o}/{r}/compare/{a}...{b}``
    # before ``/repos/{o}/{r}/compare/{basehead}``
    found.sort(key=lambda d: -sum(len(part.split("}")[-1]) for part in d.template.split("{")))
    return found


class SpecResponder(Sandbox):
    """Answers any described operation of ``connector`` (see the module docstring)."""

    name = "specresponder"

    def __init__(self, connector: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connector = connector
        self.operations = _operations(connector)
        self.seen: list[Seen] = []
        self._bodies: dict[str, bytes] = {}
        self._minimal: dict[str, Minimal] = {}

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._answer)

    def find(self, method: str, path: str) -> Described | None:
        for op in self.operations:
            if op.method == method and path_values(op.template, path) is not None:
                return op
        return None

    def body_of(self, op: Described) -> bytes:
        """The deterministic minimal body of ``op``'s success answer."""
        body = self._bodies.get(op.operation_id)
        if body is None:
            body = self._bodies[op.operation_id] = self._build(op)
        return body

    def _build(self, op: Described) -> bytes:
        if op.media is None or op.schema is None:
            return b""
        if "json" not in op.media:
            text = op.media.startswith("text/") or op.media.endswith(("/xml", "+xml"))
            return b"x" if text else b"%PDF-1.4\n\xff\xfe\x00binary"  # not UTF-8
        minimal = self._minimal.get(op.base)
        if minimal is None:
            schemas = description(self.connector, op.base).get("components", {}).get("schemas")
            defs = {name: to_json_schema(s) for name, s in (schemas or {}).items()}
            minimal = self._minimal[op.base] = Minimal({"$defs": defs}, max_depth=RESPONSE_DEPTH)
        try:
            value = minimal.value(to_json_schema(op.schema))
        except (NoValue, RecursionError):
            value = {}
        return json.dumps(value).encode()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        op = self.find(request.method, path)
        command_id = request.headers.get(COMMAND_ID_HEADER)
        if op is None:
            found = Verdict(failure=f"no described operation {request.method} {path}")
            self.seen.append(Seen(None, request.method, path, command_id, found, 404))
            return web.json_response({"error": found.failure}, status=404)
        raw = await request.read()
        judged = wire_request(
            op.server or server_of(self.connector, op.base),
            request.method,
            path,
            op.template,
            list(request.query.items()),
            dict(request.headers),
            request.headers.get("Content-Type", "").lower(),
            raw or None,
        )
        found = verdict(self.connector, op.base, judged, op.params)
        if found.failure is not None:
            self.seen.append(Seen(op.operation_id, request.method, path, command_id, found, 400))
            return web.json_response({"error": found.failure}, status=400)
        self.seen.append(Seen(op.operation_id, request.method, path, command_id, found, op.status))
        headers = {"Location": f"{self.url}/_download"} if 300 <= op.status < 400 else {}
        body = self.body_of(op)
        if op.status in (204, 205, 304) or not body:
            return web.Response(status=op.status, headers=headers)
        return web.Response(
            status=op.status,
            body=body,
            content_type=(op.media or "application/json").split(";")[0],
            headers=headers,
        )
