"""Our signers (:mod:`core.testing.signing`) against the official verifiers.

Each provider's SDK (``stripe``, ``slack_sdk``, ``twilio``, SendGrid's
helper, ``standardwebhooks``, ``svix``) must accept what we sign; GitHub,
Shopify and generic HMAC have no SDK verifier, so they must match the
direct :mod:`hmac` oracle of :mod:`tests.unit.webhook_oracles`.
"""

from __future__ import annotations

import slack_sdk.signature
import standardwebhooks
import stripe
import svix.webhooks
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from connectors.sendgrid import SendGridVerifier
from connectors.twilio import TwilioVerifier
from core.testing import signing
from tests.unit.webhook_oracles import (
    FORM_BODY,
    JSON_BODY,
    NOW,
    PATH,
    PUBLIC,
    form_params,
    generic_settings,
    generic_sign,
    github_sign,
    shopify_sign,
    std_secret,
)


def test_sign_stripe_satisfies_stripe_sdk() -> None:
    header = signing.sign_stripe(JSON_BODY, ["whsec_old", "whsec_new"])["Stripe-Signature"]
    for secret in ("whsec_old", "whsec_new"):
        assert stripe.WebhookSignature.verify_header(JSON_BODY, header, secret, 300)


def test_sign_slack_satisfies_slack_sdk() -> None:
    headers = signing.sign_slack(JSON_BODY, "s3cret")
    assert slack_sdk.signature.SignatureVerifier("s3cret").is_valid_request(JSON_BODY, headers)


def test_sign_twilio_satisfies_twilio_sdk() -> None:
    url = PUBLIC + PATH
    sig = signing.sign_twilio(url, FORM_BODY, "tok")["X-Twilio-Signature"]
    assert RequestValidator("tok").validate(url, form_params(FORM_BODY), sig)
    json_url = signing.twilio_json_url(url, JSON_BODY)
    sig = signing.sign_twilio(json_url, JSON_BODY, "tok")["X-Twilio-Signature"]
    assert RequestValidator("tok").validate(json_url, JSON_BODY.decode(), sig)


def test_sign_twilio_sha256_shared_key() -> None:
    url = PUBLIC + PATH
    headers = signing.sign_twilio(url, FORM_BODY, "tok", algorithm="sha256")
    assert RequestValidator("tok").validate(
        url, form_params(FORM_BODY), headers["X-Twilio-Signature"], algorithm="HMAC_SHA256"
    )
    TwilioVerifier("tok").verify(FORM_BODY, headers, url=url)


def test_sign_sendgrid_satisfies_sendgrid_helper() -> None:
    private, public_b64 = signing.generate_sendgrid_key()
    headers = signing.sign_sendgrid(JSON_BODY, private)
    helper = EventWebhook(public_b64)
    assert helper.verify_signature(
        JSON_BODY.decode(),
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    SendGridVerifier(public_b64).verify(JSON_BODY, headers)


def test_sign_standard_webhooks_satisfies_both_libraries() -> None:
    secret = std_secret()
    headers = signing.sign_standard_webhooks(JSON_BODY, secret)
    standardwebhooks.Webhook(secret).verify(JSON_BODY, headers)
    svix_headers = signing.sign_standard_webhooks(JSON_BODY, secret, svix=True)
    svix.webhooks.Webhook(secret).verify(JSON_BODY, svix_headers)


def test_sign_github_shopify_generic_match_the_hmac_oracle() -> None:
    assert signing.sign_github(JSON_BODY, "k") == github_sign(JSON_BODY, "k", NOW)[0]
    assert signing.sign_shopify(JSON_BODY, "k") == shopify_sign(JSON_BODY, "k", NOW)[0]
    generic = signing.sign_generic(
        JSON_BODY, generic_settings(["k"]), timestamp=NOW, delivery_id="dlv_1"
    )
    assert generic == generic_sign(JSON_BODY, "k", NOW)[0]
