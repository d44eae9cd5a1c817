"""Every scheme against its provider's official library, on fresh payloads.

The official SDKs sign (``stripe``, ``slack_sdk``, ``twilio``,
``standardwebhooks``, ``svix``; SendGrid's key is ours, its verifier the
oracle) and our verifiers must agree; our signers in
:mod:`core.testing.signing` must satisfy the SDKs' verifiers. GitHub,
Shopify and generic HMAC have no Python SDK verifier: the oracle is a
direct :mod:`hmac` computation written out in the test.

For each scheme: valid, tampered body, wrong secret, rotated secrets (old
and new both accepted), stale and future timestamps where the scheme signs
one, and malformed headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import slack_sdk.signature
import standardwebhooks
import stripe
import svix.webhooks
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDict, CIMultiDictProxy
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from connectors.github import GitHubVerifier
from connectors.sendgrid import SendGridVerifier
from connectors.shopify import ShopifyVerifier
from connectors.slack import SlackVerifier
from connectors.stripe import StripeVerifier
from connectors.twilio import TwilioVerifier
from core.testing import signing
from core.webhooks import GenericHmacSettings, StandardWebhooksVerifier, VerificationError, Verifier

NOW = 1_700_000_000
PUBLIC = "https://hooks.example.com"
PATH = "/webhooks/acme?tenant=1"
JSON_BODY = b'{"id":"evt_1","type":"thing.created","data":{"n":1,"s":"\xc3\xa9"}}'
FORM_PARAMS = [
    ("AccountSid", "AC1"),
    ("Body", "hi & bye"),
    ("From", "+1555"),
    ("Digits", "2"),
    ("Digits", "1"),
    ("Empty", ""),
]
FORM_BODY = urlencode(FORM_PARAMS).encode()


def clock() -> float:
    return NOW


@dataclass
class Case:
    """One scheme: how to make a secret, a verifier, and an oracle-signed delivery."""

    name: str
    new_secret: Callable[[], Any]
    make: Callable[[list[Any]], Verifier]
    # (body, secret, timestamp) -> (headers, url)
    sign: Callable[[bytes, Any, int], tuple[dict[str, str], str | None]]
    body: bytes = JSON_BODY
    tamper: Callable[[bytes], bytes] = field(default=lambda b: b + b" ")
    timestamped: bool = True


# Fixed secrets, handed out in turn: deterministic, and few, because every str
# secret a verifier gets is registered (process-wide) for log redaction.
_HEX_POOL = itertools.cycle([f"oracle-secret-{i}-{i * 7919:05x}" for i in range(8)])
_STD_POOL = itertools.cycle(
    ["whsec_" + base64.b64encode(f"oracle-std-key-{i}".encode()).decode() for i in range(8)]
)


def _hex_secret() -> str:
    return next(_HEX_POOL)


# --- oracle signers ---------------------------------------------------------


def stripe_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, ts)
    return {"Stripe-Signature": header}, None


def github_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}"}, None


def slack_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    sig = slack_sdk.signature.SignatureVerifier(secret).generate_signature(
        timestamp=str(ts), body=body
    )
    assert sig is not None
    return {"X-Slack-Signature": sig, "X-Slack-Request-Timestamp": str(ts)}, None


def shopify_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode()}, None


class _MultiDict(dict[str, list[str]]):
    """The ``getall`` mapping twilio's validator reads repeated form values from."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _form_params(body: bytes) -> _MultiDict:
    from urllib.parse import parse_qsl

    params = _MultiDict()
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def twilio_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    sig = RequestValidator(secret).compute_signature(PUBLIC + PATH, _form_params(body))
    return {"X-Twilio-Signature": sig}, PATH


def twilio_json_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    url = signing.twilio_json_url(PUBLIC + PATH, body)
    sig = RequestValidator(secret).compute_signature(url, {})
    return {"X-Twilio-Signature": sig}, url.removeprefix(PUBLIC)


def sendgrid_sign(
    body: bytes, key: ec.EllipticCurvePrivateKey, ts: int
) -> tuple[dict[str, str], str | None]:
    sig = key.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(ts),
    }
    return headers, None


def _std_secret() -> str:
    return next(_STD_POOL)


def std_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    msg_id = f"msg_{secrets.token_hex(6)}"
    when = datetime.fromtimestamp(ts, tz=UTC)
    sig = standardwebhooks.Webhook(secret).sign(msg_id, when, body.decode())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}
    return headers, None


def svix_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    msg_id = f"msg_{secrets.token_hex(6)}"
    when = datetime.fromtimestamp(ts, tz=UTC)
    sig = svix.webhooks.Webhook(secret).sign(msg_id, when, body.decode())
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sig}, None


def _generic_settings(secrets_: list[str]) -> GenericHmacSettings:
    return GenericHmacSettings(
        secrets=secrets_,
        header="X-Acme-Signature",
        algorithm="sha512",
        prefix="v1=",
        encoding="base64",
        template="{id}:{timestamp}:{body}",
        timestamp_header="X-Acme-Timestamp",
        id_header="X-Acme-Delivery",
    )


def generic_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    content = f"dlv_1:{ts}:".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha512).digest()
    headers = {
        "X-Acme-Signature": "v1=" + base64.b64encode(digest).decode(),
        "X-Acme-Timestamp": str(ts),
        "X-Acme-Delivery": "dlv_1",
    }
    return headers, None


def _sendgrid_verifier(keys: list[ec.EllipticCurvePrivateKey]) -> Verifier:
    return SendGridVerifier([k.public_key() for k in keys], clock=clock)


CASES = [
    Case("stripe", _hex_secret, lambda s: StripeVerifier(s, clock=clock), stripe_sign),
    Case("github", _hex_secret, GitHubVerifier, github_sign, timestamped=False),
    Case("slack", _hex_secret, lambda s: SlackVerifier(s, clock=clock), slack_sign),
    Case("shopify", _hex_secret, ShopifyVerifier, shopify_sign, timestamped=False),
    Case(
        "twilio_form",
        _hex_secret,
        lambda s: TwilioVerifier(s, public_url=PUBLIC),
        twilio_sign,
        body=FORM_BODY,
        tamper=lambda b: b.replace(b"Digits=2", b"Digits=3"),
        timestamped=False,
    ),
    Case(
        "twilio_json",
        _hex_secret,
        lambda s: TwilioVerifier(s, public_url=PUBLIC),
        twilio_json_sign,
        timestamped=False,
    ),
    Case(
        "sendgrid",
        lambda: ec.generate_private_key(ec.SECP256R1()),
        _sendgrid_verifier,
        sendgrid_sign,
    ),
    Case(
        "standard_webhooks",
        _std_secret,
        lambda s: StandardWebhooksVerifier(s, clock=clock),
        std_sign,
    ),
    Case("svix", _std_secret, lambda s: StandardWebhooksVerifier(s, clock=clock), svix_sign),
    Case(
        "generic_hmac",
        _hex_secret,
        lambda s: _generic_settings(s).build(clock=clock),
        generic_sign,
    ),
]
TIMESTAMPED = [c for c in CASES if c.timestamped]


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def _reason(case: Case, secrets_: list[Any], body: bytes, headers: Any, url: str | None) -> str:
    with pytest.raises(VerificationError) as info:
        case.make(secrets_).verify(body, headers, url=url)
    return info.value.reason


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_valid(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    case.make([secret]).verify(case.body, headers, url=url)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_header_names_are_case_insensitive(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    verifier = case.make([secret])
    verifier.verify(case.body, {k.upper(): v for k, v in headers.items()}, url=url)
    verifier.verify(case.body, {k.lower(): v for k, v in headers.items()}, url=url)
    verifier.verify(case.body, httpx.Headers(headers), url=url)
    verifier.verify(case.body, CIMultiDictProxy(CIMultiDict(headers)), url=url)  # aiohttp's


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_tampered_body(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    reason = _reason(case, [secret], case.tamper(case.body), headers, url)
    assert reason in {"bad_signature", "body_mismatch"}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_wrong_secret(case: Case) -> None:
    headers, url = case.sign(case.body, case.new_secret(), NOW)
    assert _reason(case, [case.new_secret()], case.body, headers, url) == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_rotated_secrets_accept_old_and_new(case: Case) -> None:
    old, new = case.new_secret(), case.new_secret()
    verifier = case.make([old, new])
    for secret in (old, new):
        headers, url = case.sign(case.body, secret, NOW)
        verifier.verify(case.body, headers, url=url)
    headers, url = case.sign(case.body, case.new_secret(), NOW)
    with pytest.raises(VerificationError):
        verifier.verify(case.body, headers, url=url)


@pytest.mark.parametrize("case", TIMESTAMPED, ids=_ids(TIMESTAMPED))
@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-301, "stale_timestamp"), (301, "future_timestamp"), (-299, None), (299, None)],
)
def test_timestamp_tolerance_both_ways(case: Case, offset: int, reason: str | None) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW + offset)
    if reason is None:
        case.make([secret]).verify(case.body, headers, url=url)
    else:
        assert _reason(case, [secret], case.body, headers, url) == reason


JUNK = [
    "",
    " ",
    "garbage",
    "=",
    ",",
    "t=,v1=",
    "v1,",
    "sha256=",
    "v0=zz",
    "\u00e9\u00e9",
    "0" * 9999,
]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_malformed_or_missing_headers(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    verifier = case.make([secret])
    for name in headers:
        missing = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(VerificationError):
            verifier.verify(case.body, missing, url=url)
        for junk in JUNK:
            with pytest.raises(VerificationError):
                verifier.verify(case.body, dict(headers, **{name: junk}), url=url)


# --- our signers against the official verifiers ---------------------------


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
    assert RequestValidator("tok").validate(url, _form_params(FORM_BODY), sig)
    json_url = signing.twilio_json_url(url, JSON_BODY)
    sig = signing.sign_twilio(json_url, JSON_BODY, "tok")["X-Twilio-Signature"]
    assert RequestValidator("tok").validate(json_url, JSON_BODY.decode(), sig)


def test_sign_twilio_sha256_shared_key() -> None:
    url = PUBLIC + PATH
    headers = signing.sign_twilio(url, FORM_BODY, "tok", algorithm="sha256")
    assert RequestValidator("tok").validate(
        url, _form_params(FORM_BODY), headers["X-Twilio-Signature"], algorithm="HMAC_SHA256"
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
    secret = _std_secret()
    headers = signing.sign_standard_webhooks(JSON_BODY, secret)
    standardwebhooks.Webhook(secret).verify(JSON_BODY, headers)
    svix_headers = signing.sign_standard_webhooks(JSON_BODY, secret, svix=True)
    svix.webhooks.Webhook(secret).verify(JSON_BODY, svix_headers)


def test_sign_github_shopify_generic_match_the_hmac_oracle() -> None:
    assert signing.sign_github(JSON_BODY, "k") == github_sign(JSON_BODY, "k", NOW)[0]
    assert signing.sign_shopify(JSON_BODY, "k") == shopify_sign(JSON_BODY, "k", NOW)[0]
    generic = signing.sign_generic(
        JSON_BODY, _generic_settings(["k"]), timestamp=NOW, delivery_id="dlv_1"
    )
    assert generic == generic_sign(JSON_BODY, "k", NOW)[0]
