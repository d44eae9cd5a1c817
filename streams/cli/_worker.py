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
    """Run a worker: the HTTP server (GET /healthz, /readyz) and the faust app.

    Every worker of one deployment joins the same consumer groups, so
    starting more workers spreads the partitions between them.
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
