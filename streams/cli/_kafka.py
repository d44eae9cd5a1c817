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


def _settings(ctx: Context, port: int | None) -> Settings:
    if port is not None:
        ctx.override(local_kafka={**ctx.settings.local_kafka.model_dump(), "port": port})
    return ctx.settings


def _local(ctx: Context, port: int | None) -> LocalKafkaSettings:
    """The broker ``start`` would run: ``--port``, else a single loopback
    SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS' port, else the local_kafka port."""
    if port is not None:
        return _settings(ctx, port).local_kafka
    return localkafka.local_broker(ctx.settings)


@click.group("kafka")
def kafka_group() -> None:
    """Run a local Apache Kafka broker (KRaft, one node) without Docker.

    The broker's jars are resolved once from Maven Central with Maven into
    SWITCHBOARD_LOCAL_KAFKA__HOME (default ~/.cache/switchboard); data is
    kept there across restarts. Needs Java 17+ and Maven.
    """


@kafka_group.command("start")
@_port_option
@pass_ctx
@friendly_errors
def start(ctx: Context, port: int | None) -> None:
    """Start the local broker and wait until it accepts topic creation.

    Does nothing if SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS points at a
    reachable broker, or if a broker already runs on the port.
    """
    settings = _settings(ctx, port)
    configured = localkafka.configured_broker(settings)
    if configured:
        click.echo(f"using the configured broker at {configured}; nothing started")
        return
    if not localkafka.is_resolved(settings.local_kafka.home, settings.local_kafka.version):
        click.echo(
            f"resolving Apache Kafka {settings.local_kafka.version} from Maven Central "
            "(first start only)...",
            err=True,
        )
    bootstrap, started = localkafka.ensure_broker(settings)
    if started:
        click.echo(f"Kafka {settings.local_kafka.version} is running at {bootstrap}")
    else:
        click.echo(f"Kafka is already running at {bootstrap}; nothing started")


@kafka_group.command("stop")
@_port_option
@click.option(
    "--wipe",
    is_flag=True,
    help="After stopping, delete the broker's data directory (every topic and offset); "
    "the next start begins with an empty cluster.",
)
@pass_ctx
@friendly_errors
def stop(ctx: Context, port: int | None, wipe: bool) -> None:
    """Stop the local broker started by `switchboard kafka start` (no process is left)."""
    cfg = _local(ctx, port)
    before = localkafka.stop(cfg)
    if before.state in {"running", "starting"}:
        click.echo(f"stopped the broker on port {before.port} (pid {before.pid})")
    elif before.state == "foreign":
        fail(f"{before.describe()}; not stopping a broker switchboard did not start")
    else:
        click.echo(f"no local broker was running on port {before.port}")
    if wipe:
        wiped = localkafka.wipe(cfg)
        if wiped is None:
            click.echo(f"no data to delete ({localkafka.data_dir(cfg)} does not exist)")
        else:
            path, size = wiped
            click.echo(f"deleted {path} ({size / 2**20:.1f} MiB)")


@kafka_group.command("status")
@_port_option
@pass_ctx
@friendly_errors
def status(ctx: Context, port: int | None) -> None:
    """Show whether the local broker runs (exit code 3 when it does not)."""
    current = localkafka.status(_local(ctx, port))
    click.echo(current.describe())
    if current.state not in {"running", "foreign"}:
        raise SystemExit(EXIT_NOT_RUNNING)
