"""Fuzzing the running ingest server with hypothesis-generated requests
over raw sockets, against the real broker.

Methods, paths, headers (duplicated, huge, security headers with junk),
content encodings, framings (Content-Length right, short, long or absent;
chunked), bodies of every size (some validly signed), split into several
writes, some slower than the server's timeouts. For every request:

- no 5xx (Kafka is up, so not even a 503);
- nothing produced to an ingest topic unless the answer is 200;
- nothing of the request (a per-example marker in the path, a header and
  the body) appears in the response;
- no traceback and no ERROR in the logs.

Deterministic (``derandomize``) and bounded (``max_examples``): a fixed
sequence of requests every run, in well under a minute.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.testing.signing import sign_github, sign_stripe
from streams import kafka
from streams.kafka.topics import TopicNames, partitions_of
from streams.settings import Settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.ingest_support import (
    GITHUB_SECRET,
    STRIPE_SECRET,
    ingest_settings,
    running_server,
)
from tests.rawhttp import chunked

pytestmark = pytest.mark.integration

T = TypeVar("T")
MiB = 1024 * 1024
SLOW_S = 0.4  # a write gap longer than the fuzzed server's timeouts


class ServerThread:
    """An ingest server on its own event loop thread (hypothesis drives
    examples synchronously)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: WorkerHttpServer | None = None
        self._stop: asyncio.Event | None = None
        self._done: Any = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def start(self) -> int:
        self.thread.start()
        started = threading.Event()

        async def serve() -> None:
            names = TopicNames.from_settings(self.settings)
            async with (
                running_server(self.settings) as server,
                kafka.connect(self.settings, kafka.consumer(self.settings)) as consumer,
            ):
                self._consumer = consumer
                self._partitions = [
                    TopicPartition(names.ingest(c), p)
                    for c in ("stripe", "github")
                    for p in await partitions_of(self.settings, names.ingest(c)) or []
                ]
                self.server = server
                self._stop = asyncio.Event()
                started.set()
                await self._stop.wait()

        self._done = asyncio.run_coroutine_threadsafe(serve(), self.loop)
        assert started.wait(60), "the server did not start"
        assert self.server is not None
        assert self.server.port is not None
        return self.server.port

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            self._done.result(60)
        # aiohttp keeps reading the rest of a refused body (its lingering
        # close, up to 10 s) even after the client left; end those tasks
        self.run(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    def produced(self) -> int:
        """Records on the ingest topics now (one consumer kept open: a new
        one per example would cost more than the example)."""
        assert self._consumer is not None
        return self.run(self._count())

    async def _count(self) -> int:
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._partitions)
        return sum(ends.values())


async def _cancel_the_rest() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


@pytest.fixture
def fuzzed(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, topic_prefix: str
) -> Iterator[tuple[ServerThread, int]]:
    settings_ = ingest_settings(
        monkeypatch,
        kafka_bootstrap,
        topic_prefix,
        header_timeout_s=0.3,
        body_timeout_s=0.3,
        keepalive_timeout_s=0.3,
    )
    rig = ServerThread(settings_)
    port = rig.start()
    try:
        yield rig, port
    finally:
        rig.stop()


@dataclass
class Fuzzed:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    framing: str
    splits: list[int]
    gaps: list[float]
    marker: str

    def wire(self) -> list[bytes]:
        headers = list(self.headers)
        body = [self.body]
        if self.framing == "length":
            headers.append(("Content-Length", str(len(self.body))))
        elif self.framing == "short":
            headers.append(("Content-Length", str(max(0, len(self.body) - 7))))
        elif self.framing == "long":
            headers.append(("Content-Length", str(len(self.body) + 7)))
        elif self.framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            body = chunked(self.body, max(1, len(self.body) // 3 or 1))
        lines = [f"{self.method} {self.path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + b"".join(body)
        cuts = sorted({min(len(raw), s) for s in self.splits})
        return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True) if b > a]


METHODS = st.sampled_from(
    ["POST"] * 12 + ["GET", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "BREW", "post", "P\x00ST"]
)
FRAMINGS = st.sampled_from(["length"] * 8 + ["short", "long", "chunked", "chunked", "none"])
GAPS = st.sampled_from([0.0] * 10 + [0.001, 0.02, SLOW_S])
HEADER_NAMES = [
    "Content-Type",
    "Content-Encoding",
    "Transfer-Encoding",
    "Content-Length",
    "Stripe-Signature",
    "X-Hub-Signature-256",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "Connection",
    "Expect",
    "Authorization",
    "X-Forwarded-For",
]
HEADER_VALUES = st.one_of(
    st.sampled_from(
        ["gzip", "deflate", "br", "identity", "chunked", "gzip, chunked", "close", "100-continue"]
    ),
    st.sampled_from(["t=1,v1=00", "sha256=00", "issues", "ping", "-1", "99999999999", ""]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    st.sampled_from([10, 1000, 8100, 8200, 40_000]).map(lambda n: "h" * n),  # aiohttp: 8190
)
SIZES = st.sampled_from([0, 1, 2, 100, 4096, 65_536, 300_000, MiB, MiB + 1, 3 * MiB])


@st.composite
def requests(draw: st.DrawFn) -> Fuzzed:
    marker = "MK" + draw(st.text(alphabet="0123456789abcdef", min_size=10, max_size=10))
    method = draw(METHODS)
    path = draw(
        st.sampled_from(
            [
                "/webhooks/stripe",
                "/webhooks/github",
                "/webhooks/nope",
                "/webhooks/",
                "/healthz",
                "/metrics",
                "/",
                "*",
                "/webhooks/stripe/../github",
                "/%2e%2e/webhooks/stripe",
            ]
        )
    )
    path += draw(st.sampled_from(["", f"?m={marker}", f"#{marker}"]))
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=3))
    headers.append(("X-Marker", marker))
    size = draw(SIZES)
    kind = draw(st.sampled_from(["signed_stripe"] * 3 + ["signed_github"] * 2 + ["json", "bytes"]))
    event = {"id": f"evt_{marker}", "type": "charge.succeeded", "created": 1, "data": {}}
    if kind == "bytes":
        body = (marker.encode() + draw(st.binary(max_size=64))) * (size // 80 + 1)
    else:
        event["data"] = {"object": {"id": "ch_1", "note": marker + "x" * size}}
        body = orjson.dumps(event)
    if kind == "signed_stripe":
        headers += sign_stripe(body, STRIPE_SECRET).items()
    elif kind == "signed_github":
        headers += sign_github(body, GITHUB_SECRET).items()
        headers += [("X-GitHub-Event", "issues"), ("X-GitHub-Delivery", marker)]
    headers = draw(st.permutations(headers))
    framing = draw(FRAMINGS)
    splits = draw(st.lists(st.integers(0, len(body) + 2000), max_size=3))
    gaps = draw(st.lists(GAPS, min_size=3, max_size=3))
    return Fuzzed(method, path, headers, body, framing, splits, gaps, marker)


def send(port: int, request: Fuzzed) -> tuple[int | None, bytes]:
    """(status or None if the server closed without answering, response bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            for i, part in enumerate(request.wire()):
                if i:
                    time.sleep(request.gaps[(i - 1) % len(request.gaps)])  # allowed: stimulus
                sock.sendall(part)
            if request.framing == "none":
                sock.shutdown(socket.SHUT_WR)  # the body ends where the connection does
        except OSError:  # the server answered early and closed; read what it said
            pass
        return _read(sock, head_only=request.method == "HEAD")


def _read(sock: socket.socket, *, head_only: bool) -> tuple[int | None, bytes]:
    data = b""
    try:
        while True:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return None, data
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status == 100:  # Expect: 100-continue, the real answer follows
                data = rest
                continue
            length = 0 if head_only else _content_length(head)
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return status, head + b"\r\n\r\n" + rest
    except (ConnectionResetError, TimeoutError):
        return None, data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def test_fuzzed_requests(
    fuzzed: tuple[ServerThread, int], caplog: pytest.LogCaptureFixture
) -> None:
    rig, port = fuzzed
    seen: dict[int | None, int] = {}

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests())
    def check(request: Fuzzed) -> None:
        before = rig.produced()
        status, response = send(port, request)
        seen[status] = seen.get(status, 0) + 1
        assert status is None or status < 500, (status, response[:300], request.path)
        assert request.marker.encode() not in response
        if status != 200:
            assert rig.produced() == before, (status, request.path, request.framing)

    with caplog.at_level(logging.INFO):
        check()
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.exc_info is not None or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
    ]
    assert problems == []
    assert seen.get(200, 0) > 0, seen  # the fuzzing reached the accepting path
    assert sum(v for k, v in seen.items() if k and k >= 400) > 0, seen
