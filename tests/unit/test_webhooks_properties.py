"""Property: whatever headers, body and URL arrive, a verifier either returns or
raises VerificationError; never ValueError, binascii.Error, UnicodeError,
TypeError, OverflowError... (a receiver would answer 500 instead of 401)."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.github import GitHubVerifier
from connectors.sendgrid import SendGridVerifier
from connectors.shopify import ShopifyVerifier
from connectors.slack import SlackVerifier
from connectors.stripe import StripeVerifier
from connectors.twilio import TwilioVerifier
from core.testing import signing
from core.webhooks import GenericHmacSettings, StandardWebhooksVerifier, VerificationError, Verifier

NOW = 1_700_000_000
SECRET = "s3cret-for-properties"
STD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SG_PRIVATE, SG_PUBLIC = signing.generate_sendgrid_key()
GENERIC = GenericHmacSettings(
    secrets=[SECRET],
    header="X-Sig",
    prefix="sha1=",
    algorithm="sha1",
    separator=",",
    template="{timestamp}.{id}.{body}",
    timestamp_header="X-Ts",
    id_header="X-Id",
)
PUBLIC = "https://hooks.example.com"


def clock() -> float:
    return NOW


Signer = Callable[[bytes, int], dict[str, str]]

# name -> (verifier, signer producing valid headers for (body, timestamp), URL)
VERIFIERS: dict[str, tuple[Verifier, Signer]] = {
    "stripe": (
        StripeVerifier([SECRET, "rotated-out-secret-7f3a"], clock=clock),
        lambda b, t: signing.sign_stripe(b, SECRET, t),
    ),
    "github": (GitHubVerifier(SECRET), lambda b, t: signing.sign_github(b, SECRET)),
    "slack": (SlackVerifier(SECRET, clock=clock), lambda b, t: signing.sign_slack(b, SECRET, t)),
    "shopify": (ShopifyVerifier(SECRET), lambda b, t: signing.sign_shopify(b, SECRET)),
    "twilio": (
        TwilioVerifier(SECRET, public_url=PUBLIC),
        lambda b, t: signing.sign_twilio(PUBLIC + "/x?a=1", b, SECRET),
    ),
    "sendgrid": (
        SendGridVerifier(SG_PUBLIC, clock=clock),
        lambda b, t: signing.sign_sendgrid(b, SG_PRIVATE, t),
    ),
    "standard_webhooks": (
        StandardWebhooksVerifier(STD_SECRET, clock=clock),
        lambda b, t: signing.sign_standard_webhooks(b, STD_SECRET, msg_id="m", timestamp=t),
    ),
    "svix": (
        StandardWebhooksVerifier(STD_SECRET, clock=clock),
        lambda b, t: signing.sign_standard_webhooks(
            b, STD_SECRET, msg_id="m", timestamp=t, svix=True
        ),
    ),
    "generic_hmac": (
        GENERIC.build(clock=clock),
        lambda b, t: signing.sign_generic(b, GENERIC, timestamp=t, delivery_id="d"),
    ),
}

KNOWN_NAMES = sorted(
    {
        "Stripe-Signature",
        "X-Hub-Signature-256",
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        "X-Shopify-Hmac-Sha256",
        "X-Twilio-Signature",
        "X-Twilio-Webhooks-Signature-Settings",
        "X-Twilio-Email-Event-Webhook-Signature",
        "X-Twilio-Email-Event-Webhook-Timestamp",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "X-Sig",
        "X-Ts",
        "X-Id",
    }
)

names = st.one_of(
    st.sampled_from(KNOWN_NAMES),
    st.sampled_from(KNOWN_NAMES).map(str.upper),
    st.text(max_size=20),
)
fragments = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.hexdigits, max_size=130),
    st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=100),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["t=", "v1=", "v0=", "v1,", "sha256=", "sha1=", ",", " ", "=", "algorithm="]),
)
values = st.lists(fragments, max_size=6).map("".join)
headers_strategy = st.dictionaries(names, values, max_size=8)
urls = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(max_size=40).map(lambda s: "/" + s),
    st.text(max_size=40).map(lambda s: "https://" + s),
    st.sampled_from(["http://h:99999/x", "https://[::1/x", "/x?bodySHA256=zz", "//x"]),
)
timestamps = st.one_of(st.integers(NOW - 1000, NOW + 1000), st.integers(0, 10**13))
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _verify_or_reject(
    verifier: Verifier, body: bytes, headers: Mapping[str, str], url: object
) -> None:
    error: VerificationError | None = None
    try:
        verifier.verify(body, headers, url=url)  # type: ignore[arg-type]
    except VerificationError as exc:
        error = exc
    if error is not None:
        assert error.reason
        assert SECRET not in str(error)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@PROPERTY
@given(body=st.binary(max_size=300), headers=headers_strategy, url=urls)
def test_arbitrary_input_is_accepted_or_rejected_cleanly(
    name: str, body: bytes, headers: dict[str, str], url: str | None
) -> None:
    _verify_or_reject(VERIFIERS[name][0], body, headers, url)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@PROPERTY
@given(
    body=st.binary(max_size=200),
    ts=timestamps,
    replace=st.dictionaries(st.sampled_from(KNOWN_NAMES), values, max_size=2),
    drop=st.booleans(),
    url=st.one_of(st.just("/x?a=1"), urls),
)
def test_mutated_valid_delivery_is_accepted_or_rejected_cleanly(
    name: str, body: bytes, ts: int, replace: dict[str, str], drop: bool, url: str | None
) -> None:
    verifier, sign = VERIFIERS[name]
    try:
        headers = sign(body, ts)
    except UnicodeDecodeError:  # the Twilio signer needs a form body
        headers = sign(b"a=1", ts)
    if drop and headers:
        headers.pop(next(iter(headers)))
    headers.update(replace)
    _verify_or_reject(verifier, body, headers, url)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@PROPERTY
@given(body=st.binary(max_size=200), ts=st.integers(NOW - 299, NOW + 299))
def test_signed_delivery_verifies(name: str, body: bytes, ts: int) -> None:
    verifier, sign = VERIFIERS[name]
    if name == "twilio":
        body = b"a=" + body.hex().encode()
    verifier.verify(body, sign(body, ts), url="/x?a=1")
