"""Local fake providers ("sandboxes") for tests, benchmarks and the CLI.

In a test, in the test's own loop::

    async with DemoSandbox() as sandbox:
        sandbox.fail_next(2, status=503)
        async with httpx.AsyncClient(base_url=sandbox.url) as client:
            ...
        assert len(sandbox.requests_to("/v1/things")) == 3

From synchronous code: ``with DemoSandbox().in_thread() as sandbox: ...``.
In another process (benchmarks): ``with spawn_sandbox("core.testing:DemoSandbox")
as proc: proc.url``, switched over HTTP at ``/_sandbox/...``. In the
foreground (CLI): ``run_sandbox(DemoSandbox, host, port)``.

A provider sandbox subclasses :class:`Sandbox` and registers its routes in
``routes(router)``; the fault, rate, idempotency and recording pipeline
comes with it; its docstring lists the test API every sandbox shares
(side-effect counts per command id, outages, faults, rate limits).
:class:`core.testing.commands.CommandRunner` runs a connector's commands the way the sink does.
"""

from core.testing._private.faults import Fault, FaultKind, ServerTokenBucket
from core.testing._private.oauth import OAuthServer, pkce_s256
from core.testing._private.paging import Datasets, decode_cursor, encode_cursor
from core.testing._private.records import RecordedRequest
from core.testing._private.running import SandboxProcess, run_sandbox, spawn_sandbox
from core.testing.demo import DemoSandbox
from core.testing.sandbox import CONTROL_PREFIX, Sandbox

__all__ = [
    "CONTROL_PREFIX",
    "Datasets",
    "DemoSandbox",
    "Fault",
    "FaultKind",
    "OAuthServer",
    "RecordedRequest",
    "Sandbox",
    "SandboxProcess",
    "ServerTokenBucket",
    "decode_cursor",
    "encode_cursor",
    "pkce_s256",
    "run_sandbox",
    "spawn_sandbox",
]
