"""The settings of the streams runtime: Kafka, the local broker, the worker,
the sink and the poller, and the root :class:`Settings` composed of them.

core's :mod:`core.settings` reads and checks (environment, YAML file,
errors that say where); this module declares the sections only the
runtime uses, with their ``SWITCHBOARD_*`` variables and YAML keys
(``SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS``, ``worker.port`` ...).
:func:`load_settings` adds each connector's section and checks that
``sink.connectors``, ``poll.connectors`` and ``poll.streams`` name
installed connectors.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, SecretStr, field_validator, model_validator

from core import settings as core_settings
from core.settings import Section, SettingsError, env_name

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "ROLES",
    "KafkaSettings",
    "LocalKafkaSettings",
    "PollSettings",
    "Role",
    "Settings",
    "SettingsError",
    "SinkSettings",
    "WorkerSettings",
    "env_name",
    "load_settings",
]

DEFAULT_KAFKA_VERSION = "3.9.2"


class KafkaSettings(Section):
    """How to reach Kafka, passed unchanged to every client Switchboard builds."""

    bootstrap_servers: str | None = Field(
        default=None,
        description="host:port[,host:port...]; unset means the local broker on local_kafka.port",
    )
    client_id: str = "switchboard"
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    partitions: int = Field(default=3, ge=1, le=10_000)
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="replicas of each topic Switchboard creates; unset: 3 on a cluster of 3 or"
        " more brokers, else as many as there are brokers",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="min.insync.replicas of each topic Switchboard creates; unset: 2 when the"
        " replication factor is 3 or more, else the brokers' default",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str | None) -> str | None:
        if value is None:
            return None
        servers = [item.strip() for item in value.split(",") if item.strip()]
        for item in servers:
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{item!r} is not host:port")
        if not servers:
            raise ValueError("no broker address given")
        return ",".join(servers)

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}"
                )
        if (
            self.replication_factor is not None
            and self.min_insync_replicas is not None
            and self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"min_insync_replicas {self.min_insync_replicas} is more than replication_factor"
                f" {self.replication_factor}: no write could ever be acknowledged; lower it"
            )
        if self.ssl_certfile is not None and self.ssl_keyfile is None:
            raise ValueError("ssl_certfile needs ssl_keyfile")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}: no such file: {path}")
        return self


class LocalKafkaSettings(Section):
    """The development broker run by ``switchboard kafka start``."""

    version: str = Field(default=DEFAULT_KAFKA_VERSION, pattern=r"^3\.\d+\.\d+$")
    port: int = Field(
        default=9092,
        ge=1,
        le=65535,
        description="the first node's port; node i listens on port+i-1",
    )
    brokers: int = Field(
        default=1,
        ge=1,
        le=5,
        description="nodes of the local cluster (each a KRaft broker and controller); 3 for a"
        " replicated cluster",
    )
    controller_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the first node's controller port; default port+brokers",
    )
    home: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchboard"
        ),
        description="cache of jars (with its own Maven repository) and broker data",
    )
    run_root: Path | None = Field(
        default=None,
        description="where each broker's directory (data, logs, pid) lives: <run_root>/<port>;"
        " default <home>/run",
    )
    heap: str = Field(default="1g", pattern=r"^\d+[mg]$", description="JVM heap of each node")
    start_timeout_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _check_ports(self) -> LocalKafkaSettings:
        ports = self.ports + self.controller_ports
        if max(ports) > 65535:
            raise ValueError(
                f"{self.brokers} brokers from port {self.port} need ports up to {max(ports)};"
                " pick a lower port"
            )
        if len(set(ports)) < len(ports):
            raise ValueError(
                f"controller_port {self.controller_port} overlaps the brokers' ports"
                f" {self.ports[0]}-{self.ports[-1]}; pick another"
            )
        return self

    @property
    def ports(self) -> list[int]:
        """The nodes' client ports (node i on ``port + i - 1``)."""
        return [self.port + i for i in range(self.brokers)]

    @property
    def controller_ports(self) -> list[int]:
        first = self.controller_port or self.port + self.brokers
        return [first + i for i in range(self.brokers)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)


Role = Literal["ingest", "dedup", "sink", "poll"]
ROLES: tuple[Role, ...] = ("ingest", "dedup", "sink", "poll")


class WorkerSettings(Section):
    host: str = "0.0.0.0"  # noqa: S104 - the worker serves webhooks; bind is a setting
    port: int = Field(default=8080, ge=1, le=65535)
    roles: list[Role] = Field(default_factory=lambda: list(ROLES))
    data_dir: Path = Path("./switchboard-data")
    dedup_retention_s: float = Field(default=7 * 24 * 3600, gt=0)
    dedup_max_ids: int = Field(
        default=200_000,
        ge=1,
        description="event ids the dedup table keeps per ingest partition (oldest forgotten first)",
    )
    session_timeout_s: float = Field(
        default=30.0,
        ge=6,
        le=300,
        description="how soon the group notices a dead worker and moves its partitions",
    )
    stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="an assigned partition not fetched this long while records wait is stalled",
    )
    # faust's exactly_once is not offered: with two workers its transactional
    # producers are fenced after a rebalance and the app crashes (README).
    processing_guarantee: Literal["at_least_once"] = "at_least_once"
    # RocksDB-backed tables are not offered yet: with rocksdict the dedup
    # agent hung at start in our check; memory tables restore from the changelog.
    store: Literal["memory://"] = "memory://"
    # The HTTP server's limits against slow and hostile clients (streams.ingest).
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="time a new connection has to send its headers"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="time a request has to send its body (else 408)"
    )
    keepalive_timeout_s: float = Field(
        default=15.0, ge=0, le=3600, description="idle time before a kept-alive connection closes"
    )
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="open connections at most (default: a quarter of the open-files limit, <=1024)",
    )
    ops_host: str = Field(
        default="127.0.0.1", description="bind address of /healthz /readyz /metrics on ops_port"
    )
    ops_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve /healthz /readyz /metrics only on this port (default: on port)",
    )
    ops_token: SecretStr | None = Field(
        default=None, description="bearer token /healthz /readyz /metrics require when set"
    )


class SinkSettings(Section):
    """How ``<c>.commands`` are consumed (see :mod:`streams.sink`)."""

    connectors: list[str] | None = Field(
        default=None, description="connectors to run sinks for (default: every configured one)"
    )
    concurrency: int = Field(default=64, ge=1, le=10_000, description="calls in flight")
    max_buffered: int = Field(
        default=2_000, ge=1, description="commands fetched but not finished before pausing"
    )
    ledger_window_s: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="how long a command id is remembered as executed (results/ledger retention)",
    )
    ledger_max_ids: int = Field(
        default=200_000,
        ge=1,
        description="command ids remembered per commands partition (oldest forgotten first)",
    )
    drain_timeout_s: float = Field(
        default=20.0, gt=0, description="wait for calls in flight on rebalance or stop"
    )
    commit_interval_s: float = Field(default=0.5, gt=0)


class PollSettings(Section):
    """How poll streams run (see :mod:`streams.poll`). Stream ids are
    ``<connector>.<stream>`` (``switchboard offsets list`` shows them)."""

    connectors: list[str] | None = Field(
        default=None, description="connectors to poll (default: every one with streams configured)"
    )
    streams: list[str] | None = Field(
        default=None, description="only these stream ids (default: all of the connectors polled)"
    )
    interval_s: float | None = Field(
        default=None, gt=0, description="every stream's interval (default: the stream's own)"
    )
    intervals: dict[str, float] = Field(
        default_factory=dict, description='interval per stream id, e.g. {"stripe.events": 30}'
    )
    cron: dict[str, str] = Field(
        default_factory=dict,
        description="cron expression per stream id (UTC), instead of its interval",
    )
    jitter: float = Field(
        default=0.1, ge=0, le=1, description="fraction of the interval streams are spread by"
    )
    priority: Literal["low", "normal"] = Field(
        default="low", description="low: polls yield the rate budget to sinks when it is tight"
    )
    backfill_from: AwareDatetime | None = Field(
        default=None, description="where a stream without a cursor starts (default: beginning)"
    )
    max_pages_per_run: int = Field(default=10_000, ge=1)
    retry_min_s: float = Field(default=5.0, gt=0, description="first wait after a throttled poll")
    retry_max_s: float = Field(default=300.0, gt=0, description="longest wait between retries")

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: dict[str, str]) -> dict[str, str]:
        from croniter import croniter  # type: ignore[import-untyped]

        for stream, expression in value.items():
            if not croniter.is_valid(expression):
                raise ValueError(
                    f"cron[{stream!r}]: {expression!r} is not a cron expression "
                    "(five fields: minute hour day-of-month month day-of-week)"
                )
        return value


class Settings(core_settings.Settings):
    """The runtime's settings; :func:`load_settings` extends it with connector sections."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    local_kafka: LocalKafkaSettings = Field(default_factory=LocalKafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    poll: PollSettings = Field(default_factory=PollSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def bootstrap_servers(self) -> str:
        """The configured brokers, or the local development broker."""
        return self.kafka.bootstrap_servers or self.local_kafka.bootstrap


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    sections: Mapping[str, type[BaseModel]] | None = None,
    **overrides: Any,
) -> Settings:
    """Build and validate the settings, or raise :class:`SettingsError`
    (see :func:`core.settings.load_settings`)."""
    known = sorted(sections or {})

    def connector_names(settings: Settings) -> Iterator[tuple[str, str]]:
        """``sink.connectors``/``poll.connectors``/``poll.streams`` name connectors
        that exist (a typo must not surface as a traceback when the worker starts)."""
        if not known:
            return
        for path, names in (
            ("sink.connectors", settings.sink.connectors or []),
            ("poll.connectors", settings.poll.connectors or []),
            ("poll.streams", [s.partition(".")[0] for s in settings.poll.streams or []]),
        ):
            for name in names:
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]}? " if close else ""
                    yield path, (f"unknown connector {name!r}; {hint}installed: {', '.join(known)}")

    return core_settings.load_settings(
        config_file, sections, root=Settings, checks=[connector_names], **overrides
    )
