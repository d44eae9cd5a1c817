"""Each connector's client setup: credentials demanded, idempotency mode and
window, the pinned API version sent and overridable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

import connectors
from connectors.generic import GenericSettings
from core.apicall import COMMAND_ID_HEADER, ApiCall, ClientSetup
from core.errors import PolicyError

SID = "AC" + "0" * 32

# --- client setups -------------------------------------------------------------------

CREDENTIALS: dict[str, dict[str, Any]] = {
    "stripe": {"api_key": "sk_test_x"},
    "github": {"token": "ghp_x"},
    "slack": {"bot_token": "xoxb-x"},
    "twilio": {"account_sid": SID, "api_key_sid": "SKx", "api_key_secret": "s"},
    "sendgrid": {"api_key": "SG.x"},
    "shopify": {"access_token": "shpat_x"},
    "generic": {"base_url": "https://api.example.com"},
}
IDEMPOTENCY = {
    "stripe": "key",
    "github": "ledger",
    "slack": "ledger",
    "twilio": "ledger",
    "sendgrid": "ledger",
    "shopify": "ledger",
    "generic": "ledger",
}


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_settings_valid_without_env_and_setup_demands_credentials(name: str) -> None:
    connector = connectors.get(name)
    assert connector.api is not None
    assert connector.sandbox is not None
    with pytest.raises(PolicyError) as info:
        connector.api(connector.settings())
    assert info.value.setting.startswith(f"{name}.")
    setup = connector.api(connector.settings(**CREDENTIALS[name]))
    assert isinstance(setup, ClientSetup)
    assert setup.policy.connector == name
    assert setup.idempotency == IDEMPOTENCY[name] == connector.idempotency
    assert (setup.idempotency_window is None) == (setup.idempotency == "ledger")
    prepared = setup.prepare(ApiCall("POST", "/x"), "cmd-9")
    assert prepared.headers[COMMAND_ID_HEADER] == "cmd-9"
    assert prepared.idempotency_key == ("cmd-9" if setup.idempotency == "key" else None)
    for secret in CREDENTIALS[name].values():
        if isinstance(secret, str) and secret.startswith(("sk_", "ghp", "xoxb", "SG.", "shpat")):
            assert secret not in repr(setup)


def test_stripe_window_is_24_hours_and_generic_key_is_configurable() -> None:
    setup = connectors.get("stripe").api(
        connectors.get("stripe").settings(api_key=SecretStr("sk_x"))
    )  # type: ignore[misc]
    assert setup.idempotency_window == timedelta(hours=24)
    generic = connectors.get("generic")
    assert generic.api is not None
    keyed = generic.api(
        GenericSettings(base_url="https://x.example", idempotency_header="Idem-Key")
    )
    assert keyed.idempotency == "key"
    assert keyed.policy.idempotency_header == "Idem-Key"


def test_api_versions_are_pinned_sent_and_overridable() -> None:
    stripe, github = connectors.get("stripe"), connectors.get("github")
    assert stripe.api is not None
    assert github.api is not None
    setup = stripe.api(stripe.settings(api_key=SecretStr("sk_x")))
    assert setup.policy.headers["Stripe-Version"] == "2026-08-26.dahlia" == setup.api_version
    moved = stripe.api(stripe.settings(api_key=SecretStr("sk_x"), api_version="2025-01-27.acacia"))
    assert moved.policy.headers["Stripe-Version"] == "2025-01-27.acacia" == moved.api_version
    gh = github.api(github.settings(token=SecretStr("ghp_x")))
    assert gh.policy.headers["X-GitHub-Api-Version"] == "2022-11-28" == gh.api_version
