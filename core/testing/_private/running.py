"""Ways to run a sandbox: in a loop, in a thread, in a process, or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web

from core.testing._private.shape import ServedSandbox

__all__ = ["in_thread", "load_factory", "run_sandbox", "spawn_sandbox", "start"]

log = logging.getLogger("switchboard.sandbox")
READY_PREFIX = "SANDBOX_URL "


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


@contextlib.contextmanager
def in_thread(
    start_fn: Callable[[], Awaitable[str]],
    stop_fn: Callable[[], Awaitable[None]],
    *,
    timeout: float,
) -> Iterator[None]:
    """Run ``start_fn`` in a new thread with its own loop; ``stop_fn`` on exit."""
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stopped: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stopped
        stopped = loop.create_future()
        try:
            await start_fn()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await stopped
        finally:
            await stop_fn()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise TimeoutError(f"sandbox did not start within {timeout} s")
        if failure:
            raise failure[0]
        yield
    finally:
        if stopped is not None:
            future = stopped

            def release() -> None:
                if not future.done():
                    future.set_result(None)

            loop.call_soon_threadsafe(release)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


def load_factory(spec: str) -> Callable[[], ServedSandbox]:
    """``"package.module:attribute"`` -> the callable it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"factory: expected 'module:attribute', got {spec!r}")
    factory: Callable[[], ServedSandbox] = getattr(importlib.import_module(module_name), attribute)
    return factory


def run_sandbox(
    app_factory: Callable[[], ServedSandbox | web.Application],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve what ``app_factory()`` makes, in the foreground, until SIGINT/SIGTERM.

    The factory is a :class:`Sandbox` subclass (or any zero-argument callable
    returning a Sandbox or a bare ``aiohttp.web.Application``); ``host`` and
    ``port`` override the sandbox's own (``port=0``: an ephemeral port).
    ``on_ready`` receives the base URL once the port is bound; by default it
    is logged. ``stop`` (set from inside the loop) ends it without a signal.
    """

    async def main() -> None:
        made = app_factory()
        stopped = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stopped.set)
        runner: web.AppRunner | None = None
        if isinstance(made, web.Application):
            runner, url = await start(made, host, port)
        else:
            made.host, made.port = host, port
            url = await made.start()
        try:
            (on_ready or _log_ready)(url)
            await stopped.wait()
        finally:
            if runner is not None:
                await runner.cleanup()
            elif not isinstance(made, web.Application):
                await made.stop()

    asyncio.run(main())


def _log_ready(url: str) -> None:
    log.info("sandbox listening", extra={"url": url})


class SandboxProcess:
    """A sandbox in a child process (``python -m core.testing``); ``url`` once ready."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def spawn_sandbox(
    factory: str = "core.testing:DemoSandbox",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[SandboxProcess]:
    """Start ``factory`` (``"module:attr"``) in a separate Python process.

    Yields once the child announced its URL; terminates it on exit. Raises
    RuntimeError (with the child's output) if it exits or stays silent past
    ``timeout``. Control it over HTTP (``/_sandbox/...``).
    """
    command = [sys.executable, "-m", "core.testing", factory, "--host", host, "--port", str(port)]
    process = subprocess.Popen(
        [*command, *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    handle: SandboxProcess | None = None
    try:
        url = _await_ready(process, timeout)
        handle = SandboxProcess(process, url)
        yield handle
    finally:
        (handle or SandboxProcess(process, "")).stop()


def _await_ready(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if not readable:
            break
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith(READY_PREFIX):
            return line[len(READY_PREFIX) :].strip()
        seen.append(line)
    raise RuntimeError("sandbox process did not start:\n" + "".join(seen[-20:]))


def main(argv: list[str] | None = None) -> None:
    """``python -m core.testing [module:factory] [--host H] [--port N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.testing")
    parser.add_argument("factory", nargs="?", default="core.testing:DemoSandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    def announce(url: str) -> None:
        sys.stdout.write(f"{READY_PREFIX}{url}\n")
        sys.stdout.flush()

    logging.basicConfig(level=logging.WARNING)
    run_sandbox(load_factory(args.factory), args.host, args.port, on_ready=announce)
