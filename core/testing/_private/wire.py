"""Responses that misbehave on the wire: resets, truncation, hangs, huge or non-JSON bodies."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from email.utils import formatdate

import orjson
from aiohttp import web

from core.testing._private.faults import Fault

__all__ = ["abort_connection", "fault_response"]


class ConnectionDropped(Exception):
    """Raised inside a handler after the connection was deliberately killed."""


def abort_connection(request: web.Request, *, rst: bool = True) -> None:
    """Close the client's TCP connection: with a RST (SO_LINGER 0) or, if not ``rst``, a FIN."""
    transport = request.transport
    if transport is None:
        return
    if not rst:
        transport.close()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _retry_after(value: float, http_date: bool = False) -> str:
    if http_date:
        return formatdate(time.time() + value, usegmt=True)
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


async def fault_response(
    request: web.Request,
    fault: Fault,
    closing: asyncio.Event,
    body: bytes | None = None,
) -> web.StreamResponse:
    """Play ``fault`` on ``request``.

    ``body`` is the real response (for after-handler faults), used as the
    bytes a truncated response cuts short. Raises :class:`ConnectionDropped`
    when nothing may be written any more (the connection is gone).
    """
    headers = dict(fault.headers)
    if fault.kind == "status":
        if fault.retry_after is not None:
            headers["Retry-After"] = _retry_after(fault.retry_after, fault.http_date)
        payload = {"error": {"type": "sandbox_fault", "message": f"injected {fault.status}"}}
        return web.json_response(payload, status=fault.status, headers=headers)
    if fault.kind == "rate_limit":
        headers.setdefault("Retry-After", _retry_after(fault.retry_after or 1, fault.http_date))
        payload = {"error": {"type": "rate_limit", "message": "too many requests"}}
        return web.json_response(payload, status=429, headers=headers)
    if fault.kind == "hang":
        # Waits for the test's deadline (or the sandbox's shutdown), then drops the line.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), fault.seconds)
        abort_connection(request)
        raise ConnectionDropped
    if fault.kind == "reset":
        abort_connection(request)
        raise ConnectionDropped
    if fault.kind == "truncate":
        full = body if body else orjson.dumps({"data": ["x" * 64] * 64})
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", **headers}
        )
        response.content_length = len(full)
        await response.prepare(request)
        await response.write(full[: max(1, len(full) // 2)])
        abort_connection(request, rst=False)
        raise ConnectionDropped
    if fault.kind == "oversize":
        return await _oversize(request, fault, headers)
    # non_json
    return web.Response(
        status=fault.status if fault.status != 503 else 200,
        body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"Content-Type": fault.content_type, **headers},
    )


async def _oversize(
    request: web.Request, fault: Fault, headers: dict[str, str]
) -> web.StreamResponse:
    head, tail = b'{"data":"', b'"}'
    filler = max(0, fault.size - len(head) - len(tail))
    if not fault.chunked:
        return web.Response(
            body=head + b"x" * filler + tail,
            headers={"Content-Type": "application/json", **headers},
        )
    response = web.StreamResponse(headers={"Content-Type": "application/json", **headers})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(head)
    chunk = b"x" * 65536
    while filler > 0:
        n = min(filler, len(chunk))
        try:
            await response.write(chunk[:n])
        except (ConnectionError, RuntimeError):
            # The client gave up reading once it hit its limit: that is the point.
            raise ConnectionDropped from None
        filler -= n
    await response.write(tail)
    await response.write_eof()
    return response
