"""The local cluster's layout and the replication rule, without a broker:
ports, controller ports and directories of each node, the settings' errors,
a loopback bootstrap list read back as a cluster, and min.insync.replicas."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streams import localkafka
from streams.cli import cli
from streams.kafka.topics import replication_config
from streams.settings import LocalKafkaSettings, SettingsError

# the settings tests' own: no SWITCHBOARD_ variable from the shell, every connector section
from tests.unit.test_settings import clean_env, load  # noqa: F401

pytestmark = pytest.mark.usefixtures("clean_env")


def test_a_cluster_listens_on_consecutive_ports_then_its_controllers() -> None:
    cfg = LocalKafkaSettings(port=9092, brokers=3)
    assert cfg.ports == [9092, 9093, 9094]
    assert cfg.controller_ports == [9095, 9096, 9097]
    assert cfg.bootstrap == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    single = LocalKafkaSettings(port=9092)
    assert (single.ports, single.controller_ports) == ([9092], [9093])  # as before clusters


def test_the_cluster_is_what_clients_are_pointed_at(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_LOCAL_KAFKA__BROKERS", "3")
    assert load().bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_each_node_has_a_directory_of_its_own(tmp_path: Path) -> None:
    cfg = LocalKafkaSettings(port=9092, brokers=3, run_root=tmp_path)
    assert localkafka.run_dir(cfg) == tmp_path / "cluster-9092"
    nodes = localkafka.nodes(cfg)
    assert [n.node_id for n in nodes] == [1, 2, 3]
    assert [n.directory for n in nodes] == [
        tmp_path / "cluster-9092" / f"node-{i}" for i in (1, 2, 3)
    ]
    assert [n.controller_port for n in nodes] == [9095, 9096, 9097]
    single = LocalKafkaSettings(port=9092, run_root=tmp_path)
    assert [n.directory for n in localkafka.nodes(single)] == [tmp_path / "9092"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SWITCHBOARD_LOCAL_KAFKA__BROKERS": "0"}, "local_kafka.brokers"),
        ({"SWITCHBOARD_LOCAL_KAFKA__BROKERS": "6"}, "local_kafka.brokers"),
        (
            {"SWITCHBOARD_LOCAL_KAFKA__PORT": "65533", "SWITCHBOARD_LOCAL_KAFKA__BROKERS": "3"},
            "pick a lower port",
        ),
        (
            {
                "SWITCHBOARD_LOCAL_KAFKA__BROKERS": "3",
                "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT": "9093",
            },
            "overlaps the brokers' ports 9092-9094",
        ),
        (
            {
                "SWITCHBOARD_KAFKA__REPLICATION_FACTOR": "2",
                "SWITCHBOARD_KAFKA__MIN_INSYNC_REPLICAS": "3",
            },
            "no write could ever be acknowledged",
        ),
    ],
)
def test_a_bad_cluster_setting_says_what_to_change(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load()
    assert expected in str(info.value)


def test_a_loopback_bootstrap_list_is_the_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19093,127.0.0.1:19092,localhost:19094"
    )
    local = localkafka.local_broker(load())
    assert (local.port, local.brokers) == (19092, 3)


def test_a_gap_in_a_loopback_bootstrap_list_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092,127.0.0.1:9095")
    with pytest.raises(localkafka.LocalKafkaError, match="consecutive ports"):
        localkafka.local_broker(load())


def test_three_replicas_mean_two_in_sync() -> None:
    assert load().kafka.replication_factor is None  # decided by the cluster at creation
    assert replication_config(load(), 3) == {"min.insync.replicas": "2"}
    assert replication_config(load(), 5) == {"min.insync.replicas": "2"}
    assert replication_config(load(), 2) == {}
    assert replication_config(load(), 1) == {}
    chosen = load(kafka={"replication_factor": 3, "min_insync_replicas": 3})
    assert replication_config(chosen) == {"min.insync.replicas": "3"}


def test_the_cli_refuses_a_cluster_size_it_cannot_run() -> None:
    result = CliRunner().invoke(cli, ["kafka", "start", "--brokers", "9"])
    assert result.exit_code == 2
    assert "--brokers" in result.output
    assert "Traceback" not in result.output
