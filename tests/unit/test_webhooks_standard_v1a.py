"""Standard Webhooks v1a (ed25519, ``whpk_`` public keys) beside v1 (HMAC, ``whsec_``).

The oracle for v1 is the ``standardwebhooks`` package (1.3): what it signs
verifies in ours and what we sign verifies in it. The package has no v1a
signer or verifier (nor has ``svix``), so v1a signatures here are made with
``cryptography``'s ed25519 directly, independently of
:func:`core.testing.signing.sign_standard_webhooks`, over the content the
specification names: ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import standardwebhooks
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

import connectors
from connectors.generic import GenericSettings
from core.testing import signing
from core.webhooks import StandardWebhooksSettings, StandardWebhooksVerifier, VerificationError
from streams.settings import SettingsError, load_settings

NOW = 1_700_000_000
BODY = b'{"type":"invoice.paid","data":{"id":"in_1"}}'
SECRET = "whsec_" + base64.b64encode(b"v1a-test-hmac-key-01").decode()


def clock() -> float:
    return NOW


def keypair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, "whpk_" + base64.b64encode(raw).decode()


def v1a_entry(private: Ed25519PrivateKey, msg_id: str, ts: int, body: bytes) -> str:
    return "v1a," + base64.b64encode(private.sign(f"{msg_id}.{ts}.".encode() + body)).decode()


def library_v1(msg_id: str, ts: int, body: bytes, secret: str = SECRET) -> str:
    when = datetime.fromtimestamp(ts, tz=UTC)
    return standardwebhooks.Webhook(secret).sign(msg_id, when, body.decode())


def headers(signature: str, msg_id: str = "msg_1", ts: int = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def reason(verifier: StandardWebhooksVerifier, body: bytes, given: dict[str, str]) -> str:
    with pytest.raises(VerificationError) as info:
        verifier.verify(body, given)
    return info.value.reason


def test_v1_library_signature_verifies_in_ours_and_ours_in_the_library() -> None:
    verified = StandardWebhooksVerifier(SECRET, clock=clock).verify(
        BODY, headers(library_v1("msg_1", NOW, BODY))
    )
    assert (verified.event_id, verified.timestamp) == ("msg_1", NOW)
    ours = signing.sign_standard_webhooks(BODY, SECRET)
    standardwebhooks.Webhook(SECRET).verify(BODY, ours)


def test_v1a_signature_verifies_with_its_public_key() -> None:
    private, public = keypair()
    verifier = StandardWebhooksVerifier(public_keys=public, clock=clock)
    verified = verifier.verify(BODY, headers(v1a_entry(private, "msg_1", NOW, BODY)))
    assert (verified.event_id, verified.timestamp) == ("msg_1", NOW)
    # the public key as raw bytes, and without its prefix
    raw = base64.b64decode(public.removeprefix("whpk_"))
    for key in (raw, public.removeprefix("whpk_")):
        StandardWebhooksVerifier(public_keys=[key], clock=clock).verify(
            BODY, headers(v1a_entry(private, "msg_1", NOW, BODY))
        )


def test_v1a_wrong_key_tampered_body_or_other_id_is_a_bad_signature() -> None:
    private, public = keypair()
    _, other = keypair()
    good = headers(v1a_entry(private, "msg_1", NOW, BODY))
    assert reason(StandardWebhooksVerifier(public_keys=other, clock=clock), BODY, good) == (
        "bad_signature"
    )
    verifier = StandardWebhooksVerifier(public_keys=public, clock=clock)
    assert reason(verifier, BODY + b" ", good) == "bad_signature"
    assert reason(verifier, BODY, dict(good, **{"webhook-id": "msg_2"})) == "bad_signature"
    assert reason(verifier, BODY, dict(good, **{"webhook-timestamp": str(NOW + 1)})) == (
        "bad_signature"
    )


def test_any_entry_of_the_configured_kind_verifies() -> None:
    """One header carrying a v1 (made by the library) and v1a entries (old and new key)."""
    old, old_public = keypair()
    new, new_public = keypair()
    mixed = " ".join(
        [
            library_v1("msg_1", NOW, BODY),
            v1a_entry(old, "msg_1", NOW, BODY),
            v1a_entry(new, "msg_1", NOW, BODY),
        ]
    )
    StandardWebhooksVerifier(SECRET, clock=clock).verify(BODY, headers(mixed))
    StandardWebhooksVerifier(public_keys=[new_public], clock=clock).verify(BODY, headers(mixed))
    StandardWebhooksVerifier(public_keys=[old_public], clock=clock).verify(BODY, headers(mixed))
    both = StandardWebhooksVerifier(SECRET, public_keys=new_public, clock=clock)
    both.verify(BODY, headers(mixed))
    # a forged v1 next to a good v1a: still accepted on the v1a (any entry verifies)
    forged = "v1," + base64.b64encode(b"x" * 32).decode() + " " + v1a_entry(new, "msg_1", NOW, BODY)
    both.verify(BODY, headers(forged))


def test_only_entries_of_an_unconfigured_kind_are_missing() -> None:
    private, public = keypair()
    only_v1 = headers(library_v1("msg_1", NOW, BODY))
    only_v1a = headers(v1a_entry(private, "msg_1", NOW, BODY))
    assert reason(StandardWebhooksVerifier(public_keys=public, clock=clock), BODY, only_v1) == (
        "missing_header"
    )
    assert reason(StandardWebhooksVerifier(SECRET, clock=clock), BODY, only_v1a) == (
        "missing_header"
    )
    verifier = StandardWebhooksVerifier(public_keys=public, clock=clock)
    assert reason(verifier, BODY, headers("v1a,not*base64")) == "malformed_header"
    assert reason(verifier, BODY, headers("v1a")) == "malformed_header"


def test_v1a_has_the_same_tolerance_as_v1() -> None:
    private, public = keypair()
    verifier = StandardWebhooksVerifier(public_keys=public, tolerance=300, clock=clock)
    for ts in (NOW - 300, NOW + 300):
        verifier.verify(BODY, headers(v1a_entry(private, "msg_1", ts, BODY), ts=ts))
    for ts in (NOW - 301, NOW + 301):
        v1a = headers(v1a_entry(private, "msg_1", ts, BODY), ts=ts)
        v1 = headers(library_v1("msg_1", ts, BODY), ts=ts)
        assert reason(verifier, BODY, v1a) == reason(
            StandardWebhooksVerifier(SECRET, tolerance=300, clock=clock), BODY, v1
        )


def test_our_signer_makes_v1a_entries_that_verify() -> None:
    private_key, public_key = signing.generate_standard_webhooks_key()
    signed = signing.sign_standard_webhooks(BODY, [SECRET, private_key], timestamp=NOW)
    assert signed["webhook-signature"].startswith("v1,")
    assert " v1a," in signed["webhook-signature"]
    StandardWebhooksVerifier(SECRET, clock=clock).verify(BODY, signed)
    StandardWebhooksVerifier(public_keys=public_key, clock=clock).verify(BODY, signed)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"secrets": ["whpk_" + "A" * 43]}, ["v1a", "public_keys"]),
        ({"secrets": ["whsk_" + "A" * 43]}, ["private", "public_keys"]),
        ({"public_keys": [SECRET]}, ["v1", "secrets"]),
        ({"public_keys": ["whsk_" + "A" * 43]}, ["private", "whpk_"]),
        ({"public_keys": ["whpk_" + base64.b64encode(b"short").decode()]}, ["32 bytes"]),
        ({"public_keys": ["whpk_!!!"]}, ["whpk_<base64>"]),
        ({}, ["whsec_", "whpk_"]),
    ],
)
def test_a_key_of_the_wrong_kind_names_the_setting_it_belongs_in(
    data: dict[str, list[str]], words: list[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        StandardWebhooksSettings.model_validate(data)
    message = str(info.value)
    for word in words:
        assert word in message
    assert "A" * 43 not in message  # the value is never echoed


def test_generic_section_takes_public_keys_and_refuses_the_wrong_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    private, public = keypair()
    section = GenericSettings(webhook_public_keys=[public], webhook_tolerance_s=1e9)
    spec = connectors.registry()["generic"].webhook
    assert spec is not None
    verifier = spec.verifier(section)
    assert verifier is not None
    verifier.verify(BODY, headers(v1a_entry(private, "msg_1", NOW, BODY)))
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_GENERIC__WEBHOOK_SECRETS", f'["{public}"]')
    with pytest.raises(SettingsError) as info:
        load_settings(sections=connectors.settings_sections())
    message = str(info.value)
    assert "\n" not in message
    assert "SWITCHBOARD_GENERIC__WEBHOOK_SECRETS" in message
    assert "put it in webhook_public_keys" in message
    assert public not in message
