"""Shared helpers for the auth tests: an injectable clock and a browser stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from core.testing import DemoSandbox


class Clock:
    """An injectable epoch clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def authorize(url: str) -> str:
    """Follow the authorize URL like a browser would, up to the redirect back."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 302
    return response.headers["Location"]


async def demo_sandbox() -> AsyncIterator[DemoSandbox]:
    """Body of the ``sandbox`` fixture the auth tests share."""
    async with DemoSandbox() as sb:
        yield sb
