"""Slow, idle, hostile and malformed clients against a running ingest
server over raw sockets: they are cut off by the header, body and
keep-alive timeouts and the connection cap, are answered with fixed texts,
log one line each, and never keep a valid delivery out."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest

from core.testing.signing import sign_stripe
from streams.kafka.topics import TopicNames
from streams.settings import Settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.ingest_support import (
    STRIPE_SECRET,
    ingest_settings,
    metric,
    running_server,
    stripe_event,
)
from tests.kafkatools import end_offsets
from tests.rawhttp import exchange, read_reply, request_head
from tests.waiting import eventually

pytestmark = pytest.mark.integration

MakeServer = Callable[..., Awaitable[WorkerHttpServer]]


@pytest.fixture
async def make_server(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[MakeServer]:
    """Start an ingest server with the given worker settings."""
    async with AsyncExitStack() as stack:

        async def make(**worker: object) -> WorkerHttpServer:
            settings = ingest_settings(monkeypatch, kafka_bootstrap, topic_prefix, **worker)
            return await stack.enter_async_context(running_server(settings))

        yield make


@asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 30.0) -> bytes:
    """What the server sent before closing (raises TimeoutError if it does not close)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


def delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    body = stripe_event(event_id)
    return body, sign_stripe(body, STRIPE_SECRET)


async def post_delivery(port: int, event_id: str) -> int:
    body, headers = delivery(event_id)
    head = request_head("POST", "/webhooks/stripe", headers, content_length=len(body))
    return (await exchange(port, [head + body])).status


def settings_of(server: WorkerHttpServer) -> Settings:
    return server.settings


async def test_a_connection_that_trickles_its_headers_is_closed(make_server: MakeServer) -> None:
    server = await make_server(header_timeout_s=0.5)
    assert server.port is not None
    before = metric("switchboard_ingest_connections_closed_total", reason="header_timeout")
    async with connection(server.port) as (reader, writer):
        writer.write(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\n")

        async def trickle() -> None:  # the slowloris: a header byte every 50 ms
            for _ in range(10_000):
                writer.write(b"X")
                await asyncio.sleep(0.05)  # allowed: stimulus, one byte every 50 ms

        task = asyncio.create_task(trickle())
        try:
            assert await closed_by_server(reader) == b""
        finally:
            task.cancel()
    assert metric("switchboard_ingest_connections_closed_total", reason="header_timeout") > before


async def test_an_idle_kept_alive_connection_is_closed(make_server: MakeServer) -> None:
    server = await make_server(keepalive_timeout_s=0.5)
    assert server.port is not None
    async with connection(server.port) as (reader, writer):
        writer.write(request_head("GET", "/healthz"))
        assert (await read_reply(reader)).status == 200
        assert await closed_by_server(reader) == b""


async def test_a_body_slower_than_the_body_timeout_is_408_and_nothing_is_produced(
    make_server: MakeServer,
) -> None:
    server = await make_server(body_timeout_s=0.5)
    assert server.port is not None
    body, headers = delivery("evt_slow_body")
    head = request_head("POST", "/webhooks/stripe", headers, content_length=len(body))
    async with connection(server.port) as (reader, writer):
        writer.write(head + body[:10])
        async with asyncio.timeout(30):
            reply = await read_reply(reader)
    assert (reply.status, reply.body) == (408, b"request body timeout")
    assert reply.headers["connection"] == "close"
    topic = TopicNames.from_settings(server.settings).ingest("stripe")
    assert await end_offsets(server.settings, topic) == 0


async def test_at_the_cap_idle_connections_make_way_for_a_delivery(
    make_server: MakeServer,
) -> None:
    server = await make_server(max_connections=8)
    assert server.port is not None
    evicted = metric("switchboard_ingest_connections_closed_total", reason="idle_evicted")
    async with AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(connection(server.port)) for _ in range(8)]
        await eventually(lambda: server.open_connections == 8)
        assert metric("switchboard_ingest_connections_open") >= 8
        assert await post_delivery(server.port, "evt_past_the_idle") == 200
        # the oldest idle connection was closed to make room
        assert await closed_by_server(idle[0][0]) == b""
    assert metric("switchboard_ingest_connections_closed_total", reason="idle_evicted") > evicted


async def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(
    make_server: MakeServer,
) -> None:
    server = await make_server(max_connections=4, body_timeout_s=60)
    assert server.port is not None
    refused = metric("switchboard_ingest_connections_refused_total")
    body, headers = delivery("evt_busy")
    head = request_head("POST", "/webhooks/stripe", headers, content_length=len(body))
    async with AsyncExitStack() as stack:
        busy = [await stack.enter_async_context(connection(server.port)) for _ in range(4)]
        for _reader, writer in busy:
            writer.write(head + body[:10])  # in the handler, waiting for the rest
        await eventually(lambda: server.requests_in_progress == 4)
        reply = await exchange(server.port, [head + body])
        assert (reply.status, reply.headers["retry-after"]) == (503, "5")
        assert reply.body == b"too many connections"
        # the busy ones are not cut off: they finish their deliveries
        for _reader, writer in busy:
            writer.write(body[10:])
        for reader, _writer in busy:
            assert (await read_reply(reader)).status == 200
    assert metric("switchboard_ingest_connections_refused_total") == refused + 1


MALFORMED = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad header MARKER\r\n\r\n",
    b"MARKER /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /MARKER\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/9.9MARKER\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"MARKER" * 3000 + b"\r\n\r\n",
    b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zzMARKER\r\nabc\r\n0\r\n\r\n",
    b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nMARKER",
    b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: -1MARKER\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03MARKER",  # TLS to the HTTP port
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_requests_get_a_fixed_text_and_one_log_line(
    make_server: MakeServer, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    assert server.port is not None
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        reply = await exchange(server.port, [raw])
        await eventually(lambda: caplog.records)
    assert 400 <= reply.status < 500, reply
    assert reply.body in {b"malformed request", b"request headers too large", b"malformed body"}
    assert b"MARKER" not in reply.body
    mine = [r for r in caplog.records if not r.name.startswith(("asyncio", "aiokafka"))]
    assert len(mine) == 1, [r.getMessage() for r in mine]
    assert mine[0].exc_info is None
    assert "MARKER" not in mine[0].getMessage()


async def test_ops_endpoints_answer_as_before_without_a_token(make_server: MakeServer) -> None:
    server = await make_server()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200


async def test_ops_endpoints_require_the_token_when_set(make_server: MakeServer) -> None:
    token = f"ops-{uuid.uuid4().hex}"
    server = await make_server(ops_token=token)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        for path in ("/healthz", "/readyz", "/metrics"):
            for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                response = await http.get(path, headers=auth)
                assert response.status_code == 401, (path, auth)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert token not in response.text
            good = {"Authorization": f"Bearer {token}"}
            assert (await http.get(path, headers=good)).status_code == 200, path
        # webhooks are authenticated by their signatures only
        body, headers = delivery("evt_no_token_needed")
        response = await http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200


async def test_ops_endpoints_move_to_their_own_listener(make_server: MakeServer) -> None:
    server = await make_server(ops_port=0, ops_host="127.0.0.1")
    assert server.ops_port not in (None, server.port)
    async with httpx.AsyncClient() as http:
        main, ops = f"http://127.0.0.1:{server.port}", f"http://127.0.0.1:{server.ops_port}"
        assert (await http.get(f"{main}/healthz")).status_code == 404
        assert (await http.get(f"{main}/metrics")).status_code == 404
        assert (await http.get(f"{ops}/healthz")).status_code == 200
        assert (await http.get(f"{ops}/metrics")).status_code == 200
        body, headers = delivery("evt_main_only")
        response = await http.post(f"{ops}/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 404
        response = await http.post(f"{main}/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200
