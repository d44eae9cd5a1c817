"""``switchboard sandbox PROVIDER``: serve a local fake provider."""

from __future__ import annotations

import errno
import shlex
from typing import Any

import click

import connectors

from ..settings import env_name
from ._common import EXIT_USAGE, fail
from ._worker import port_in_use, port_taken_message


def _factories() -> dict[str, Any]:
    from core.testing import DemoSandbox

    found: dict[str, Any] = {"demo": DemoSandbox}
    for name, connector in connectors.registry().items():
        if connector.sandbox is not None:
            found[name] = connector.sandbox
    return found


@click.command("sandbox")
@click.argument("provider")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port [default: an ephemeral one]."
)
def sandbox(provider: str, host: str, port: int) -> None:
    """Serve PROVIDER's sandbox (a local fake of its API) until Ctrl-C.

    Faults are switched at runtime over HTTP under /_sandbox/ (faults, rate,
    latency, requests, reset). `demo` is a generic sandbox with paginated
    data, OAuth endpoints and idempotent writes.

    On start it prints where it listens, the test credentials it accepts
    (its own, never a real one) and the SWITCHBOARD_* variables that point
    Switchboard at it.
    """
    from core.testing import run_sandbox

    factories = _factories()
    factory = factories.get(provider)
    if factory is None:
        fail(
            f"no sandbox named {provider!r}; available: {', '.join(sorted(factories))}", EXIT_USAGE
        )
        return
    if port and port_in_use(host, port):
        fail(port_taken_message(host, port, "--port") + " (0 picks a free one)", EXIT_USAGE)
    made = factory()

    def announce(url: str) -> None:
        click.echo(f"{provider} sandbox at {url}; it accepts {made.accepts()}")
        settings = made.settings_for(url)
        if settings:
            assignments = " ".join(f"{env_name(k)}={shlex.quote(v)}" for k, v in settings.items())
            click.echo(f"point Switchboard at it: {assignments}")

    try:
        run_sandbox(lambda: made, host, port, on_ready=announce)
    except OSError as exc:  # taken between the check and the bind
        if exc.errno != errno.EADDRINUSE:
            raise
        fail(port_taken_message(host, port, "--port") + " (0 picks a free one)", EXIT_USAGE)
