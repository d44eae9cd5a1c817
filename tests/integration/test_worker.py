"""`switchboard worker` as a real process: health endpoints, topics, clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_worker_serves_health_and_creates_topics(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **cli_env,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
        "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [SWITCHBOARD, "worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually_sync(
            lambda: get(f"http://127.0.0.1:{port}/healthz") == 200 or proc.poll() is not None, 90
        )
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        # ready once faust restored the dedup tables (after /healthz answers)
        eventually_sync(lambda: get(f"http://127.0.0.1:{port}/readyz") == 200, 90)
        listed = subprocess.run(
            [SWITCHBOARD, "topics", "list"], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        assert f"{topic_prefix}stripe.commands" in listed
        assert f"{topic_prefix}github.ingest.dlq" in listed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode is not None


def test_worker_without_kafka_fails_fast(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    result = subprocess.run(
        [SWITCHBOARD, "worker", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach Kafka" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_only_worker_accepts_signed_webhooks_without_faust(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    import asyncio

    import orjson

    import connectors
    from core.testing.signing import sign_stripe
    from streams.settings import load_settings
    from tests.kafkatools import read_topic

    secret = "whsec_worker_test_0123456789"
    port = free_port()
    env = {
        **cli_env,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
        "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": orjson.dumps([secret]).decode(),
    }
    proc = subprocess.Popen(
        [SWITCHBOARD, "worker", "--roles", "ingest", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually_sync(
            lambda: get(f"http://127.0.0.1:{port}/healthz") == 200 or proc.poll() is not None, 90
        )
        assert proc.poll() is None
        body = orjson.dumps({"id": "evt_worker_1", "type": "charge.succeeded", "created": 1})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/stripe",
            data=body,
            headers=sign_stripe(body, secret),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    settings = load_settings(
        sections=connectors.settings_sections(),
        kafka={
            "bootstrap_servers": cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
            "topic_prefix": topic_prefix,
        },
    )
    (record,) = asyncio.run(read_topic(settings, f"{topic_prefix}stripe.ingest"))
    assert record.key == b"evt_worker_1"


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("SWITCHBOARD_STRIPE__WEBHOOK_SECRETS", '[""]', "stripe"),
        ("SWITCHBOARD_GITHUB__WEBHOOK_SECRETS", '["", "s3cret-value"]', "github"),
    ],
)
def test_a_webhook_secret_that_cannot_verify_is_one_line_naming_the_setting(
    cli_env: dict[str, str], variable: str, value: str, setting: str
) -> None:
    """An empty webhook secret stops the worker at start with one line that
    names the connector's webhook setting and the fix, never a traceback."""
    result = subprocess.run(
        [SWITCHBOARD, "worker", "--roles", "ingest", "--port", str(free_port())],
        env={**cli_env, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"{setting} webhooks" in errors[0]
    assert variable.split("__")[0] in errors[0]  # names where to fix it
    assert "s3cret-value" not in result.stderr
