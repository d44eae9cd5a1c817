"""Fixtures every integration test module may use without importing them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import connectors
from connectors.stripe import StripeSettings
from core.testing.commands import CommandRunner
from tests.integration.sink_support import github_rig, stripe_rig

__all__ = ["github_rig", "stripe_commands", "stripe_rig"]


@pytest.fixture
async def stripe_commands() -> AsyncIterator[tuple[Any, CommandRunner]]:
    """The Stripe sandbox and a command runner against it."""
    connector = connectors.get("stripe")
    async with connector.new_sandbox() as sb:
        section = StripeSettings(api_key="sk_test_sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connector, section) as runner:
            yield sb, runner
