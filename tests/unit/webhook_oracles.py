"""The webhook oracles the oracle tests share: oracle signers built on each
provider's official library (or a direct :mod:`hmac` computation where a
provider has none), fixed secrets, the payloads, and one :class:`Case` per
scheme (secret, verifier, oracle-signed delivery)."""

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

import slack_sdk.signature
import standardwebhooks
import stripe
import svix.webhooks
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from connectors.github import GitHubVerifier
from connectors.sendgrid import SendGridVerifier
from connectors.shopify import ShopifyVerifier
from connectors.slack import SlackVerifier
from connectors.stripe import StripeVerifier
from connectors.twilio import TwilioVerifier
from core.testing import signing
from core.webhooks import GenericHmacSettings, StandardWebhooksVerifier, Verifier

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


def form_params(body: bytes) -> _MultiDict:
    from urllib.parse import parse_qsl

    params = _MultiDict()
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def twilio_sign(body: bytes, secret: str, ts: int) -> tuple[dict[str, str], str | None]:
    sig = RequestValidator(secret).compute_signature(PUBLIC + PATH, form_params(body))
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


def std_secret() -> str:
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


def generic_settings(secrets_: list[str]) -> GenericHmacSettings:
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
        std_secret,
        lambda s: StandardWebhooksVerifier(s, clock=clock),
        std_sign,
    ),
    Case("svix", std_secret, lambda s: StandardWebhooksVerifier(s, clock=clock), svix_sign),
    Case(
        "generic_hmac",
        _hex_secret,
        lambda s: generic_settings(s).build(clock=clock),
        generic_sign,
    ),
]
TIMESTAMPED = [c for c in CASES if c.timestamped]
