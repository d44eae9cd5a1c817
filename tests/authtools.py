"""Shared helpers for the auth tests: a browser stand-in and their sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from core.testing import DemoSandbox


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
