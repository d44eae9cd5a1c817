"""The CLI's surface and its handling of bad input (no broker needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner

from streams.cli import cli
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_the_designed_surface_exists() -> None:
    commands = set(all_commands(cli))
    for path in [
        ("kafka", "start"),
        ("kafka", "stop"),
        ("kafka", "status"),
        ("send",),
        ("tail",),
        ("worker",),
        ("demo",),
        ("schema", "export"),
    ]:
        assert path in commands


@pytest.mark.parametrize("path", sorted(all_commands(cli)), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 3


def unreachable_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"  # nothing listens
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, *args],
        env=env or unreachable_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["send", "stripe.customers.create", "--json", "{nope"], "--json is not valid JSON"),
        (
            ["send", "stripe.refunds.explode", "--json", "{}"],
            "unknown command type 'stripe.refunds.explode'",
        ),
        (["send", "stripe.customers.update", "--json", "{}"], "params.customer: Field required"),
        (["send", "stripe.customers.create", "--json", "[1, 2]"], "must be a JSON object"),
        (["send", "stripe.customers.create", "--json", '{"email": "nope"}'], "params.email"),
        (["send", "stripe.customers.create", "--json", '{"colour": "red"}'], "params.colour"),
        (["send", "stripe.customers.create", "--json", "{}", "--meta", "x"], "NAME=VALUE"),
        (
            ["send", "generic.request", "--json", '{"template": "nope"}'],
            "generic.request: unknown request template 'nope'; known: none",
        ),
        (
            ["send", "stripe.customers.create", "--json", "{}", "--reply-to", "bad topic!"],
            "reply_to 'bad topic!' is not a valid Kafka topic name",
        ),
    ],
)
def test_send_rejects_bad_input_with_one_line_and_exit_2(args: list[str], needle: str) -> None:
    # Kafka is unreachable on purpose: validation happens before any connection.
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["send", "stripe.customers.create", "--json", "{}", "--timeout", "5"], "with --wait"),
        (["send", "stripe.customers.create", "--json", "{nope", "--wait"], "not valid JSON"),
        (["send", "stripe.customers.update", "--json", "{}", "--wait"], "params.customer"),
        (["send", "stripe.customers.create", "--json", "{}", "--wait", "--timeout", "0"], "x>0"),
    ],
)
def test_send_wait_rejects_bad_input_before_connecting(args: list[str], needle: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_send_help_shows_wait_and_its_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["send", "--help"])
    assert result.exit_code == 0, result.output
    assert "--key cus_ada --wait" in result.output
    assert "--wait --timeout 60" in result.output
    assert "124" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["send", "stripe.customers.create", "--json", "{}"],
        ["send", "stripe.customers.create", "--json", "{}", "--wait"],
        ["tail", "stripe.commands", "--limit", "1"],
        ["topics", "list"],
        ["topics", "create", "stripe"],
    ],
    ids=lambda a: " ".join(a[:2] + a[4:]),
)
def test_unreachable_kafka_is_one_clear_line_within_seconds(args: list[str]) -> None:
    began = time.monotonic()
    result = run_cli(*args)
    elapsed = time.monotonic() - began
    assert result.returncode == 1
    assert "cannot reach Kafka" in result.stderr
    assert "switchboard kafka start" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert elapsed < 20  # a hang would hit the 60 s subprocess timeout


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a broker that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hanging_broker_gives_up_at_the_connect_timeout(silent_server: int) -> None:
    env = unreachable_env()
    env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"] = f"127.0.0.1:{silent_server}"
    env["SWITCHBOARD_KAFKA__CONNECT_TIMEOUT_S"] = "2"
    result = run_cli("topics", "list", env=env)
    assert result.returncode == 1
    assert "no answer within 2 s" in result.stderr


def test_a_wrong_setting_is_a_usage_error_naming_it() -> None:
    env = unreachable_env()
    env["SWITCHBOARD_WORKER__PORT"] = "eighty"
    result = run_cli("tail", "x", env=env)
    assert result.returncode == 2
    assert "worker.port (SWITCHBOARD_WORKER__PORT)" in result.stderr


def test_worker_rejects_unknown_roles() -> None:
    result = run_cli("worker", "--roles", "ingest,juggle")
    assert result.returncode == 2
    assert "unknown role juggle" in result.stderr


def test_schema_export_writes_valid_json_schemas(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "export", str(tmp_path / "schemas")])
    assert result.exit_code == 0, result.output
    files = {
        p.relative_to(tmp_path / "schemas").as_posix()
        for p in (tmp_path / "schemas").rglob("*.json")
    }
    assert {
        "event.schema.json",
        "command.schema.json",
        "result.schema.json",
        "dlq-headers.schema.json",
    } <= files
    assert "commands/stripe.customers.create.schema.json" in files
    event = orjson.loads((tmp_path / "schemas" / "event.schema.json").read_bytes())
    assert set(event["required"]) >= {"id", "source", "type", "provider", "delivery"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something already listens on (all interfaces, as the worker binds)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _one_line_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize(
    ("variables", "roles", "needles"),
    [
        (
            {"SINK__CONNECTORS": '["strip"]'},
            "sink",
            ["SWITCHBOARD_SINK__CONNECTORS", "unknown connector 'strip'", "did you mean stripe?"],
        ),
        (
            {"POLL__CONNECTORS": "strip"},
            "poll",
            ["SWITCHBOARD_POLL__CONNECTORS", "unknown connector 'strip'"],
        ),
        (
            {"POLL__STREAMS": '["stripe.event"]'},
            "poll",
            ["unknown stream id(s) stripe.event", "SWITCHBOARD_POLL__STREAMS"],
        ),
        (
            {"SINK__CONNECTORS": "stripe"},
            "sink",
            ["stripe.api_key is not set", "SWITCHBOARD_STRIPE__API_KEY"],
        ),
        (
            {"SINK__CONNECTORS": "stripe"},
            "ingest,dedup,sink,poll",
            ["stripe.api_key is not set", "SWITCHBOARD_STRIPE__API_KEY"],
        ),
    ],
)
def test_worker_settings_the_connectors_refuse_are_one_line_and_exit_2(
    variables: dict[str, str], roles: str, needles: list[str]
) -> None:
    env = unreachable_env()  # refused before Kafka is needed
    env |= {f"SWITCHBOARD_{name}": value for name, value in variables.items()}
    result = run_cli("worker", "--roles", roles, "--port", str(free_port()), env=env)
    _one_line_usage_error(result, *needles)


def test_worker_on_a_port_in_use_is_one_line_and_exit_2(taken_port: int) -> None:
    result = run_cli("worker", "--roles", "ingest", "--port", str(taken_port))
    _one_line_usage_error(result, f"port {taken_port} on 0.0.0.0 is already in use", "--port")
    env = unreachable_env() | {"SWITCHBOARD_WORKER__PORT": str(taken_port)}
    result = run_cli("worker", env=env)
    _one_line_usage_error(result, "already in use", "SWITCHBOARD_WORKER__PORT")


def test_sandbox_on_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("sandbox", "stripe", "--port", str(port))
    _one_line_usage_error(result, f"port {port} on 127.0.0.1 is already in use")


def test_dlq_refuses_an_unknown_connector_before_connecting() -> None:
    result = run_cli("dlq", "list", "--connector", "strip")
    _one_line_usage_error(result, "--connector 'strip' matches nothing: did you mean stripe?")


def test_broken_yaml_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text("kafka:\n  topic_prefix: [x\nworker:\n  port: 8080\n")
    for args in (["--config", str(config), "worker"], ["worker", "--config", str(config)]):
        result = run_cli(*args)
        _one_line_usage_error(result, f"{config}:2 (key kafka.topic_prefix): not valid YAML")


def test_config_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text("worker:\n  port: eighty\n")
    for args in (
        ["--config", str(config), "dlq", "list"],
        ["dlq", "list", "--config", str(config)],
    ):
        result = run_cli(*args)
        _one_line_usage_error(result, f"{config}:2 worker.port: Input should be a valid integer")
    missing = tmp_path / "missing.yaml"
    result = run_cli("worker", "--config", str(missing))
    _one_line_usage_error(result, f"config file {missing}", "does not exist")
