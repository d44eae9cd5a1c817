"""Use a reachable broker, or start the local one: one path for the CLI,
``make demo`` and the test suite's session fixture."""

from __future__ import annotations

from ..kafka.probe import PortState, is_loopback, parse_servers, probe
from ..settings import LocalKafkaSettings, Settings
from ._broker import start
from ._errors import LocalKafkaError


def configured_broker(settings: Settings) -> str | None:
    """The configured bootstrap servers if they answer as Kafka, else None.

    Raises LocalKafkaError for a configured remote broker that is down: we
    would not start a local one in its place.
    """
    configured = settings.kafka.bootstrap_servers
    if not configured:
        return None
    servers = parse_servers(configured)
    if any(probe(h, p) is PortState.KAFKA for h, p in servers):
        return configured
    if all(is_loopback(host) for host, _ in servers):
        return None
    raise LocalKafkaError(
        f"SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS={configured} is not reachable, and it is not a "
        "local address, so no local broker is started in its place; unset it to use the "
        "local broker"
    )


def local_broker(settings: Settings) -> LocalKafkaSettings:
    """The local broker's settings, where ``ensure_broker`` starts it, so
    start, status and stop always mean the same broker: on the port of a
    single loopback bootstrap server; for several loopback servers on
    consecutive ports (``127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094``), a
    cluster of that many nodes from the first."""
    local = settings.local_kafka
    configured = settings.kafka.bootstrap_servers
    servers = parse_servers(configured) if configured else []
    if not servers or not all(is_loopback(host) for host, _ in servers):
        return local
    ports = sorted(port for _, port in servers)
    if len(ports) == 1:
        return local.model_copy(update={"port": ports[0]})
    if ports != list(range(ports[0], ports[0] + len(ports))):
        raise LocalKafkaError(
            f"SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS={configured}: a local cluster listens on "
            "consecutive ports (127.0.0.1:9092,127.0.0.1:9093,...); fix the list or unset it"
        )
    return local.model_copy(update={"port": ports[0], "brokers": len(ports)})


def ensure_broker(settings: Settings) -> tuple[str, bool]:
    """Reuse a reachable configured/local broker or start the local one.

    Returns ``(bootstrap, started)``. The test suite's session fixture and
    ``make demo`` use this same function.
    """
    configured = configured_broker(settings)
    if configured and not all(is_loopback(host) for host, _ in parse_servers(configured)):
        return configured, False
    # a loopback address: our broker is started there if it is down, and the
    # nodes that are down if it is our cluster and some answer (a Kafka we
    # did not start is only reused)
    result = start(local_broker(settings))
    return configured or result.status.bootstrap, result.started
