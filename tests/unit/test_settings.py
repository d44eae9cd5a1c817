from __future__ import annotations

import ssl
from pathlib import Path

import pytest

import connectors
from streams import app as faust_app
from streams import kafka
from streams.settings import Settings, SettingsError, env_name, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)


def load(**kwargs: object) -> Settings:
    return load_settings(sections=connectors.settings_sections(), **kwargs)  # type: ignore[arg-type]


def test_defaults_point_at_the_local_broker() -> None:
    settings = load()
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.worker.port == 8080
    assert settings.local_kafka.version.startswith("3.9.")


def test_env_nesting_and_connector_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SWITCHBOARD_LOCAL_KAFKA__PORT", "19092")
    monkeypatch.setenv("SWITCHBOARD_STRIPE__API_KEY", "sk_test_123")
    monkeypatch.setenv("SWITCHBOARD_STRIPE__BASE_URL", "http://127.0.0.1:12111")
    settings = load()
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.local_kafka.port == 19092
    stripe = settings.section("stripe")
    assert stripe.api_key.get_secret_value() == "sk_test_123"
    assert "sk_test_123" not in repr(settings)
    assert str(stripe.base_url) == "http://127.0.0.1:12111/"


def test_yaml_file_with_env_taking_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: yaml-host:9092\n  topic_prefix: prod.\n"
        "worker:\n  port: 9000\n"
    )
    settings = load(config_file=config)
    assert settings.bootstrap_servers == "yaml-host:9092"
    assert settings.kafka.topic_prefix == "prod."
    monkeypatch.setenv("SWITCHBOARD_WORKER__PORT", "9100")
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    settings = load()
    assert settings.worker.port == 9100
    assert settings.kafka.topic_prefix == "prod."


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("SWITCHBOARD_KAFKA__SECURITY_PROTOCOL", "TLS", "kafka.security_protocol"),
        ("SWITCHBOARD_WORKER__PORT", "-1", "worker.port"),
        ("SWITCHBOARD_LOCAL_KAFKA__VERSION", "latest", "local_kafka.version"),
        ("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "no-port", "kafka.bootstrap_servers"),
        ("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVER", "typo:9092", "kafka.bootstrap_server"),
        ("SWITCHBOARD_STRIPE__BASE_URL", "not a url", "stripe.base_url"),
        # connector names are checked against the installed connectors
        ("SWITCHBOARD_SINK__CONNECTORS", "strip", "sink.connectors"),
        ("SWITCHBOARD_POLL__CONNECTORS", '["gihub"]', "poll.connectors"),
        ("SWITCHBOARD_POLL__STREAMS", "strpe.events", "poll.streams"),
    ],
)
def test_a_wrong_setting_names_itself(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    message = error_for(monkeypatch, env, value)
    assert expected in message
    assert env_name(expected) in message


def error_for(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> str:
    """The SettingsError message with ``env`` set to ``value``."""
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load()
    return str(info.value)


def test_unknown_section_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFAK__BOOTSTRAP_SERVERS", "x:1")
    with pytest.raises(SettingsError, match="SWITCHBOARD_KAFAK__BOOTSTRAP_SERVERS"):
        load()


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_CONFIG", "/nonexistent/switchboard.yaml")
    with pytest.raises(SettingsError, match="SWITCHBOARD_CONFIG"):
        load()


def test_sasl_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(SettingsError, match="sasl_mechanism, sasl_username, sasl_password"):
        load()


async def test_sasl_ssl_options_reach_aiokafka_and_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SSL_CHECK_HOSTNAME", "false")
    settings = load()
    options = kafka.client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "svc"
    assert options["sasl_plain_password"] == "hunter2"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname is False
    producer = kafka.producer(settings)
    assert producer.client._security_protocol == "SASL_SSL"
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"
    credentials = faust_app.broker_credentials(settings)
    assert credentials.username == "svc"
    assert credentials.password == "hunter2"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.ssl_context is not None
    assert "hunter2" not in repr(credentials)
    assert faust_app.broker_url(settings) == "switchboard://broker:9093"


def test_ssl_files_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__SSL_CAFILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="ssl_cafile: no such file"):
        load()


def test_a_misspelt_name_suggests_the_closest(monkeypatch: pytest.MonkeyPatch) -> None:
    message = error_for(monkeypatch, "SWITCHBOARD_STRIPE__WEBHOOK_SECRET", "whsec_x")
    assert "SWITCHBOARD_STRIPE__WEBHOOK_SECRET " in message
    assert "did you mean SWITCHBOARD_STRIPE__WEBHOOK_SECRETS?" in message
    assert "Extra inputs" not in message


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        (
            "SWITCHBOARD_POLL__INTERVALS",
            "stripe.events=30",
            "SWITCHBOARD_POLL__INTERVALS must be a JSON object, e.g. "
            "SWITCHBOARD_POLL__INTERVALS='{\"stripe.events\": 30}'",
        ),
        (
            "SWITCHBOARD_SINK__CONNECTORS",
            '["stripe"',
            "SWITCHBOARD_SINK__CONNECTORS must be a JSON list or plain values, e.g. "
            "SWITCHBOARD_SINK__CONNECTORS=a,b",
        ),
        (
            "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS",
            '["whsec_a",',
            "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS",
        ),
    ],
)
def test_a_value_of_the_wrong_shape_names_the_variable_and_an_example(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    message = error_for(monkeypatch, env, value)
    assert needle in message
    assert value not in message  # it may be a secret
    assert "EnvSettingsSource" not in message


def test_list_settings_take_plain_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_STRIPE__WEBHOOK_SECRETS", "whsec_one,with,commas")
    monkeypatch.setenv("SWITCHBOARD_GITHUB__WEBHOOK_SECRETS", '["new", "old"]')
    monkeypatch.setenv("SWITCHBOARD_SINK__CONNECTORS", "stripe, github")
    monkeypatch.setenv("SWITCHBOARD_WORKER__ROLES", "ingest,sink")
    config = tmp_path / "switchboard.yaml"
    config.write_text("slack:\n  signing_secrets: one-secret\npoll:\n  connectors: stripe\n")
    settings = load(config_file=config)
    secrets = settings.section("stripe").webhook_secrets
    assert [s.get_secret_value() for s in secrets] == ["whsec_one,with,commas"]
    assert [s.get_secret_value() for s in settings.section("github").webhook_secrets] == [
        "new",
        "old",
    ]
    assert settings.sink.connectors == ["stripe", "github"]
    assert settings.worker.roles == ["ingest", "sink"]
    slack = settings.section("slack").signing_secrets
    assert [s.get_secret_value() for s in slack] == ["one-secret"]
    assert settings.poll.connectors == ["stripe"]


def test_yaml_problems_are_reported_as_file_line_key(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.yaml"
    config.write_text("kafka:\n  client_id: a\n  bootstrap_server: x:1\n")
    with pytest.raises(SettingsError) as info:
        load(config_file=config)
    message = str(info.value)
    assert f"{config}:3 kafka.bootstrap_server: did you mean kafka.bootstrap_servers?" in message
    assert "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVER" not in message
    config.write_text("kafka:\n  client_id: a\nworker:\n  port: eighty\n")
    with pytest.raises(SettingsError, match=f"{config}:4 worker.port: Input should be"):
        load(config_file=config)
    config.write_text("kafka:\n  topic_prefix: [x\nworker:\n  port: 1\n")
    with pytest.raises(SettingsError) as info:
        load(config_file=config)
    assert str(info.value).startswith(f"{config}:2 (key kafka.topic_prefix): not valid YAML")
