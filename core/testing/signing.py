"""Signers: valid webhook headers for every built-in scheme (core's and the connectors').

For tests, the demo and benchmarks that send signed deliveries to the ingest
server. Each returns the headers to send with exactly the ``body`` bytes
given::

    body = orjson.dumps({"id": "evt_1", "type": "payment_intent.succeeded"})
    headers = sign_stripe(body, "whsec_test")
    httpx.post(url, content=body, headers=headers)

``timestamp`` (epoch seconds) defaults to now; pass an old or future one to
exercise the tolerance. Secrets are plain strings here (tests own them).
These functions compute signatures independently of the verifiers' code, so
a verifier bug is not mirrored by its signer; the providers' own SDKs check
both in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Sequence
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.webhooks import GenericHmacSettings

__all__ = [
    "generate_sendgrid_key",
    "generate_standard_webhooks_key",
    "sign_generic",
    "sign_github",
    "sign_sendgrid",
    "sign_shopify",
    "sign_slack",
    "sign_standard_webhooks",
    "sign_stripe",
    "sign_twilio",
    "twilio_json_url",
]


def _now(timestamp: int | None) -> int:
    return int(time.time()) if timestamp is None else int(timestamp)


def _hmac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _secrets(secret: str | Sequence[str]) -> list[str]:
    return [secret] if isinstance(secret, str) else list(secret)


def sign_stripe(
    body: bytes, secret: str | Sequence[str], timestamp: int | None = None
) -> dict[str, str]:
    """``Stripe-Signature: t=<ts>,v1=<hex>``; one ``v1`` per secret given (as
    Stripe does while an endpoint secret is rolled)."""
    ts = str(_now(timestamp))
    v1 = [_hmac(s.encode(), ts.encode() + b"." + body).hex() for s in _secrets(secret)]
    return {"Stripe-Signature": ",".join([f"t={ts}", *(f"v1={sig}" for sig in v1)])}


def sign_github(body: bytes, secret: str) -> dict[str, str]:
    """``X-Hub-Signature-256: sha256=<hex>``."""
    return {"X-Hub-Signature-256": "sha256=" + _hmac(secret.encode(), body).hex()}


def sign_slack(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """``X-Slack-Signature: v0=<hex>`` and ``X-Slack-Request-Timestamp``."""
    ts = str(_now(timestamp))
    sig = _hmac(secret.encode(), b"v0:" + ts.encode() + b":" + body).hex()
    return {"X-Slack-Signature": "v0=" + sig, "X-Slack-Request-Timestamp": ts}


def sign_shopify(body: bytes, secret: str) -> dict[str, str]:
    """``X-Shopify-Hmac-Sha256: <base64>``."""
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(_hmac(secret.encode(), body)).decode()}


def twilio_json_url(url: str, body: bytes) -> str:
    """``url`` with ``bodySHA256=<hex SHA-256 of body>`` appended to its query,
    as Twilio does for JSON bodies; sign and send to this URL."""
    parts = urlsplit(url)
    extra = urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def sign_twilio(
    url: str, body: bytes, auth_token: str, *, algorithm: str = "sha1"
) -> dict[str, str]:
    """``X-Twilio-Signature`` for a POST of ``body`` to the full public ``url``.

    A form body's parameters are appended sorted by name (then value); when
    ``url`` carries ``bodySHA256`` (see :func:`twilio_json_url`) only the URL
    is signed. ``algorithm="sha256"`` also returns the
    ``X-Twilio-Webhooks-Signature-Settings`` header that announces it.
    """
    content = url
    if "bodySHA256" not in parse_qs(urlsplit(url).query):
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        content += "".join(name + value for name, value in sorted(params))
    sig = base64.b64encode(_hmac(auth_token.encode(), content.encode(), algorithm)).decode()
    headers = {"X-Twilio-Signature": sig}
    if algorithm == "sha256":
        headers["X-Twilio-Webhooks-Signature-Settings"] = "key=test,algorithm=HMAC_SHA256"
    return headers


def generate_sendgrid_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh P-256 key pair: the private key (for :func:`sign_sendgrid`) and
    the public key as SendGrid shows it (base64 DER), for the verifier's settings."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sign_sendgrid(
    body: bytes, private_key: ec.EllipticCurvePrivateKey, timestamp: int | None = None
) -> dict[str, str]:
    """``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER ECDSA over
    ``timestamp + body``) and ``X-Twilio-Email-Event-Webhook-Timestamp``."""
    ts = str(_now(timestamp))
    sig = private_key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }


def generate_standard_webhooks_key() -> tuple[str, str]:
    """A fresh Standard Webhooks ``v1a`` key pair: ``(whsk_<base64 32-byte
    ed25519 seed>, whpk_<base64 32-byte raw public key>)``."""
    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "whsk_" + base64.b64encode(seed).decode(), "whpk_" + base64.b64encode(public).decode()


def sign_standard_webhooks(
    body: bytes,
    secret: str | Sequence[str],
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    svix: bool = False,
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one
    ``v1,<base64>`` per ``whsec_`` secret, one ``v1a,<base64>`` ed25519
    signature per ``whsk_`` private key of :func:`generate_standard_webhooks_key`,
    in the order given); the ``svix-*`` names with ``svix=True``.
    ``msg_id`` defaults to a fresh ``msg_<uuid>``."""
    ts = str(_now(timestamp))
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    content = f"{msg_id}.{ts}.".encode() + body
    sigs = []
    for s in _secrets(secret):
        if s.startswith("whsk_"):
            seed = base64.b64decode(s.removeprefix("whsk_"))
            private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
            sigs.append("v1a," + base64.b64encode(private.sign(content)).decode())
            continue
        text = s.removeprefix("whsec_")
        key = base64.b64decode(text + "=" * (-len(text) % 4))
        sigs.append("v1," + base64.b64encode(_hmac(key, content)).decode())
    prefix = "svix" if svix else "webhook"
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": ts,
        f"{prefix}-signature": " ".join(sigs),
    }


def sign_generic(
    body: bytes,
    settings: GenericHmacSettings,
    *,
    timestamp: int | None = None,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """Headers for a generic HMAC webhook as ``settings`` describe it, signed
    with every configured secret (joined by ``separator`` when set, else the
    first secret only). ``delivery_id`` defaults to a fresh uuid."""
    headers: dict[str, str] = {}
    ts = str(_now(timestamp))
    ident = delivery_id or uuid.uuid4().hex
    if settings.timestamp_header:
        headers[settings.timestamp_header] = ts
    if settings.id_header:
        headers[settings.id_header] = ident
    marker = "\x00BODY\x00"
    text = settings.template.replace("{body}", marker).format(timestamp=ts, id=ident)
    content = body.join(part.encode() for part in text.split(marker))
    secrets = [s.get_secret_value() for s in settings.secrets]
    if settings.separator is None:
        secrets = secrets[:1]
    sigs = []
    for secret in secrets:
        digest = _hmac(secret.encode(), content, settings.algorithm)
        encoded = digest.hex() if settings.encoding == "hex" else base64.b64encode(digest).decode()
        sigs.append(settings.prefix + encoded)
    headers[settings.header] = (settings.separator or "").join(sigs)
    return headers
