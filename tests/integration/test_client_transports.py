"""The two connection pools under the client (aiohttp's, the default, and
httpcore's) answer the same way, against a raw TCP server that misbehaves
on purpose: httpcore's behaviour is the reference, each case runs on both.

What must not change with the pool: which failures say "not sent" (safe to
retry without an idempotency key) and which "may have been sent"; timeouts;
bytes as received (httpx decodes, once); no headers added; request bodies
streamed; connections reused.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest

from core._aiohttp_transport import AiohttpTransport
from core._response_body import network_error

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server on a free loopback port; yields its URL and a list
    growing by one per connection accepted."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one HTTP/1.1 request (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    body = b""
    if b"content-length:" in lower:
        size = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(size)
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return head, body


def answer(body: bytes, *extra: str) -> bytes:
    headers = [f"Content-Length: {len(body)}", "Content-Type: application/json", *extra]
    return ("HTTP/1.1 200 OK\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body


def pool(kind: str, connections: int = 4) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    if kind == "aiohttp":
        return AiohttpTransport(limits)
    return httpx.AsyncHTTPTransport(limits=limits)


POOLS = pytest.mark.parametrize("kind", ["httpcore", "aiohttp"])


def client(kind: str, url: str, **timeouts: float) -> httpx.AsyncClient:
    timeout = httpx.Timeout(**{"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0, **timeouts})
    return httpx.AsyncClient(base_url=url, transport=pool(kind), timeout=timeout)


async def failure(kind: str, url: str, **timeouts: float) -> tuple[str, bool]:
    """(httpx exception type, may have been sent) of one POST."""
    async with client(kind, url, **timeouts) as http:
        request = http.build_request("POST", "/charge", content=b"{}")
        with pytest.raises(httpx.HTTPError) as info:
            await (await http.send(request)).aread()
    error = network_error(info.value, request)
    return type(info.value).__name__, bool(getattr(error, "sent", True))


@POOLS
async def test_a_refused_connection_was_not_sent(kind: str) -> None:
    async def unused(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        return

    async with raw_server(unused) as (url, _):
        pass  # closed: nothing listens there now
    assert await failure(kind, url) == ("ConnectError", False)


@POOLS
async def test_no_answer_in_time_may_have_been_sent(kind: str) -> None:
    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up

    async with raw_server(silent) as (url, _):
        assert await failure(kind, url, read=0.3) == ("ReadTimeout", True)


@POOLS
async def test_a_connection_closed_after_the_request_may_have_been_sent(kind: str) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(hang_up) as (url, _):
        assert await failure(kind, url) == ("RemoteProtocolError", True)


@POOLS
async def test_a_body_cut_short_is_a_protocol_error(kind: str) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"ok": true}')[:-4])
        await writer.drain()

    async with raw_server(short) as (url, _):
        assert await failure(kind, url) == ("RemoteProtocolError", True)


@POOLS
async def test_waiting_for_a_busy_pool_times_out_unsent(kind: str) -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.write(answer(b"{}"))
        await writer.drain()

    async with raw_server(slow) as (url, _):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        transport = (
            AiohttpTransport(limits)
            if kind == "aiohttp"
            else httpx.AsyncHTTPTransport(limits=limits)
        )
        timeout = httpx.Timeout(connect=0.2, read=5, write=5, pool=0.2)
        async with httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout) as http:
            first = asyncio.create_task(http.get("/a"))
            request = http.build_request("POST", "/b", content=b"{}")
            with pytest.raises(httpx.HTTPError) as info:
                await asyncio.wait_for(http.send(request), 5)
            release.set()
            assert (await first).status_code == 200
    assert not getattr(network_error(info.value, request), "sent", True)
    assert type(info.value).__name__ in {"PoolTimeout", "ConnectTimeout"}


@POOLS
async def test_bytes_as_sent_no_headers_added_and_the_body_decoded_once(kind: str) -> None:
    seen: list[bytes] = []
    payload = orjson.dumps({"id": "ch_1", "pad": "x" * 5000})

    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        seen.extend([head, body])
        writer.write(answer(gzip.compress(payload), "Content-Encoding: gzip"))
        await writer.drain()

    async with raw_server(gzipped) as (url, _), client(kind, url) as http:
        response = await http.post(
            "/charge", content=b'{"a":1}', headers={"X-Id": "k1", "User-Agent": "sb-test"}
        )
        assert response.json() == orjson.loads(payload)
        assert response.headers["content-encoding"] == "gzip"
    head, body = seen
    names = sorted(line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:] if line)
    assert names == sorted(
        [
            b"host",
            b"accept",
            b"accept-encoding",
            b"connection",
            b"user-agent",
            b"x-id",
            b"content-length",
        ]
    )
    assert b"user-agent: sb-test" in head.lower()
    assert body == b'{"a":1}'


@POOLS
async def test_a_streamed_request_body_arrives_whole_and_connections_are_reused(kind: str) -> None:
    bodies: list[bytes] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _head, body = await read_request(reader)
            bodies.append(body)
            writer.write(answer(b"{}"))
            await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"part{i};".encode()

    async with raw_server(keep_alive) as (url, accepted), client(kind, url) as http:
        assert (await http.post("/upload", content=parts())).status_code == 200
        for _ in range(5):
            assert (await http.get("/again")).status_code == 200
    assert bodies[0] == b"part0;part1;part2;part3;part4;"
    assert len(accepted) == 1, "one kept-alive connection serves every request"
