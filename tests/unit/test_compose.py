"""docker-compose.yml cannot run here (no Docker engine), so check it against
the code: image version, KRaft settings, ports, health checks, and that the
worker's command and environment are accepted by the real CLI and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

import connectors
from streams.cli import cli
from streams.settings import DEFAULT_KAFKA_VERSION, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {"kafka", "worker"}
    for name, service in compose["services"].items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_kafka_is_the_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tag == DEFAULT_KAFKA_VERSION  # the same Kafka as `switchboard kafka start`
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert "127.0.0.1:9092:9092" in kafka["ports"]


def test_worker_bootstrap_matches_an_advertised_listener(compose: dict[str, Any]) -> None:
    kafka_env = compose["services"]["kafka"]["environment"]
    advertised = [
        listener.split("://", 1)[1]
        for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    ]
    bootstrap = compose["services"]["worker"]["environment"]["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"]
    assert bootstrap in advertised
    healthcheck = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    assert bootstrap in healthcheck


def test_worker_command_is_a_valid_cli_invocation(compose: dict[str, Any]) -> None:
    command = compose["services"]["worker"]["command"]
    assert command[0] == "switchboard"
    sub_command = cli.get_command(click.Context(cli), command[1])
    assert isinstance(sub_command, click.Command)
    assert sub_command.name == "worker"
    sub_ctx = sub_command.make_context("worker", list(command[2:]))
    roles = sub_ctx.params["roles"].split(",")
    assert set(roles) <= {"ingest", "dedup", "sink", "poll"}


def test_worker_environment_is_valid_settings_and_port_is_published(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = compose["services"]["worker"]
    for key, value in worker["environment"].items():
        monkeypatch.setenv(key, value)
    settings = load_settings(sections=connectors.settings_sections())
    published = {int(p.split(":")[-1]) for p in worker["ports"]}
    assert settings.worker.port in published
    probe = " ".join(worker["healthcheck"]["test"])
    assert f":{settings.worker.port}/healthz" in probe


def test_published_ports_listen_on_loopback_only(compose: dict[str, Any]) -> None:
    # Kafka's EXTERNAL listener is PLAINTEXT without authentication, and the
    # worker serves /healthz and /metrics without a token: published on every
    # interface, anyone on the network could read and write every topic.
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: write ports as strings, not {port!r}"
            host, _, rest = port.partition(":")
            wide = f"{name} publishes {port!r} on every interface; bind it to 127.0.0.1"
            assert host == "127.0.0.1", wide
            assert ":" in rest, wide  # "127.0.0.1:9092" alone would be the container port


def test_dockerfile_installs_the_project_and_runs_the_worker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("core", "connectors", "streams"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert 'CMD ["switchboard", "worker"]' in dockerfile
