"""The HTTP control surface of a sandbox (``/_sandbox/...``), for other processes.

=======  ==========================  ==============================================
method   path                        effect
=======  ==========================  ==============================================
POST     /_sandbox/faults            add a fault (JSON: :class:`Fault` fields;
                                     an outage: ``count: null, duration: 30``)
GET      /_sandbox/faults            pending faults
DELETE   /_sandbox/faults            clear faults
PUT      /_sandbox/latency           ``{"seconds": 0.05}``
PUT      /_sandbox/rate              ``{"rate": 200, "burst": null, "announce": true}``
GET      /_sandbox/rate              ``{"allowed": n, "refused": n}`` (or null)
DELETE   /_sandbox/rate              stop enforcing a rate
PUT      /_sandbox/switches          ``{"<name>": value}`` for names in ``Sandbox.switches``
GET      /_sandbox/requests          recorded requests (body as text)
DELETE   /_sandbox/requests          forget recorded requests
GET      /_sandbox/idempotency       ``{key or command id: side effects}``
GET      /_sandbox/side_effects      ``{"total": n, "by_id": {key or command id: n}}``
POST     /_sandbox/reset             everything back to defaults
=======  ==========================  ==============================================

Control requests are not recorded and never see faults or rate limits.
A malformed control request (not JSON, not an object, a missing field, a
wrong type or value, an unknown field) answers 400 with a JSON body
``{"error": {"type": "invalid_request", "message", "expected", "example"}}``:
the message names each wrong field, ``expected`` lists the fields the route
takes with their types and ``example`` is a body it accepts. Never a 500.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from core.testing._private.faults import FAULT_KINDS_ORDERED, Fault
from core.testing._private.shape import ControlledSandbox

__all__ = ["install"]

_FAULT_FIELDS = frozenset(f.name for f in dataclasses.fields(Fault) if f.init)
_KINDS = "'" + "' | '".join(FAULT_KINDS_ORDERED) + "'"
#: what POST /_sandbox/faults takes, for its error answers
FAULT_EXPECTED = {
    f.name: (_KINDS if f.name == "kind" else str(f.type))
    + ("" if f.name == "kind" else " (optional)")
    for f in dataclasses.fields(Fault)
    if f.init
}
FAULT_EXAMPLE = {"kind": "status", "status": 503, "count": None, "duration": 30}
_FAULT_ADAPTER = TypeAdapter(Fault)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def bad_request(
    message: str, expected: dict[str, str], example: dict[str, Any]
) -> web.HTTPBadRequest:
    """The 400 every malformed control request gets (raise it)."""
    error = {
        "type": "invalid_request",
        "message": message,
        "expected": expected,
        "example": example,
    }
    return web.HTTPBadRequest(
        text=orjson.dumps({"error": error}).decode(), content_type="application/json"
    )


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(x) for x in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            parts.append(f"body is not JSON ({error['ctx']['error']})")
        elif error["type"] == "dataclass_type":
            parts.append("body must be a JSON object")
        else:
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_fault(raw: bytes) -> Fault:
    """A :class:`Fault` from a control request's body; :func:`bad_request` if it is not one."""
    example = orjson.dumps(FAULT_EXAMPLE).decode()
    hint = f"POST /_sandbox/faults takes a JSON object of fault fields, e.g. {example}"
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"body is not JSON ({exc}); {hint}", FAULT_EXPECTED, FAULT_EXAMPLE
        ) from None
    unknown = sorted(set(data) - _FAULT_FIELDS) if isinstance(data, dict) else []
    if unknown:
        raise bad_request(f"unknown fault fields: {unknown}; {hint}", FAULT_EXPECTED, FAULT_EXAMPLE)
    try:
        # strict JSON validation: "5" is not a count, true is not a status
        fault: Fault = _FAULT_ADAPTER.validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        raise bad_request(f"{_problems(exc)}; {hint}", FAULT_EXPECTED, FAULT_EXAMPLE) from None
    return fault


async def _body(
    request: web.Request, expected: dict[str, str], example: dict[str, Any]
) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not JSON ({exc})", expected, example) from None
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object", expected, example)
    return data


_LATENCY_EXPECTED = {"seconds": "number >= 0"}
_LATENCY_EXAMPLE = {"seconds": 0.05}
_RATE_EXPECTED = {
    "rate": "number > 0 (requests/s)",
    "burst": "number >= 1 | null (optional; default: rate)",
    "announce": "bool (optional; default true)",
    "fractional_retry_after": "bool (optional; default false)",
}
_RATE_EXAMPLE = {"rate": 200, "burst": None, "announce": True}


def _number(
    data: dict[str, Any],
    name: str,
    expected: dict[str, str],
    example: dict[str, Any],
    default: float | None = None,
) -> float | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{name}: must be a number, got {value!r}", expected, example)
    return float(value)


def unknown(request: web.Request, prefix: str) -> web.Response:
    """404 for a control path or method that does not exist, listing the ones that do."""
    routes = sorted(
        f"{r.method} {r.resource.canonical}"
        for r in request.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith(prefix + "/")
    )
    message = f"no control route {request.method} {request.path}; the control routes: {routes}"
    return _json({"error": {"type": "not_found", "message": message}}, status=404)


def install(router: web.UrlDispatcher, sandbox: ControlledSandbox, prefix: str) -> None:
    async def add_fault(request: web.Request) -> web.Response:
        fault = parse_fault(await request.read())
        sandbox.add_fault(fault)
        return _json(dataclasses.asdict(fault), status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return _json([dataclasses.asdict(f) for f in sandbox.faults.pending()])

    async def clear_faults(request: web.Request) -> web.Response:
        sandbox.clear_faults()
        return _json({"ok": True})

    async def set_latency(request: web.Request) -> web.Response:
        data = await _body(request, _LATENCY_EXPECTED, _LATENCY_EXAMPLE)
        seconds = _number(data, "seconds", _LATENCY_EXPECTED, _LATENCY_EXAMPLE, default=0.0)
        if seconds is None or seconds < 0:
            raise bad_request("seconds: must be >= 0", _LATENCY_EXPECTED, _LATENCY_EXAMPLE)
        sandbox.set_latency(seconds)
        return _json({"seconds": sandbox.latency})

    async def set_rate(request: web.Request) -> web.Response:
        data = await _body(request, _RATE_EXPECTED, _RATE_EXAMPLE)
        unknown = sorted(set(data) - set(_RATE_EXPECTED))
        if unknown:
            raise bad_request(f"unknown rate fields: {unknown}", _RATE_EXPECTED, _RATE_EXAMPLE)
        if "rate" not in data:
            raise bad_request("rate: required", _RATE_EXPECTED, _RATE_EXAMPLE)
        rate = _number(data, "rate", _RATE_EXPECTED, _RATE_EXAMPLE)
        burst = _number(data, "burst", _RATE_EXPECTED, _RATE_EXAMPLE)
        flags = {
            name: data.get(name, default)
            for name, default in (("announce", True), ("fractional_retry_after", False))
        }
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise bad_request(f"{name}: must be true or false", _RATE_EXPECTED, _RATE_EXAMPLE)
        try:
            bucket = sandbox.enforce_rate(
                rate or 0.0,
                burst,
                announce=flags["announce"],
                fractional_retry_after=flags["fractional_retry_after"],
            )
        except ValueError as exc:
            raise bad_request(str(exc), _RATE_EXPECTED, _RATE_EXAMPLE) from None
        return _json({"rate": bucket.rate, "burst": bucket.capacity})

    async def get_rate(request: web.Request) -> web.Response:
        bucket = sandbox.rate
        if bucket is None:
            return _json(None)
        return _json({"rate": bucket.rate, "allowed": bucket.allowed, "refused": bucket.refused})

    async def clear_rate(request: web.Request) -> web.Response:
        sandbox.clear_rate()
        return _json({"ok": True})

    async def set_switches(request: web.Request) -> web.Response:
        # a switch takes what it holds now: true/false or a number
        expected = {
            name: "true | false"
            if isinstance(getattr(sandbox, name), bool)
            else ("number >= 0" if name == "latency" else "number")
            for name in sorted(sandbox.switches)
        }
        example = {"latency": 0.05} if "latency" in expected else {}
        data = await _body(request, expected, example)
        unknown = set(data) - set(sandbox.switches)
        if unknown:
            raise bad_request(
                f"unknown switches: {sorted(unknown)}; known: {sorted(sandbox.switches)}",
                expected,
                example,
            )
        for name, value in data.items():
            if name == "latency":
                seconds = _number(data, name, expected, example)
                if seconds is None or seconds < 0:
                    raise bad_request("latency: must be a number >= 0", expected, example)
                sandbox.set_latency(seconds)
            elif expected[name] == "true | false" and not isinstance(value, bool):
                raise bad_request(f"{name}: must be true or false", expected, example)
            elif expected[name] == "number" and _number(data, name, expected, example) is None:
                raise bad_request(f"{name}: must be a number", expected, example)
        for name, value in data.items():
            if name != "latency":
                setattr(sandbox, name, value)
        return _json({name: getattr(sandbox, name) for name in sorted(sandbox.switches)})

    async def list_requests(request: web.Request) -> web.Response:
        return _json(
            [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "headers": r.headers,
                    "body": r.body.decode("utf-8", "replace"),
                    "at": r.at,
                    "outcome": r.outcome,
                }
                for r in sandbox.requests
            ]
        )

    async def clear_requests(request: web.Request) -> web.Response:
        sandbox.log.clear()
        return _json({"ok": True})

    async def idempotency(request: web.Request) -> web.Response:
        return _json(sandbox.idempotency.all_side_effects())

    async def side_effects(request: web.Request) -> web.Response:
        return _json({"total": sandbox.total_side_effects(), "by_id": sandbox.side_effect_counts()})

    async def reset(request: web.Request) -> web.Response:
        sandbox.reset()
        return _json({"ok": True})

    router.add_post(f"{prefix}/faults", add_fault)
    router.add_get(f"{prefix}/faults", list_faults)
    router.add_delete(f"{prefix}/faults", clear_faults)
    router.add_put(f"{prefix}/latency", set_latency)
    router.add_put(f"{prefix}/rate", set_rate)
    router.add_get(f"{prefix}/rate", get_rate)
    router.add_delete(f"{prefix}/rate", clear_rate)
    router.add_put(f"{prefix}/switches", set_switches)
    router.add_get(f"{prefix}/requests", list_requests)
    router.add_delete(f"{prefix}/requests", clear_requests)
    router.add_get(f"{prefix}/idempotency", idempotency)
    router.add_get(f"{prefix}/side_effects", side_effects)
    router.add_post(f"{prefix}/reset", reset)
