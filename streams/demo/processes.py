"""The processes the demo runs: a real worker (``switchboard worker``) with
demo secrets, and ``switchboard`` commands, both against the demo's broker
and topic prefix; and the worker's metrics read over HTTP.

The Stripe API key is the sandbox's own test key and the base URL points at
the sandbox, so no command can reach the real Stripe."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from ..settings import Settings
from .deliveries import GITHUB_SECRET, SLACK_SECRET, STRIPE_SECRET

__all__ = [
    "POLL_INTERVAL_S",
    "SANDBOX_API_KEY",
    "STRIPE_EVENTS",
    "dedup_count",
    "run_cli",
    "running_worker",
    "stripe_env",
]


SANDBOX_API_KEY = "sk_test_sandbox"  # the Stripe sandbox's own test key (demo only)
STRIPE_EVENTS = "stripe.events"  # the poll stream id (``<connector>.<stream>``)
POLL_INTERVAL_S = 2.0  # the demo's poll interval (the stream's own is 60 s)


def namespace_env(settings: Settings) -> dict[str, str]:
    """The broker and the topic prefix of ``settings``, for a subprocess."""
    return {
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stripe_env(stripe_url: str) -> dict[str, str]:
    """Settings (environment) for Stripe against the sandbox at ``stripe_url``:
    its key and base URL, the Stripe sink, and the ``stripe.events`` poll
    every ``POLL_INTERVAL_S`` without jitter."""
    return {
        "SWITCHBOARD_STRIPE__API_KEY": SANDBOX_API_KEY,
        "SWITCHBOARD_STRIPE__BASE_URL": stripe_url,
        "SWITCHBOARD_SINK__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_POLL__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_POLL__INTERVAL_S": f"{POLL_INTERVAL_S:g}",
        "SWITCHBOARD_POLL__JITTER": "0",
    }


@contextlib.contextmanager
def running_worker(settings: Settings, *, stripe_url: str | None = None) -> Iterator[str]:
    """Run ``switchboard worker --roles ingest,dedup`` with demo secrets; yields its URL.

    With ``stripe_url`` (a Stripe sandbox) the worker also has the ``sink``
    and ``poll`` roles, for Stripe only (:func:`stripe_env`).
    """
    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="switchboard-demo-")
    roles = "ingest,dedup"
    env = {
        **os.environ,
        **namespace_env(settings),
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": orjson.dumps([STRIPE_SECRET]).decode(),
        "SWITCHBOARD_GITHUB__WEBHOOK_SECRETS": orjson.dumps([GITHUB_SECRET]).decode(),
        "SWITCHBOARD_SLACK__SIGNING_SECRETS": orjson.dumps([SLACK_SECRET]).decode(),
        "SWITCHBOARD_WORKER__DATA_DIR": data_dir,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    if stripe_url is not None:
        roles += ",sink,poll"
        env.update(stripe_env(stripe_url))
    log = Path(data_dir) / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "worker",
                "--roles",
                roles,
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    ok = False
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start within 90 s; see {log}")
            time.sleep(0.2)
        try:
            yield url
        except TimeoutError as exc:  # e.g. no Result: the worker's log may say why
            raise TimeoutError(f"{exc}; the worker's log: {log}") from exc
        ok = True
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if ok:  # keep the log of a failed run
            shutil.rmtree(data_dir, ignore_errors=True)


def run_cli(
    settings: Settings, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``switchboard ARGS`` against the same broker and topic prefix
    (``env`` added to this process's environment); output captured."""
    env = {**os.environ, **namespace_env(settings), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


_METRIC = re.compile(r'^switchboard_dedup_total\{connector="(\w+)",outcome="(\w+)"\} (\S+)$', re.M)


async def dedup_count(http: httpx.AsyncClient, connector: str, outcome: str) -> int:
    """The worker's ``switchboard_dedup_total`` for ``connector`` and ``outcome``
    (``duplicate``: ingest records dropped as already seen), from ``GET /metrics``."""
    text = (await http.get("/metrics")).text
    for name, kind, value in _METRIC.findall(text):
        if (name, kind) == (connector, outcome):
            return int(float(value))
    return 0
