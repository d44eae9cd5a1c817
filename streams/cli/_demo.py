"""``switchboard demo``: the command; the demo itself is :mod:`streams.demo`."""

from __future__ import annotations

import click

from ..demo import run_demo
from ._common import Context, friendly_errors, pass_ctx

__all__ = ["demo"]


@click.command("demo")
@pass_ctx
@friendly_errors
def demo(ctx: Context) -> None:
    """The whole path on this machine, narrated and checked.

    Starts the local broker, creates the topics, sends an example command
    and event and reads them back; then runs a Stripe sandbox and a worker
    (ingest, dedup and a Stripe sink pointed at the sandbox), sends it
    signed webhooks (with a duplicate, a tampered and a stale delivery) and
    shows one event per id; then sends commands (a good one, a duplicate, an
    invalid one, one hitting a 5xx burst, one the provider rejects), shows
    their Results and the DLQ; then lets Stripe events happen at the sandbox,
    delivers all but one as webhooks, and shows the worker's poll of
    GET /v1/events bringing in the missed one, each event once on
    stripe.events, and the poll's cursor. Exits 1 if an expected outcome did
    not happen.
    """
    run_demo(ctx.settings)
