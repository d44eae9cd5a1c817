"""Shared by the command sandbox tests: each connector's settings against
its sandbox, the credential each provider must receive, and a running
sandbox with a :class:`core.testing.commands.CommandRunner` on it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import connectors
from connectors.generic import GenericSettings
from connectors.github import GitHubSettings
from connectors.sendgrid import SendGridSettings
from connectors.shopify import ShopifySettings
from connectors.slack import SlackSettings
from connectors.stripe import StripeSettings
from connectors.twilio import TwilioSettings
from core.testing.commands import CommandRunner

SID = "AC" + "0" * 32


FORM = "application/x-www-form-urlencoded"


JSON = "application/json"


SECTIONS: dict[str, Callable[[str], Any]] = {
    "stripe": lambda url: StripeSettings(api_key="sk_test_sandbox", base_url=url, rate=1000),
    "github": lambda url: GitHubSettings(token="ghp_sandbox", base_url=url, rate=1000),
    "slack": lambda url: SlackSettings(bot_token="xoxb-sandbox", base_url=url, rate=1000),
    "twilio": lambda url: TwilioSettings(
        account_sid=SID,
        auth_tokens=["twilio-sandbox-token"],
        public_url="https://h.example",
        base_url=url,
        rate=1000,
    ),
    "sendgrid": lambda url: SendGridSettings(api_key="SG.sandbox-key", base_url=url, rate=1000),
    "shopify": lambda url: ShopifySettings(access_token="shpat_sandbox", base_url=url, rate=1000),
    "generic": lambda url: GenericSettings(
        base_url=url,
        auth={"type": "bearer", "token": "generic-token"},
        templates={
            "thing": {
                "url": "/v1/things",
                "headers": {"X-Trace": "t-{command_id}"},
                "body": {"name": "{name}", "tags": "{tags}", "ref": "ref-{command_id}"},
                "success_codes": [201],
            }
        },
    ),
}


AUTH = {
    "stripe": ("Authorization", "Bearer sk_test_sandbox"),
    "github": ("Authorization", "Bearer ghp_sandbox"),
    "slack": ("Authorization", "Bearer xoxb-sandbox"),
    "twilio": (
        "Authorization",
        "Basic " + base64.b64encode(f"{SID}:twilio-sandbox-token".encode()).decode(),
    ),
    "sendgrid": ("Authorization", "Bearer SG.sandbox-key"),
    "shopify": ("X-Shopify-Access-Token", "shpat_sandbox"),
    "generic": ("Authorization", "Bearer generic-token"),
}


@asynccontextmanager
async def provider(name: str) -> AsyncIterator[tuple[Any, CommandRunner]]:
    connector = connectors.get(name)
    assert connector.sandbox is not None
    async with (
        connector.sandbox() as sb,
        CommandRunner(connector, SECTIONS[name](sb.url)) as runner,
    ):
        yield sb, runner
