"""The sandbox base (core.testing) over real sockets."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

import core.testing
from core.testing import DemoSandbox, Fault, run_sandbox, spawn_sandbox
from tests.fakeclock import FakeClock
from tests.waiting import eventually


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox() as sb:
        yield sb


@pytest.fixture
async def client(sandbox: DemoSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=5) as c:
        yield c


def test_public_surface() -> None:
    assert set(core.testing.__all__) == {
        "CONTROL_PREFIX",
        "Datasets",
        "DemoSandbox",
        "Fault",
        "FaultKind",
        "OAuthServer",
        "RecordedRequest",
        "Sandbox",
        "SandboxProcess",
        "ServerTokenBucket",
        "decode_cursor",
        "encode_cursor",
        "pkce_s256",
        "run_sandbox",
        "spawn_sandbox",
    }


async def test_binds_ephemeral_port_on_loopback(sandbox: DemoSandbox) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert not sandbox.url.endswith(":0")


async def test_records_every_request(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    await client.post("/echo?x=1", content=b'{"a":1}', headers={"X-Test": "yes"})
    (seen,) = sandbox.requests_to("/echo", "POST")
    assert seen.query_param("x") == "1"
    assert seen.header("x-test") == "yes"
    assert seen.json() == {"a": 1}
    assert seen.outcome == "handled"


async def test_5xx_burst_then_recovers(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    sandbox.fail_next(2, status=502, retry_after=3)
    statuses = [(await client.get("/echo")).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [r.outcome for r in sandbox.requests] == ["status", "status", "handled"]


async def test_fault_path_filter(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    sandbox.fail_next(1, status=500, path="/v1/")
    assert (await client.get("/echo")).status_code == 200
    assert (await client.get("/v1/things/nope")).status_code == 500


async def test_throttle_next_sends_retry_after(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.throttle_next(retry_after=7)
    response = await client.get("/echo")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


async def test_enforced_rate_is_a_token_bucket_with_headers() -> None:
    clock = FakeClock()
    async with DemoSandbox(clock=clock) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as c:
        sandbox.enforce_rate(2, burst=3)
        statuses = [(await c.get("/echo")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await c.get("/echo")
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Policy"] == '"default";q=3;w=2'
        assert refused.headers["RateLimit"].startswith('"default";r=0;t=')
        clock.now += 0.5  # one token back at 2/s
        ok = await c.get("/echo")
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Remaining"] == "0"
        assert sandbox.rate is not None
        assert sandbox.rate.refused == 2


async def test_hang_makes_the_client_time_out(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.hang_next()
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/echo", timeout=0.2)
    assert (await client.get("/echo")).status_code == 200


async def test_reset_truncate_oversize_non_json(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.reset_next()
    with pytest.raises(httpx.ReadError):
        await client.get("/echo")
    sandbox.truncate_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/echo")
    sandbox.oversize_next(size=3_000_000)
    big = await client.get("/echo")
    assert int(big.headers["Content-Length"]) == 3_000_000 == len(big.content)
    sandbox.oversize_next(size=1_000_000, chunked=True)
    chunked = await client.get("/echo")
    assert "Content-Length" not in chunked.headers
    assert len(chunked.content) == 1_000_000
    sandbox.non_json_next(content_type="application/json")
    lying = await client.get("/echo")
    assert lying.headers["Content-Type"] == "application/json"
    assert lying.text.startswith("<html>")


async def test_idempotency_replays_and_rejects_changed_body(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/v1/things", json={"name": "a"}, headers=headers)
    again = await client.post("/v1/things", json={"name": "a"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = await client.post("/v1/things", json={"name": "b"}, headers=headers)
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "idempotency_error"
    assert sandbox.side_effects("key-1") == 1
    assert len(sandbox.things) == 1


async def test_response_lost_after_side_effect_is_replayed(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.reset_next(after_handler=True, path="/v1/things")
    headers = {"Idempotency-Key": "key-2"}
    with pytest.raises(httpx.ReadError):
        await client.post("/v1/things", json={"n": 1}, headers=headers)
    retry = await client.post("/v1/things", json={"n": 1}, headers=headers)
    assert retry.status_code == 201
    assert sandbox.side_effects("key-2") == 1
    assert [r.outcome for r in sandbox.requests] == ["reset", "replayed"]


async def test_without_key_every_post_is_a_side_effect(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    for _ in range(2):
        await client.post("/v1/things", json={"n": 1})
    assert len(sandbox.things) == 2


async def test_control_endpoint(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sandbox/faults", json={"kind": "status", "count": 1, "status": 500}
    )
    assert created.status_code == 201
    assert (await client.get("/echo")).status_code == 500
    bad = await client.post("/_sandbox/faults", json={"kind": "explode"})
    assert bad.status_code == 400
    assert "kind" in bad.text
    assert (await client.put("/_sandbox/rate", json={"rate": -1})).status_code == 400
    assert (await client.put("/_sandbox/rate", json={"rate": 50})).status_code == 200
    assert "X-RateLimit-Limit" in (await client.get("/echo")).headers
    assert (await client.put("/_sandbox/switches", json={"repeat_cursor": True})).json() == {
        "latency": 0.0,
        "repeat_cursor": True,
    }
    assert (await client.put("/_sandbox/switches", json={"nope": 1})).status_code == 400
    recorded = (await client.get("/_sandbox/requests")).json()
    assert [r["path"] for r in recorded] == ["/echo", "/echo"]  # control calls not recorded
    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert sandbox.requests == []
    assert sandbox.rate is None
    assert not sandbox.repeat_cursor


async def test_latency_switch(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    sandbox.set_latency(0.15)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.get("/echo")
    assert loop.time() - started >= 0.15
    with pytest.raises(ValueError, match="seconds"):
        sandbox.set_latency(-1)


def test_fault_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="count"):
        Fault("status", count=0)
    with pytest.raises(ValueError, match="after_handler"):
        Fault("status", after_handler=True)


def test_in_thread_serves_sync_clients() -> None:
    sandbox = DemoSandbox()
    with sandbox.in_thread() as running:
        running.fail_next(1)
        with httpx.Client(base_url=running.url) as c:
            assert c.get("/echo").status_code == 503
            assert c.get("/echo").status_code == 200
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_separate_process_is_controlled_over_http() -> None:
    with spawn_sandbox("core.testing:DemoSandbox") as proc, httpx.Client(base_url=proc.url) as c:
        c.post("/_sandbox/faults", json={"kind": "status", "status": 504})
        assert c.get("/echo").status_code == 504
        assert c.get("/datasets/items/page?per_page=5").json()["total"] == 95
    assert proc.process.poll() is not None


async def test_same_key_while_in_flight_is_409(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.create_gate.clear()
    headers = {"Idempotency-Key": "key-3"}
    first = asyncio.create_task(client.post("/v1/things", json={"n": 1}, headers=headers))
    await eventually(
        lambda: sandbox.side_effects("key-3"), 5, what="the first request reaching the handler"
    )
    concurrent = await client.post("/v1/things", json={"n": 1}, headers=headers)
    assert concurrent.status_code == 409
    sandbox.create_gate.set()
    assert (await first).status_code == 201
    assert sandbox.side_effects("key-3") == 1


async def test_retry_after_as_http_date(sandbox: DemoSandbox, client: httpx.AsyncClient) -> None:
    sandbox.throttle_next(retry_after=30, http_date=True)
    response = await client.get("/echo")
    assert response.status_code == 429
    assert response.headers["Retry-After"].endswith(" GMT")


async def test_recording_can_be_switched_off(
    sandbox: DemoSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.record = False
    sandbox.fail_next(1)
    assert (await client.get("/echo")).status_code == 503
    assert sandbox.requests == []


async def test_stop_does_not_wait_for_hung_requests() -> None:
    sandbox = DemoSandbox()
    await sandbox.start()
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30) as client:
        sandbox.hang_next()
        hung = asyncio.create_task(client.get("/echo"))
        await eventually(lambda: sandbox.requests, 5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await sandbox.stop()
        assert loop.time() - started < 5
        with pytest.raises(httpx.TransportError):
            await hung


@pytest.mark.parametrize("kind", ["sandbox", "bare-app"])
def test_run_sandbox_serves_until_stopped(kind: str) -> None:
    from aiohttp import web

    def bare_app() -> web.Application:
        app = web.Application()

        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"hello": True})

        app.router.add_get("/echo", hello)
        return app

    ready: queue.Queue[tuple[str, asyncio.AbstractEventLoop]] = queue.Queue()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=run_sandbox,
        args=(DemoSandbox if kind == "sandbox" else bare_app,),
        kwargs={
            "on_ready": lambda url: ready.put((url, asyncio.get_running_loop())),
            "stop": stop,
        },
    )
    thread.start()
    url, loop = ready.get(timeout=10)
    try:
        assert httpx.get(f"{url}/echo").status_code == 200
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
    assert not thread.is_alive()
