"""A real worker process (``switchboard worker --roles ingest``) under a
small open-files limit, held by hundreds of idle and slowloris sockets:
a valid delivery still gets its 200, every held socket is closed by the
server, and nothing is logged about running out of file descriptors."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from core.testing.signing import sign_stripe
from tests.conftest import free_port
from tests.integration.ingest_support import STRIPE_SECRET, stripe_event
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = shutil.which("switchboard") or str(Path(sys.executable).parent / "switchboard")
NOFILE = 256


def _limit_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))


@pytest.fixture
def worker(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        SWITCHBOARD_KAFKA__TOPIC_PREFIX=topic_prefix,
        SWITCHBOARD_STRIPE__WEBHOOK_SECRETS=orjson.dumps([STRIPE_SECRET]).decode(),
        SWITCHBOARD_WORKER__DATA_DIR=str(tmp_path / "data"),
        SWITCHBOARD_WORKER__HEADER_TIMEOUT_S="2",
    )
    port = free_port()
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SWITCHBOARD, "worker", "--roles", "ingest", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_files,
        )
    try:
        eventually_sync(lambda: _healthy(port) or proc.poll() is not None, 90)
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        yield port, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_held_sockets_under_a_small_files_limit_do_not_keep_a_delivery_out(
    worker: tuple[int, Path],
) -> None:
    port, log = worker
    held: list[socket.socket] = []
    try:
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            if i % 3 == 0:  # a third are slowloris clients, the rest send nothing
                sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(sock)
        body = stripe_event("evt_through_the_crowd")
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/stripe",
            content=body,
            headers=sign_stripe(body, STRIPE_SECRET),
            timeout=30,
        )
        assert response.status_code == 200
        for sock in held:
            sock.settimeout(0.05)
        # each held socket is closed by the server: evicted at the cap, or
        # cut off by the 2 s header timeout
        eventually_sync(lambda: all(_closed_by_server(s) for s in held if s.fileno() >= 0), 60)
    finally:
        for sock in held:
            sock.close()
    text = log.read_text(errors="replace")
    assert "Too many open files" not in text
    assert "out of system resource" not in text
    assert "Traceback" not in text
