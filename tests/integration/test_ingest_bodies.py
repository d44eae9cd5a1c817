"""Request bodies as real clients send them, over raw sockets against a
running ingest server and the real broker: large, split, slow, chunked,
compressed, deeply nested. Signatures are checked by Stripe's own library
before each delivery is sent, so a wrong test signer cannot pass."""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import AsyncIterator

import orjson
import pytest
import stripe

from core.envelopes import Event
from core.testing.signing import sign_stripe
from streams.kafka.topics import TopicNames
from streams.settings import Settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.ingest_support import (
    STRIPE_SECRET,
    ingest_settings,
    running_server,
    stripe_event,
)
from tests.kafkatools import end_offsets, read_topic
from tests.rawhttp import Reply, chunked, exchange, request_head

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def settings_(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, topic_prefix: str) -> Settings:
    return ingest_settings(monkeypatch, kafka_bootstrap, topic_prefix)


@pytest.fixture
async def server(settings_: Settings) -> AsyncIterator[WorkerHttpServer]:
    async with running_server(settings_) as srv:
        yield srv


def signed(body: bytes) -> dict[str, str]:
    headers = sign_stripe(body, STRIPE_SECRET)
    # the oracle: Stripe's own verifier accepts exactly these bytes and header
    stripe.WebhookSignature.verify_header(body.decode(), headers["Stripe-Signature"], STRIPE_SECRET)
    return headers


def ingest_topic(settings: Settings) -> str:
    return TopicNames.from_settings(settings).ingest("stripe")


async def post(
    server: WorkerHttpServer,
    body: bytes,
    headers: dict[str, str],
    *,
    split: int | None = None,
    gap_s: float = 0.0,
    chunk: int | None = None,
) -> Reply:
    """POST ``body`` to /webhooks/stripe: in one write, in writes of
    ``split`` bytes ``gap_s`` apart, or chunked in chunks of ``chunk``."""
    assert server.port is not None
    if chunk is not None:
        head = request_head("POST", "/webhooks/stripe", {**headers, "Transfer-Encoding": "chunked"})
        return await exchange(server.port, [head, *chunked(body, chunk)], gap_s=gap_s)
    head = request_head("POST", "/webhooks/stripe", headers, content_length=len(body))
    if split is None:
        return await exchange(server.port, [head + body])
    parts = [body[i : i + split] for i in range(0, len(body), split)]
    return await exchange(server.port, [head, *parts], gap_s=gap_s)


async def test_a_200_kb_delivery_in_one_write_is_accepted(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    body = stripe_event("evt_big_one", pad=200 * 1024)
    reply = await post(server, body, signed(body))
    assert reply.status == 200, reply
    (record,) = await read_topic(settings_, ingest_topic(settings_))
    assert Event.from_json(record.value).data == orjson.loads(body)


async def test_a_body_in_two_writes_300_ms_apart_is_accepted(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    body = stripe_event("evt_split", pad=2048)
    reply = await post(server, body, signed(body), split=len(body) // 2 + 1, gap_s=0.3)
    assert reply.status == 200, reply
    assert await end_offsets(settings_, ingest_topic(settings_)) == 1


async def test_a_slow_chunked_body_is_accepted(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    body = stripe_event("evt_chunked", pad=64 * 1024)
    reply = await post(server, body, signed(body), chunk=7 * 1024, gap_s=0.02)
    assert reply.status == 200, reply
    (record,) = await read_topic(settings_, ingest_topic(settings_))
    assert Event.from_json(record.value).id == "evt_chunked"


async def test_a_chunked_body_over_the_cap_is_413(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    body = stripe_event("evt_too_big", pad=int(2.5 * MiB))
    reply = await post(server, body, signed(body), chunk=256 * 1024)
    assert reply.status == 413
    assert reply.body == b"payload too large"
    assert await end_offsets(settings_, ingest_topic(settings_)) == 0


async def test_a_body_of_exactly_the_cap_is_read_whole(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    cap = 1 * MiB  # Stripe's max_body_bytes
    skeleton = stripe_event("evt_cap", pad=0)
    body = stripe_event("evt_cap", pad=cap - len(skeleton))
    assert len(body) == cap
    reply = await post(server, body, signed(body), split=100_000, gap_s=0.01)
    assert reply.status == 200, reply
    assert await end_offsets(settings_, ingest_topic(settings_)) == 1


async def test_compressed_bodies_are_refused_without_decompressing(
    server: WorkerHttpServer, settings_: Settings
) -> None:
    plain = stripe_event("evt_gzip_marker")
    bomb = gzip.compress(b"{" + b" " * (64 * MiB) + b"}")  # 64 MiB of JSON whitespace
    cases = [
        ("gzip", gzip.compress(plain), 415),  # Stripe never compresses: 415, signed or not
        ("deflate", zlib.compress(plain), 415),
        ("gzip", bomb, 415),
        ("gzip", b"not gzip at all marker", 415),
        ("deflate", b"\x78\x9c broken marker", 415),
        ("br", plain, 415),
        ("identity", plain, 200),
    ]
    for encoding, raw, status in cases:
        headers = {**sign_stripe(raw, STRIPE_SECRET), "Content-Encoding": encoding}
        reply = await post(server, raw, headers)
        assert reply.status == status, (encoding, reply)
        assert b"marker" not in reply.body
    assert await end_offsets(settings_, ingest_topic(settings_)) == 1


async def test_a_connector_declaring_gzip_gets_it_decoded_after_verification(
    settings_: Settings,
) -> None:
    import dataclasses

    from streams.ingest import build_routes

    routes = {
        name: dataclasses.replace(route, content_encodings=frozenset({"gzip"}))
        for name, route in build_routes(settings_, ["stripe"]).items()
    }
    async with running_server(settings_, routes) as server:
        plain = stripe_event("evt_gzipped")
        raw = gzip.compress(plain)
        # signed over the bytes on the wire, as a compressing provider signs them
        headers = {**sign_stripe(raw, STRIPE_SECRET), "Content-Encoding": "gzip"}
        assert (await post(server, raw, headers)).status == 200
        broken = b"\x1f\x8b\x08\x00 definitely broken"
        headers = {**sign_stripe(broken, STRIPE_SECRET), "Content-Encoding": "gzip"}
        assert (await post(server, broken, headers)).status == 400
        bomb = gzip.compress(b"{" + b" " * (64 * MiB) + b"}")
        headers = {**sign_stripe(bomb, STRIPE_SECRET), "Content-Encoding": "gzip"}
        assert (await post(server, bomb, headers)).status == 413
        unsigned = gzip.compress(stripe_event("evt_forged"))
        headers = {**sign_stripe(b"other", STRIPE_SECRET), "Content-Encoding": "gzip"}
        assert (await post(server, unsigned, headers)).status == 401
    (record,) = await read_topic(settings_, ingest_topic(settings_))
    assert Event.from_json(record.value).data == orjson.loads(plain)


@pytest.mark.parametrize("depth", [256, 600, 1000])
async def test_signed_json_too_deep_to_encode_is_400_not_503(
    server: WorkerHttpServer, settings_: Settings, depth: int
) -> None:
    nested = b"[" * depth + b"]" * depth
    body = (
        b'{"id": "evt_deep_'
        + uuid.uuid4().hex[:6].encode()
        + b'", "type": "x.y", "created": 1, "data": {"object": {"id": "o", "n": '
        + nested
        + b"}}}"
    )
    orjson.loads(body)  # valid JSON the provider could send
    reply = await post(server, body, signed(body))
    assert reply.status == 400, reply
    assert await end_offsets(settings_, ingest_topic(settings_)) == 0
