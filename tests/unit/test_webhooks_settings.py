"""Settings models, construction-time validation, the error type and the public surface."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ValidationError

import core.webhooks
from connectors.github import GitHubVerifier, GitHubWebhookSettings
from connectors.sendgrid import SendGridVerifier, SendGridWebhookSettings
from connectors.shopify import ShopifyWebhookSettings
from connectors.slack import SlackWebhookSettings
from connectors.stripe import StripeVerifier, StripeWebhookSettings
from connectors.twilio import TwilioVerifier, TwilioWebhookSettings
from core.errors import SwitchboardError
from core.testing import signing
from core.webhooks import (
    GenericHmacSettings,
    StandardWebhooksSettings,
    StandardWebhooksVerifier,
    VerificationError,
    Verifier,
    WebhookSettings,
    build_verifier,
    webhook_settings_adapter,
)

NOW = 1_700_000_000
BODY = b'{"id":"evt_1"}'


def clock() -> float:
    return NOW


def test_public_surface_names_no_provider() -> None:
    assert sorted(core.webhooks.__all__) == [
        "Clock",
        "DEFAULT_TOLERANCE",
        "EcdsaKeys",
        "GenericHmacSettings",
        "GenericHmacVerifier",
        "Headers",
        "HmacKeys",
        "KeyList",
        "MAX_SIGNATURES",
        "PublicKey",
        "PublicKeysSettings",
        "Reason",
        "SchemeSettings",
        "SecretList",
        "SecretsSettings",
        "StandardWebhooksSettings",
        "StandardWebhooksVerifier",
        "TimestampedHmac",
        "TimestampedSecretsSettings",
        "Tolerance",
        "VerificationError",
        "Verified",
        "Verifier",
        "WebhookScheme",
        "WebhookSettings",
        "b64decode",
        "body_digest",
        "build_verifier",
        "check_tolerance",
        "decode_standard_public_key",
        "decode_standard_secret",
        "hexdecode",
        "load_p256_public_key",
        "nonempty_secrets",
        "parse_timestamp",
        "secret_list",
        "tolerance_argument",
        "webhook_settings_adapter",
    ]
    for name in core.webhooks.__all__:
        assert getattr(core.webhooks, name) is not None


def test_verification_error_is_the_one_root_error_and_safe_to_log() -> None:
    secret = "whsec_never_in_a_message_123"
    with pytest.raises(VerificationError) as info:
        StripeVerifier(secret, clock=clock).verify(
            b"secret body", {"Stripe-Signature": "t=1,v1=00"}
        )
    err = info.value
    assert isinstance(err, SwitchboardError)
    assert err.reason == "bad_signature"
    assert err.scheme == "stripe"
    assert err.retryable is False
    text = str(err)
    assert secret not in text
    assert "secret body" not in text
    assert len(text) < 120
    assert err.to_error_info().code == "verification_failed"


def test_every_verifier_satisfies_the_protocol() -> None:
    _, public = signing.generate_sendgrid_key()
    verifiers = [
        StripeWebhookSettings(secrets=["a"]).build(),
        GitHubWebhookSettings(secrets=["a"]).build(),
        SlackWebhookSettings(secrets=["a"]).build(),
        ShopifyWebhookSettings(secrets=["a"]).build(),
        TwilioWebhookSettings(auth_tokens=["a"]).build(),
        SendGridWebhookSettings(public_keys=[public]).build(),
        StandardWebhooksSettings(secrets=["whsec_YWJj"]).build(),
        GenericHmacSettings(secrets=["a"], header="X-Sig").build(),
    ]
    for verifier in verifiers:
        assert isinstance(verifier, Verifier)


def test_settings_build_uses_clock_and_tolerance() -> None:
    settings = StripeWebhookSettings(secrets=["whsec_old", "whsec_new"], tolerance=10)
    headers = signing.sign_stripe(BODY, "whsec_new", timestamp=NOW - 11)
    with pytest.raises(VerificationError) as info:
        settings.build(clock=clock).verify(BODY, headers)
    assert info.value.reason == "stale_timestamp"
    StripeWebhookSettings(secrets=["whsec_new"], tolerance=None).build(clock=clock).verify(
        BODY, headers
    )


def test_a_single_secret_string_is_a_one_item_list_and_stays_secret() -> None:
    settings = SlackWebhookSettings(secrets="sl4ck-secret")
    assert [s.get_secret_value() for s in settings.secrets] == ["sl4ck-secret"]
    assert "sl4ck-secret" not in repr(settings)
    assert "sl4ck-secret" not in str(settings.model_dump())


def test_union_chooses_by_type_and_builds() -> None:
    settings = webhook_settings_adapter.validate_python(
        {"type": "standard_webhooks", "secrets": ["whsec_YWJj"]}
    )
    verifier = build_verifier(settings)
    assert isinstance(verifier, StandardWebhooksVerifier)
    assert isinstance(build_verifier(GitHubWebhookSettings(secrets=["s"])), GitHubVerifier)

    class Section(BaseModel):
        webhook: WebhookSettings

    section = Section.model_validate(
        {"webhook": {"type": "hmac", "secrets": ["k"], "header": "X-Signature"}}
    )
    assert isinstance(section.webhook, GenericHmacSettings)
    with pytest.raises(ValidationError) as info:
        Section.model_validate({"webhook": {"type": "nope", "secrets": ["k"]}})
    assert "type" in str(info.value)


@pytest.mark.parametrize(
    ("model", "data", "setting"),
    [
        (StripeWebhookSettings, {"secrets": []}, "secrets"),
        (StripeWebhookSettings, {"secrets": [""]}, "secrets"),
        (StripeWebhookSettings, {"secrets": ["a"], "tolerance": -1}, "tolerance"),
        (StripeWebhookSettings, {"secrets": ["a"], "tolerence": 5}, "tolerence"),
        (GitHubWebhookSettings, {}, "secrets"),
        (StandardWebhooksSettings, {"secrets": ["whsec_!!!"]}, "secrets"),
        (TwilioWebhookSettings, {"auth_tokens": ["a"], "public_url": "ftp://x"}, "public_url"),
        (
            TwilioWebhookSettings,
            {"auth_tokens": ["a"], "public_url": "https://h/?q=1"},
            "public_url",
        ),
        (
            TwilioWebhookSettings,
            {"auth_tokens": ["a"], "public_url": "https://h:99999"},
            "public_url",
        ),
        (SendGridWebhookSettings, {"public_keys": ["bm90IGEga2V5"]}, "public_keys"),
    ],
)
def test_invalid_settings_name_the_setting(
    model: type[BaseModel], data: dict[str, object], setting: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert setting in str(info.value)


@pytest.mark.parametrize(
    ("data", "setting"),
    [
        ({"header": "X-Sig"}, "secrets"),
        ({"secrets": ["k"]}, "header"),
        ({"secrets": ["k"], "header": "X Sig"}, "header"),
        ({"secrets": ["k"], "header": "X-Sig", "algorithm": "md5"}, "algorithm"),
        ({"secrets": ["k"], "header": "X-Sig", "encoding": "base32"}, "encoding"),
        ({"secrets": ["k"], "header": "X-Sig", "template": "{timestamp}"}, "template"),
        ({"secrets": ["k"], "header": "X-Sig", "template": "{body}{nonce}"}, "template"),
        ({"secrets": ["k"], "header": "X-Sig", "template": "{body!r}"}, "template"),
        ({"secrets": ["k"], "header": "X-Sig", "template": "{body"}, "template"),
        (
            {"secrets": ["k"], "header": "X-Sig", "template": "{timestamp}.{body}"},
            "timestamp_header",
        ),
        ({"secrets": ["k"], "header": "X-Sig", "timestamp_header": "X-Ts"}, "timestamp_header"),
        ({"secrets": ["k"], "header": "X-Sig", "template": "{id}.{body}"}, "id_header"),
        ({"secrets": ["k"], "header": "X-Sig", "tolerance": -5}, "tolerance"),
        ({"secrets": ["k"], "header": "X-Sig", "separator": ""}, "separator"),
    ],
)
def test_generic_hmac_invalid_config_fails_at_construction(
    data: dict[str, object], setting: str
) -> None:
    with pytest.raises(ValidationError) as info:
        GenericHmacSettings.model_validate(data)
    assert setting in str(info.value)


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="secrets"):
        StripeVerifier([])
    with pytest.raises(ValueError, match="secrets"):
        GitHubVerifier([""])
    with pytest.raises(ValueError, match="tolerance"):
        StripeVerifier("a", tolerance=-1)
    with pytest.raises(ValueError, match="auth_tokens"):
        TwilioVerifier([])
    with pytest.raises(ValueError, match="public_url"):
        TwilioVerifier("a", public_url="/relative")
    with pytest.raises(ValueError, match="secrets"):
        StandardWebhooksVerifier("whsec_")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="P-256"):
        SendGridVerifier(p384)
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError, match="public_keys"):
        SendGridVerifier(pem)
    with pytest.raises(ValueError, match="public_keys"):
        SendGridVerifier([])


def test_secrets_from_environment_plain_or_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Acme(BaseModel):
        webhook: StripeWebhookSettings
        hmac: GenericHmacSettings

    class Env(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="SBTEST_", env_nested_delimiter="__")
        acme: Acme

    monkeypatch.setenv("SBTEST_ACME__WEBHOOK__SECRETS", "whsec_plain")
    monkeypatch.setenv("SBTEST_ACME__WEBHOOK__TOLERANCE", "60")
    monkeypatch.setenv("SBTEST_ACME__HMAC__SECRETS", '["old", "new"]')
    monkeypatch.setenv("SBTEST_ACME__HMAC__HEADER", "X-Sig")
    acme = Env().acme
    assert [s.get_secret_value() for s in acme.webhook.secrets] == ["whsec_plain"]
    assert acme.webhook.tolerance == 60
    assert [s.get_secret_value() for s in acme.hmac.secrets] == ["old", "new"]
    with pytest.raises(ValidationError, match="secrets"):
        StripeWebhookSettings(secrets='["unterminated')
