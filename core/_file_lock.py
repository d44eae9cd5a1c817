"""An exclusive lock across processes on a lock file, for asyncio code.

``fcntl.flock`` on a file beside the protected one: held by an open file
description, so it also excludes another holder in the same process, and
the kernel drops it when the holder dies (no stale lock after a crash).
Acquiring blocks, so it runs in a worker thread; if the waiter is
cancelled, the descriptor is closed once the thread returns, releasing a
lock acquired too late for anyone to use.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["exclusive"]


@contextlib.asynccontextmanager
async def exclusive(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600, parents 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    acquire = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(acquire)
    except BaseException:
        acquire.add_done_callback(lambda _: os.close(fd))
        raise
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
