"""Published test vectors for every scheme, clock pinned to the vector's time.

Sources: GitHub's "Validating webhook deliveries" docs, Slack's "Verifying
requests from Slack" docs, Twilio's request-validation docs (and the vectors
twilio-php/twilio-csharp test against), sendgrid-python's
``test/unit/test_eventwebhook.py``, and the standardwebhooks Python
library's ``tests/test_webhooks.py``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from connectors.github import GitHubVerifier
from connectors.sendgrid import SendGridVerifier
from connectors.slack import SlackVerifier
from connectors.twilio import TwilioVerifier
from core.webhooks import StandardWebhooksVerifier, VerificationError

# --- GitHub ---------------------------------------------------------------

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_vector() -> None:
    GitHubVerifier(GITHUB_SECRET).verify(GITHUB_BODY, {"X-Hub-Signature-256": GITHUB_SIG})


def test_github_documented_vector_rejects_other_body() -> None:
    with pytest.raises(VerificationError) as info:
        GitHubVerifier(GITHUB_SECRET).verify(b"Hello, World?", {"X-Hub-Signature-256": GITHUB_SIG})
    assert info.value.reason == "bad_signature"


# --- Slack ----------------------------------------------------------------

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_HEADERS = {
    "X-Slack-Request-Timestamp": str(SLACK_TS),
    "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}


def test_slack_documented_vector() -> None:
    SlackVerifier(SLACK_SECRET, clock=lambda: SLACK_TS + 10).verify(SLACK_BODY, SLACK_HEADERS)


def test_slack_documented_vector_is_stale_with_a_real_clock() -> None:
    with pytest.raises(VerificationError) as info:
        SlackVerifier(SLACK_SECRET).verify(SLACK_BODY, SLACK_HEADERS)
    assert info.value.reason == "stale_timestamp"


# --- Twilio ---------------------------------------------------------------

# bytes: a str secret is registered for redaction process-wide, and "12345" would
# then be scrubbed from every later log line and error message in the test run
TWILIO_TOKEN = b"12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
# Twilio's documented example. Note: Caller/From are +14158675309 in Twilio's
# docs and SDK tests; with +12349013030 the signature is 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_FORM = urlencode(TWILIO_PARAMS).encode()


def _twilio(sig: str, url: str, body: bytes = TWILIO_FORM, public_url: str | None = None) -> None:
    TwilioVerifier(TWILIO_TOKEN, public_url=public_url).verify(
        body, {"X-Twilio-Signature": sig}, url=url
    )


def test_twilio_documented_vector() -> None:
    _twilio("RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_URL)


def test_twilio_documented_vector_through_a_public_url() -> None:
    _twilio(
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        "/myapp.php?foo=1&bar=2",
        public_url="https://mycompany.com",
    )
    # an absolute URL as the server saw it (behind a proxy) gets the public origin
    _twilio(
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        "http://10.0.0.7:8080/myapp.php?foo=1&bar=2",
        public_url="https://mycompany.com/",
    )


def test_twilio_other_params_fail() -> None:
    with pytest.raises(VerificationError) as info:
        _twilio("RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_URL, TWILIO_FORM.replace(b"1234", b"1235"))
    assert info.value.reason == "bad_signature"


def test_twilio_sdk_vector_with_repeated_values() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678")]
    body = urlencode([*params, ("Digits", "1234"), ("Digits", "1234")]).encode()
    _twilio("IK+Dwps556ElfBT0I3Rgjkr1wJU=", TWILIO_URL, body)


def test_twilio_sdk_vector_json_body_sha256() -> None:
    body = b'{"property": "value", "boolean": true}'
    body_hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{TWILIO_URL}&bodySHA256={body_hash}"
    _twilio("a9nBmqA0ju/hNViExpshrM61xv4=", url, body)
    with pytest.raises(VerificationError) as info:
        _twilio("a9nBmqA0ju/hNViExpshrM61xv4=", url, body + b" ")
    assert info.value.reason == "body_mismatch"


@pytest.mark.parametrize(
    ("url", "sig"),
    [
        # port in the request URL, signature over the URL without it
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # signature over the URL with the default port added
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        # credentials in the URL, with and without the default port
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "CukzLTc1tT5dXEDIHm/tKBanW10="),
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="),
        ("https://user@mycompany.com/myapp.php?foo=1&bar=2", "2YRLlVAflCqxaNicjMpJcSTgzSs="),
    ],
)
def test_twilio_sdk_port_vectors(url: str, sig: str) -> None:
    _twilio(sig, url)


# --- SendGrid -------------------------------------------------------------

SENDGRID_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3G"
    "Rqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_OTHER_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWH"
    "w8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
)
SENDGRID_TS = "1600112502"
SENDGRID_SIG = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15Tl"
    "uLtEZtM="
)
SENDGRID_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": (
                    "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0"
                ),
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()
SENDGRID_HEADERS = {
    "X-Twilio-Email-Event-Webhook-Signature": SENDGRID_SIG,
    "X-Twilio-Email-Event-Webhook-Timestamp": SENDGRID_TS,
}


def _sendgrid(keys: list[str], body: bytes = SENDGRID_BODY, now: float = 1600112502) -> None:
    SendGridVerifier(keys, clock=lambda: now).verify(body, SENDGRID_HEADERS)


def test_sendgrid_library_vector() -> None:
    _sendgrid([SENDGRID_KEY])
    _sendgrid([SENDGRID_OTHER_KEY, SENDGRID_KEY])  # rotation: any key may match
    pem = f"-----BEGIN PUBLIC KEY-----\n{SENDGRID_KEY}\n-----END PUBLIC KEY-----\n"
    _sendgrid([pem])


@pytest.mark.parametrize(
    ("keys", "body", "now", "reason"),
    [
        ([SENDGRID_OTHER_KEY], SENDGRID_BODY, 1600112502, "bad_signature"),
        ([SENDGRID_KEY], b"payload", 1600112502, "bad_signature"),
        ([SENDGRID_KEY], SENDGRID_BODY, 1600112502 + 301, "stale_timestamp"),
        ([SENDGRID_KEY], SENDGRID_BODY, 1600112502 - 301, "future_timestamp"),
    ],
)
def test_sendgrid_library_vector_rejections(
    keys: list[str], body: bytes, now: float, reason: str
) -> None:
    with pytest.raises(VerificationError) as info:
        _sendgrid(keys, body, now)
    assert info.value.reason == reason


# --- Standard Webhooks -------------------------------------------------------

STD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STD_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
STD_BODY = b'{"test": 2432232314}'


def test_standard_webhooks_spec_vector() -> None:
    verifier = StandardWebhooksVerifier(STD_SECRET, clock=lambda: 1614265330)
    verifier.verify(STD_BODY, STD_HEADERS)
    # the prefix is optional; the svix-* names carry the same scheme
    svix = {k.replace("webhook-", "svix-"): v for k, v in STD_HEADERS.items()}
    StandardWebhooksVerifier(STD_SECRET.removeprefix("whsec_"), clock=lambda: 1614265330).verify(
        STD_BODY, svix
    )


def test_standard_webhooks_spec_vector_rejections() -> None:
    verifier = StandardWebhooksVerifier(STD_SECRET, clock=lambda: 1614265330)
    tampered = dict(STD_HEADERS, **{"webhook-id": "msg_other"})
    with pytest.raises(VerificationError) as info:
        verifier.verify(STD_BODY, tampered)
    assert info.value.reason == "bad_signature"
    # the library's own "invalid signature" (last base64 char changed)
    wrong = dict(
        STD_HEADERS, **{"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}
    )
    with pytest.raises(VerificationError) as info:
        verifier.verify(STD_BODY, wrong)
    assert info.value.reason == "bad_signature"
