"""``switchboard worker``: run the configured connectors as a faust worker."""

from __future__ import annotations

import errno
import socket

import click

from core import errors as e

from ..settings import ROLES, env_name
from ._common import EXIT_USAGE, Context, fail, friendly_errors, pass_ctx


def port_in_use(host: str, port: int) -> bool:
    """True if ``host:port`` cannot be bound (as the HTTP server would bind it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def port_taken_message(host: str, port: int, setting: str) -> str:
    return (
        f"port {port} on {host} is already in use ({setting}): stop what listens there "
        "or choose another port with --port"
    )


@click.command("worker")
@click.option(
    "--roles",
    default=",".join(ROLES),
    show_default=True,
    help="Comma-separated subset of roles this process runs.",
)
@click.option("--port", type=click.IntRange(1, 65535), help="HTTP port [default: worker.port].")
@pass_ctx
@friendly_errors
def worker(ctx: Context, roles: str, port: int | None) -> None:
    """Run a worker: webhook ingest (POST /webhooks/<c>), dedup, and health.

    Roles: ingest (the HTTP server accepting signed webhooks into
    <c>.ingest), dedup (<c>.ingest -> <c>.events, one event per id), sink
    (<c>.commands -> provider API calls -> <c>.results), poll (the
    providers' list APIs into <c>.ingest). GET /healthz,
    /readyz and /metrics are always served. A connector's webhook route
    exists only once its secret is set (e.g. SWITCHBOARD_STRIPE__WEBHOOK_SECRETS).
    Workers of one deployment share consumer groups: more workers spread
    the partitions.
    """
    chosen = [r.strip() for r in roles.split(",") if r.strip()]
    unknown = sorted(set(chosen) - set(ROLES))
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown role {', '.join(unknown) or '(none given)'}; choose from {', '.join(ROLES)}",
            param_hint="--roles",
        )
    worker_settings = ctx.settings.worker.model_dump()
    worker_settings["roles"] = chosen
    if port is not None:
        worker_settings["port"] = port
    ctx.override(worker=worker_settings)
    settings = ctx.settings
    host = settings.worker.host
    where = "--port" if port is not None else f"worker.port, {env_name('worker.port')}"
    # Checked before anything starts: no Kafka client is left behind unclosed.
    if port_in_use(host, settings.worker.port):
        fail(port_taken_message(host, settings.worker.port, where), EXIT_USAGE)

    from ..poll import build_polls
    from ..sink import sink_setups
    from ..worker import run_worker

    try:
        # What the connectors refuse is found before Kafka or faust start (fast, nothing left).
        if "sink" in chosen:
            sink_setups(settings)
        if "poll" in chosen:
            build_polls(settings)
        run_worker(settings)
    except e.PolicyError as exc:
        fix = f"; fix {env_name(exc.setting)}" if exc.setting else ""
        fail(f"{exc}{fix}", EXIT_USAGE)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        fail(port_taken_message(host, settings.worker.port, where), EXIT_USAGE)
