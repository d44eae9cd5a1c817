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
A malformed control request answers 400 with the reason.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from core.testing._private.faults import Fault

if TYPE_CHECKING:
    from core.testing.sandbox import Sandbox

__all__ = ["install"]

_FAULT_FIELDS = frozenset(f.name for f in dataclasses.fields(Fault))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


def install(router: web.UrlDispatcher, sandbox: Sandbox, prefix: str) -> None:
    async def add_fault(request: web.Request) -> web.Response:
        data = await _body(request)
        unknown = set(data) - _FAULT_FIELDS
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown fault fields: {sorted(unknown)}")
        try:
            fault = Fault(**data)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        sandbox.add_fault(fault)
        return _json(dataclasses.asdict(fault), status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return _json([dataclasses.asdict(f) for f in sandbox.faults.pending()])

    async def clear_faults(request: web.Request) -> web.Response:
        sandbox.clear_faults()
        return _json({"ok": True})

    async def set_latency(request: web.Request) -> web.Response:
        data = await _body(request)
        try:
            sandbox.set_latency(float(data.get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"seconds: {exc}") from None
        return _json({"seconds": sandbox.latency})

    async def set_rate(request: web.Request) -> web.Response:
        data = await _body(request)
        try:
            bucket = sandbox.enforce_rate(
                float(data["rate"]),
                None if data.get("burst") is None else float(data["burst"]),
                announce=bool(data.get("announce", True)),
                fractional_retry_after=bool(data.get("fractional_retry_after", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"rate: {exc}") from None
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
        data = await _body(request)
        unknown = set(data) - set(sandbox.switches)
        if unknown:
            raise web.HTTPBadRequest(
                text=f"unknown switches: {sorted(unknown)}; known: {sorted(sandbox.switches)}"
            )
        for name, value in data.items():
            if name == "latency":
                try:
                    sandbox.set_latency(float(value))
                except (TypeError, ValueError) as exc:
                    raise web.HTTPBadRequest(text=f"latency: {exc}") from None
            else:
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
