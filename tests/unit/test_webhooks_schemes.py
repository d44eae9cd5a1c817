"""Scheme-specific behaviour the oracle matrix does not reach: header grammar,
reasons, Twilio URL handling, generic templates, odd header mappings."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode

import pytest

from connectors.github import GitHubVerifier
from connectors.shopify import ShopifyVerifier
from connectors.slack import SlackVerifier
from connectors.stripe import StripeVerifier
from connectors.twilio import TwilioVerifier
from core.testing import signing
from core.webhooks import GenericHmacSettings, StandardWebhooksVerifier, VerificationError, Verifier

NOW = 1_700_000_000
BODY = b'{"id":"evt_1","amount":100}'
BINARY_BODY = b"\xff\xfe\x00not utf-8\x80"


def clock() -> float:
    return NOW


def reason_of(
    verifier: Verifier, body: bytes, headers: Mapping[str, str], url: str | None = None
) -> str:
    with pytest.raises(VerificationError) as info:
        verifier.verify(body, headers, url=url)
    return info.value.reason


def _stripe_v1(secret: str, ts: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


# --- Stripe -----------------------------------------------------------------


def test_stripe_accepts_any_of_several_v1_and_ignores_v0() -> None:
    good = _stripe_v1("whsec_a", NOW, BODY)
    header = f"t={NOW},v0={'1' * 64},v1={'0' * 64},v1={good.upper()}"
    StripeVerifier("whsec_a", clock=clock).verify(BODY, {"Stripe-Signature": header})


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"t={NOW},v0={'1' * 64}", "missing_header"),
        (f"v1={'0' * 64}", "malformed_header"),
        (f"t=abc,v1={'0' * 64}", "malformed_header"),
        (f"t=-{NOW},v1={'0' * 64}", "malformed_header"),
        (f"t=1e9,v1={'0' * 64}", "malformed_header"),
        (f"t=\u0661\u0662,v1={'0' * 64}", "malformed_header"),  # Arabic-Indic digits
        (f"t={NOW},t={NOW},v1={'0' * 64}", "malformed_header"),
        (f"t={NOW},v1=xyz", "malformed_header"),
        (f"t={NOW},v1", "malformed_header"),
        (f"t={NOW}," + ",".join(["v1=00"] * 33), "malformed_header"),
        (f"t={NOW},v1={'0' * 64}", "bad_signature"),
    ],
)
def test_stripe_header_grammar(header: str, reason: str) -> None:
    verifier = StripeVerifier("whsec_a", clock=clock)
    assert reason_of(verifier, BODY, {"Stripe-Signature": header}) == reason


def test_stripe_signs_raw_bytes_not_text() -> None:
    headers = signing.sign_stripe(BINARY_BODY, "whsec_a", timestamp=NOW)
    StripeVerifier("whsec_a", clock=clock).verify(BINARY_BODY, headers)


def test_tolerance_edges_are_inclusive_and_none_disables() -> None:
    verifier = StripeVerifier("whsec_a", clock=clock)
    for ts in (NOW - 300, NOW + 300):
        verifier.verify(BODY, signing.sign_stripe(BODY, "whsec_a", timestamp=ts))
    ancient = signing.sign_stripe(BODY, "whsec_a", timestamp=1)
    StripeVerifier("whsec_a", tolerance=None, clock=clock).verify(BODY, ancient)


def test_forged_stale_delivery_reports_bad_signature_not_staleness() -> None:
    header = f"t={NOW - 9999},v1={'0' * 64}"
    verifier = StripeVerifier("whsec_a", clock=clock)
    assert reason_of(verifier, BODY, {"Stripe-Signature": header}) == "bad_signature"


# --- GitHub, Slack, Shopify ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("sha1=" + "0" * 40, "malformed_header"),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "malformed_header"),
        ("sha256=" + "0" * 63, "malformed_header"),
        ("sha256=" + "0" * 64, "bad_signature"),
    ],
)
def test_github_header_grammar(value: str, reason: str) -> None:
    verifier = GitHubVerifier("k")
    assert reason_of(verifier, BODY, {"X-Hub-Signature-256": value}) == reason


def test_github_ignores_the_legacy_sha1_header() -> None:
    assert reason_of(GitHubVerifier("k"), BODY, {"X-Hub-Signature": "sha1=00"}) == "missing_header"


def test_slack_rejects_other_versions_and_missing_timestamp() -> None:
    headers = signing.sign_slack(BODY, "k", timestamp=NOW)
    verifier = SlackVerifier("k", clock=clock)
    v1 = dict(headers, **{"X-Slack-Signature": headers["X-Slack-Signature"].replace("v0=", "v1=")})
    assert reason_of(verifier, BODY, v1) == "malformed_header"
    del headers["X-Slack-Request-Timestamp"]
    assert reason_of(verifier, BODY, headers) == "missing_header"


def test_shopify_rejects_non_base64_and_urlsafe_base64() -> None:
    verifier = ShopifyVerifier("k")
    digest = hmac.new(b"k", BODY, hashlib.sha256).digest()
    urlsafe = base64.urlsafe_b64encode(digest).decode()
    if "-" in urlsafe or "_" in urlsafe:
        assert reason_of(verifier, BODY, {"X-Shopify-Hmac-Sha256": urlsafe}) == "malformed_header"
    assert reason_of(verifier, BODY, {"X-Shopify-Hmac-Sha256": "not base64!"}) == "malformed_header"
    assert reason_of(verifier, BODY, {"X-Shopify-Hmac-Sha256": "AAAA"}) == "bad_signature"
    verifier.verify(BINARY_BODY, signing.sign_shopify(BINARY_BODY, "k"))


# --- Twilio -------------------------------------------------------------------

PUBLIC = "https://hooks.example.com"


def test_twilio_needs_a_url() -> None:
    headers = signing.sign_twilio(PUBLIC + "/t", b"a=1", "tok")
    assert reason_of(TwilioVerifier("tok"), b"a=1", headers) == "missing_url"
    assert reason_of(TwilioVerifier("tok"), b"a=1", headers, url="/t") == "missing_url"
    TwilioVerifier("tok").verify(b"a=1", headers, url=PUBLIC + "/t")
    TwilioVerifier("tok", public_url=PUBLIC).verify(b"a=1", headers, url="/t")
    TwilioVerifier("tok", public_url=PUBLIC).verify(b"a=1", headers, url="t")


def test_twilio_public_url_path_prefix() -> None:
    headers = signing.sign_twilio(PUBLIC + "/edge/webhooks/twilio?x=1", b"a=1", "tok")
    verifier = TwilioVerifier("tok", public_url=PUBLIC + "/edge/")
    verifier.verify(b"a=1", headers, url="/webhooks/twilio?x=1")
    assert reason_of(verifier, b"a=1", headers, url="/webhooks/twilio?x=2") == "bad_signature"


def test_twilio_repeated_identical_values_either_canonicalisation() -> None:
    body = urlencode([("To", "+1"), ("Media", "b"), ("Media", "a"), ("Media", "a")]).encode()
    url = PUBLIC + "/t"
    every = "".join(["https://hooks.example.com/t", "Mediaa", "Mediaa", "Mediab", "To+1"])
    once = "".join(["https://hooks.example.com/t", "Mediaa", "Mediab", "To+1"])
    verifier = TwilioVerifier("tok")
    for content in (every, once):
        sig = base64.b64encode(hmac.new(b"tok", content.encode(), "sha1").digest()).decode()
        verifier.verify(body, {"X-Twilio-Signature": sig}, url=url)


def test_twilio_sha256_shared_key_and_unknown_algorithm() -> None:
    url = PUBLIC + "/t"
    headers = signing.sign_twilio(url, b"a=1", "tok", algorithm="sha256")
    TwilioVerifier("tok").verify(b"a=1", headers, url=url)
    sha1_headers = signing.sign_twilio(url, b"a=1", "tok")
    downgraded = dict(
        sha1_headers, **{"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256"}
    )
    assert reason_of(TwilioVerifier("tok"), b"a=1", downgraded, url=url) == "bad_signature"
    unknown = dict(headers, **{"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"})
    assert reason_of(TwilioVerifier("tok"), b"a=1", unknown, url=url) == "malformed_header"


def test_twilio_body_checks() -> None:
    url = PUBLIC + "/t"
    headers = signing.sign_twilio(url, b"a=1", "tok")
    assert reason_of(TwilioVerifier("tok"), BINARY_BODY, headers, url=url) == "malformed_body"
    json_url = signing.twilio_json_url(url, BODY)
    headers = signing.sign_twilio(json_url, BODY, "tok")
    TwilioVerifier("tok").verify(BODY, headers, url=json_url)
    assert reason_of(TwilioVerifier("tok"), b"{}", headers, url=json_url) == "body_mismatch"
    # the hash is part of the signed URL: swapping both body and hash breaks the signature
    other_url = signing.twilio_json_url(url, b"{}")
    assert reason_of(TwilioVerifier("tok"), b"{}", headers, url=other_url) == "bad_signature"


def test_twilio_bad_urls_are_verification_errors() -> None:
    headers = signing.sign_twilio(PUBLIC + "/t", b"a=1", "tok")
    for url in ("https://h:99999/t", "https://[::1/t", "http://[x]/"):
        assert reason_of(TwilioVerifier("tok"), b"a=1", headers, url=url) in {
            "malformed_header",
            "bad_signature",
        }


# --- Standard Webhooks ----------------------------------------------------------

STD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_standard_webhooks_skips_other_versions_and_needs_v1() -> None:
    headers = signing.sign_standard_webhooks(BODY, STD, timestamp=NOW)
    verifier = StandardWebhooksVerifier(STD, clock=clock)
    mixed = f"v1a,{'A' * 88} v2,abc {headers['webhook-signature']}"
    verifier.verify(BODY, dict(headers, **{"webhook-signature": mixed}))
    only_v1a = dict(headers, **{"webhook-signature": f"v1a,{'A' * 88}"})
    assert reason_of(verifier, BODY, only_v1a) == "missing_header"
    no_comma = dict(headers, **{"webhook-signature": "v1"})
    assert reason_of(verifier, BODY, no_comma) == "malformed_header"


def test_standard_webhooks_never_mixes_header_sets() -> None:
    headers = signing.sign_standard_webhooks(BODY, STD, timestamp=NOW)
    verifier = StandardWebhooksVerifier(STD, clock=clock)
    mixed = {
        "svix-id": headers["webhook-id"],
        "webhook-timestamp": headers["webhook-timestamp"],
        "svix-signature": headers["webhook-signature"],
    }
    assert reason_of(verifier, BODY, mixed) == "missing_header"


def test_standard_webhooks_raw_bytes_and_several_secrets() -> None:
    other = "whsec_" + base64.b64encode(b"another key").decode()
    headers = signing.sign_standard_webhooks(BINARY_BODY, [STD, other], timestamp=NOW)
    assert headers["webhook-signature"].count("v1,") == 2
    StandardWebhooksVerifier(other, clock=clock).verify(BINARY_BODY, headers)
    StandardWebhooksVerifier(b"another key", clock=clock).verify(BINARY_BODY, headers)


# --- generic HMAC ---------------------------------------------------------------


def test_generic_hmac_separator_prefix_and_literal_braces() -> None:
    settings = GenericHmacSettings(
        secrets=["old", "new"],
        header="X-Sig",
        prefix="v1=",
        separator=" ",
        template="{{v}}:{timestamp}:{body}",
        timestamp_header="X-Ts",
    )
    headers = signing.sign_generic(BODY, settings, timestamp=NOW)
    verifier = settings.build(clock=clock)
    verifier.verify(BODY, headers)
    content = f"{{v}}:{NOW}:".encode() + BODY
    expected = hmac.new(b"new", content, hashlib.sha256).hexdigest()
    verifier.verify(BODY, {"X-Sig": f"v1={expected.upper()}", "X-Ts": str(NOW)})
    assert reason_of(verifier, BODY, {"X-Sig": expected, "X-Ts": str(NOW)}) == "malformed_header"
    stale = {"X-Sig": headers["X-Sig"], "X-Ts": str(NOW - 301)}
    assert reason_of(verifier, BODY, stale) == "bad_signature"
    old = signing.sign_generic(BODY, settings, timestamp=NOW - 301)
    assert reason_of(verifier, BODY, old) == "stale_timestamp"


def test_generic_hmac_defaults_sign_the_body_only() -> None:
    settings = GenericHmacSettings(secrets=["k"], header="X-Sig", encoding="base64")
    headers = signing.sign_generic(BINARY_BODY, settings)
    settings.build().verify(BINARY_BODY, headers)
    digest = hmac.new(b"k", BINARY_BODY, hashlib.sha256).digest()
    assert headers == {"X-Sig": base64.b64encode(digest).decode()}


# --- header mappings --------------------------------------------------------------


class _Exploding(Mapping[str, str]):
    def __getitem__(self, key: str) -> str:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def test_broken_or_odd_header_mappings_are_verification_errors() -> None:
    verifier = GitHubVerifier("k")
    assert reason_of(verifier, BODY, _Exploding()) == "malformed_header"
    odd: dict[object, object] = {b"X-Hub-Signature-256": "x", 3: 4, "X-Hub-Signature-256": b"x"}
    assert reason_of(verifier, BODY, odd) == "missing_header"  # type: ignore[arg-type]
