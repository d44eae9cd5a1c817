"""``switchboard kafka start|stop|status``: the local development broker."""

from __future__ import annotations

import click

from .. import localkafka
from ..settings import LocalKafkaSettings, Settings
from ._common import Context, fail, friendly_errors, pass_ctx

EXIT_NOT_RUNNING = 3  # as LSB init scripts' "status"


def _port_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Broker port on 127.0.0.1 [default: a loopback SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS' "
        "port, else SWITCHBOARD_LOCAL_KAFKA__PORT or 9092].",
    )(func)


def _brokers_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--brokers",
        type=click.IntRange(1, 5),
        default=None,
        help="Nodes of the local cluster, on consecutive ports from --port; 3 for a "
        "replicated cluster (topics get 3 replicas, min.insync.replicas 2) "
        "[default: SWITCHBOARD_LOCAL_KAFKA__BROKERS or 1].",
    )(func)


def _settings(ctx: Context, port: int | None, brokers: int | None = None) -> Settings:
    update = {"port": port, "brokers": brokers}
    update = {key: value for key, value in update.items() if value is not None}
    if update:
        ctx.override(local_kafka={**ctx.settings.local_kafka.model_dump(), **update})
    return ctx.settings


def _local(ctx: Context, port: int | None, brokers: int | None) -> LocalKafkaSettings:
    """The broker ``start`` would run: ``--port``/``--brokers``, else the
    loopback SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS' ports, else local_kafka's."""
    local = localkafka.local_broker(ctx.settings)
    if port is None and brokers is None:
        return local
    update = {"port": port, "brokers": brokers}
    update = {key: value for key, value in update.items() if value is not None}
    ctx.override(local_kafka={**local.model_dump(), **update})
    return ctx.settings.local_kafka


@click.group("kafka")
def kafka_group() -> None:
    """Run a local Apache Kafka broker (KRaft) without Docker: one node, or
    a replicated cluster with --brokers 3.

    The broker's jars are resolved once from Maven Central with Maven into
    SWITCHBOARD_LOCAL_KAFKA__HOME (default ~/.cache/switchboard); data is
    kept there across restarts. Needs Java 17+ and Maven.
    """


@kafka_group.command("start")
@_port_option
@_brokers_option
@pass_ctx
@friendly_errors
def start(ctx: Context, port: int | None, brokers: int | None) -> None:
    """Start the local broker and wait until it accepts topic creation.

    Does nothing if SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS points at a
    reachable broker, or if a broker already runs on the port. On a cluster
    with nodes down, starts those nodes (they rejoin with their data).
    """
    settings = _settings(ctx, port, brokers)
    local = localkafka.local_broker(settings)
    if not localkafka.is_resolved(local.home, local.version) and not localkafka.configured_broker(
        settings
    ):
        click.echo(
            f"resolving Apache Kafka {local.version} from Maven Central (first start only)...",
            err=True,
        )
    bootstrap, started = localkafka.ensure_broker(settings)
    if started and local.brokers > 1:
        click.echo(f"a Kafka {local.version} cluster is running at {bootstrap}")
    elif started:
        click.echo(f"Kafka {local.version} is running at {bootstrap}")
    elif settings.kafka.bootstrap_servers:
        click.echo(f"using the configured broker at {bootstrap}; nothing started")
    else:
        click.echo(f"Kafka is already running at {bootstrap}; nothing started")


@kafka_group.command("stop")
@_port_option
@_brokers_option
@click.option(
    "--wipe",
    is_flag=True,
    help="After stopping, delete the broker's data directory (every topic and offset); "
    "the next start begins with an empty cluster.",
)
@pass_ctx
@friendly_errors
def stop(ctx: Context, port: int | None, brokers: int | None, wipe: bool) -> None:
    """Stop the local broker (every node of a cluster) started by `switchboard
    kafka start` (no process is left)."""
    cfg = _local(ctx, port, brokers)
    before = localkafka.stop(cfg)
    ours = [n for n in before.nodes if n.state in {"running", "starting"}]
    if len(before.nodes) == 1 and ours:
        click.echo(f"stopped the broker on port {before.port} (pid {before.pid})")
    elif ours:
        pids = ", ".join(str(n.pid) for n in ours)
        click.echo(f"stopped {len(ours)} of {len(before.nodes)} nodes (pids {pids})")
    elif before.state == "foreign":
        fail(f"{before.describe()}; not stopping a broker switchboard did not start")
    elif len(before.nodes) == 1:
        click.echo(f"no local broker was running on port {before.port}")
    else:
        click.echo(f"no node of the local cluster was running ({before.bootstrap})")
    if wipe:
        wiped = localkafka.wipe(cfg)
        if wiped is None:
            click.echo(f"no data to delete ({localkafka.data_dir(cfg)} does not exist)")
        else:
            path, size = wiped
            click.echo(f"deleted {path} ({size / 2**20:.1f} MiB)")


@kafka_group.command("status")
@_port_option
@_brokers_option
@pass_ctx
@friendly_errors
def status(ctx: Context, port: int | None, brokers: int | None) -> None:
    """Show whether the local broker runs, a line per node of a cluster (exit
    code 3 when it, or any node, does not)."""
    current = localkafka.status(_local(ctx, port, brokers))
    click.echo(current.describe())
    if current.state not in {"running", "foreign"}:
        raise SystemExit(EXIT_NOT_RUNNING)
