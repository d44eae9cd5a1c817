"""Operations served from another host than their API's main one.

The descriptions put a few operations on a host of their own (an
operation's ``servers``): Stripe's file uploads and quote PDFs on
files.stripe.com, GitHub's release assets on uploads.github.com, and
Twilio's Messaging API as a whole on messaging.twilio.com. Each host is a
setting; left unset, it follows ``base_url`` when that is not the
default, so a connector pointed at a mock or a proxy sends nothing to the
real provider.
"""

from __future__ import annotations

from typing import Any

import pytest

import connectors
from connectors.github import GitHubSettings
from connectors.stripe import StripeSettings
from connectors.twilio import TwilioSettings
from core.apicall import CallContext

MOCK = "http://127.0.0.1:12111"

#: connector, command, params, the host setting, the description's host
CASES = [
    ("stripe", "quotes.pdf", {"quote": "qt_1"}, "files_base_url", "https://files.stripe.com"),
    (
        "stripe",
        "files.create",
        {"file": "hello", "purpose": "dispute_evidence"},
        "files_base_url",
        "https://files.stripe.com",
    ),
    (
        "github",
        "repos.upload_release_asset",
        {"owner": "o", "repo": "r", "release_id": 1, "name": "a.zip", "body": "PK"},
        "uploads_base_url",
        "https://uploads.github.com",
    ),
    (
        "twilio",
        "messaging.services.create",
        {"FriendlyName": "svc"},
        "messaging_base_url",
        "https://messaging.twilio.com",
    ),
]

SETTINGS: dict[str, Any] = {
    "stripe": StripeSettings,
    "github": GitHubSettings,
    "twilio": TwilioSettings,
}


def _url(connector: str, command: str, params: dict[str, Any], **settings: Any) -> str:
    section = SETTINGS[connector](**settings)
    model = connectors.get(connector).commands[command]
    call = model.model_validate(params).api_call(CallContext("cmd-host", section))
    return call.path


@pytest.mark.parametrize(("connector", "command", "params", "setting", "host"), CASES)
def test_the_described_host_by_default(
    connector: str, command: str, params: dict[str, Any], setting: str, host: str
) -> None:
    url = _url(connector, command, params)
    assert url.startswith(host + "/"), url


@pytest.mark.parametrize(("connector", "command", "params", "setting", "host"), CASES)
def test_follows_a_base_url_pointed_elsewhere(
    connector: str, command: str, params: dict[str, Any], setting: str, host: str
) -> None:
    url = _url(connector, command, params, base_url=MOCK)
    assert url.startswith(MOCK + "/"), url


@pytest.mark.parametrize(("connector", "command", "params", "setting", "host"), CASES)
def test_a_host_set_explicitly_wins(
    connector: str, command: str, params: dict[str, Any], setting: str, host: str
) -> None:
    url = _url(connector, command, params, base_url=MOCK, **{setting: "https://proxy.example/x/"})
    assert url.startswith("https://proxy.example/x/"), url
    assert not url.startswith("https://proxy.example/x//")
    # the described host given explicitly stays, whatever base_url says
    url = _url(connector, command, params, base_url=MOCK, **{setting: host})
    assert url.startswith(host + "/"), url


@pytest.mark.parametrize(("connector", "command", "params", "setting", "host"), CASES)
def test_the_settings_show_where_the_host_goes(
    connector: str, command: str, params: dict[str, Any], setting: str, host: str
) -> None:
    assert str(getattr(SETTINGS[connector](), setting)).rstrip("/") == host
    assert str(getattr(SETTINGS[connector](base_url=MOCK), setting)).rstrip("/") == MOCK


def test_the_main_host_stays_relative() -> None:
    # the client's own base URL applies: the path is relative
    assert _url("stripe", "quotes.retrieve", {"quote": "qt_1"}) == "/v1/quotes/qt_1"
