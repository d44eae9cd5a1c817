"""``switchboard worker``: run the configured connectors as a faust worker."""

from __future__ import annotations

import click

from core.settings import ROLES

from ._common import Context, friendly_errors, pass_ctx


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
    <c>.ingest), dedup (<c>.ingest -> <c>.events, one event per id); sink and
    poll are reserved for the sink and poll connectors. GET /healthz,
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

    from ..worker import run_worker

    run_worker(ctx.settings)
