"""Replays of captured deliveries: refused, or the same dedup key as the original.

Each test is a reproduction of an attack from issue #9 point 3, run through
the ingest server's own path (the connector's verifier, then its
``normalize`` with what the verifier returned). Deliveries are signed by
the providers' official libraries where one exists (``standardwebhooks``,
``svix``, ``twilio``); GitHub, Shopify and generic HMAC by a direct
:mod:`hmac` computation, as in ``test_webhooks_oracles``.

The end-to-end counterpart (real ingest server, real broker, dedup worker)
is ``tests/integration/test_dedup_replay.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import orjson
import pytest
import standardwebhooks
import svix.webhooks
from multidict import CIMultiDict, CIMultiDictProxy
from twilio.request_validator import RequestValidator

import connectors
from connectors.generic import GenericSettings
from connectors.github import GitHubSettings
from connectors.shopify._settings import ShopifySettings
from connectors.twilio import TwilioSettings, TwilioVerifier
from core.connector import ConnectorSettings, MalformedPayload
from core.envelopes import Event
from core.webhooks import GenericHmacSettings, VerificationError
from tests.unit.webhook_oracles import CASES, Case, form_params

NOW = 1_700_000_000
RECEIVED = datetime.fromtimestamp(NOW + 1, UTC)
STD_SECRET = "whsec_" + base64.b64encode(b"replay-test-key-0001").decode()
HMAC_SECRET = "replay-hmac-secret-7f3a"
PUBLIC = "https://hooks.example.com"
ISSUE = orjson.dumps(
    {
        "action": "opened",
        "issue": {"number": 7, "updated_at": "2026-11-23T10:00:00Z"},
        "repository": {"full_name": "octo/hello"},
    }
)

Pairs = Sequence[tuple[str, str]]


def multi(pairs: Pairs) -> CIMultiDictProxy[str]:
    """Headers as aiohttp hands them to the ingest server (repeats kept, in order)."""
    return CIMultiDictProxy(CIMultiDict(pairs))


def deliver(
    connector: str, section: ConnectorSettings, body: bytes, pairs: Pairs, url: str | None = None
) -> list[Event]:
    """What the ingest server does: verify, then normalize with what was verified."""
    spec = connectors.registry()[connector].webhook
    assert spec is not None
    verifier = spec.verifier(section)
    assert verifier is not None
    headers = multi(pairs)
    verified = verifier.verify(body, headers, url=url)
    return list(spec.normalize(body, headers, RECEIVED, verified))


def refusal(
    connector: str, section: ConnectorSettings, body: bytes, pairs: Pairs, url: str | None = None
) -> str:
    with pytest.raises(VerificationError) as info:
        deliver(connector, section, body, pairs, url)
    return info.value.reason


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


# --- Standard Webhooks -------------------------------------------------------------

STD = GenericSettings(webhook_secrets=[STD_SECRET], webhook_tolerance_s=1e9)
STD_BODY = b'{"type":"invoice.paid","data":{"id":"in_1"}}'


def std_headers(
    msg_id: str = "msg_original", body: bytes = STD_BODY, when: int = NOW
) -> list[tuple[str, str]]:
    """Headers signed by the ``standardwebhooks`` reference library."""
    at = datetime.fromtimestamp(when, UTC)
    sig = standardwebhooks.Webhook(STD_SECRET).sign(msg_id, at, body.decode())
    return [("webhook-id", msg_id), ("webhook-timestamp", str(when)), ("webhook-signature", sig)]


def test_standard_webhooks_delivery_keeps_its_signed_id_and_time() -> None:
    (event,) = deliver("generic", STD, STD_BODY, std_headers())
    assert (event.id, event.dedup_key, event.time) == (
        "msg_original",
        "msg_original",
        datetime.fromtimestamp(NOW, UTC),
    )
    assert event.bodydigest is None  # the id is signed: dedup on it


@pytest.mark.parametrize("where", ["prepended", "appended"])
def test_a_captured_delivery_with_another_webhook_id_is_refused(where: str) -> None:
    captured = std_headers()
    extra = ("webhook-id", "msg_replay_1")
    pairs = [extra, *captured] if where == "prepended" else [*captured, extra]
    assert refusal("generic", STD, STD_BODY, pairs) == "duplicate_header"


def test_an_unsigned_webhook_id_beside_a_signed_svix_delivery_is_not_the_id() -> None:
    when = datetime.fromtimestamp(NOW, UTC)
    sig = svix.webhooks.Webhook(STD_SECRET).sign("msg_svix", when, STD_BODY.decode())
    signed = [("svix-id", "msg_svix"), ("svix-timestamp", str(NOW)), ("svix-signature", sig)]
    for extra in (
        [("webhook-id", "msg_unsigned")],
        [("webhook-id", "msg_unsigned"), ("webhook-timestamp", "1")],
    ):
        (event,) = deliver("generic", STD, STD_BODY, [*extra, *signed])
        assert (event.id, event.time) == ("msg_svix", when)


# --- generic HMAC ------------------------------------------------------------------


def acme(template: str, id_header: str | None = "X-Acme-Delivery") -> GenericSettings:
    return GenericSettings(
        hmac=GenericHmacSettings(
            secrets=[HMAC_SECRET],
            header="X-Acme-Signature",
            template=template,
            timestamp_header="X-Acme-Timestamp" if "{timestamp}" in template else None,
            id_header=id_header,
            tolerance=None,
        )
    )


def acme_sign(content: bytes) -> str:
    return hmac.new(HMAC_SECRET.encode(), content, hashlib.sha256).hexdigest()


def test_generic_hmac_takes_the_signed_id_and_time_not_unsigned_headers() -> None:
    section = acme("{id}.{timestamp}.{body}")
    signed = [
        ("X-Acme-Delivery", "dlv_1"),
        ("X-Acme-Timestamp", str(NOW)),
        ("X-Acme-Signature", acme_sign(f"dlv_1.{NOW}.".encode() + STD_BODY)),
    ]
    forged = [("webhook-id", "msg_forged"), ("webhook-timestamp", "1"), ("svix-id", "x")]
    (event,) = deliver("generic", section, STD_BODY, [*forged, *signed])
    assert (event.id, event.dedup_key) == ("dlv_1", "dlv_1")
    assert event.time == datetime.fromtimestamp(NOW, UTC)
    assert (
        refusal("generic", section, STD_BODY, [("X-Acme-Delivery", "dlv_2"), *signed])
        == "duplicate_header"
    )


def test_generic_hmac_without_a_signed_id_dedups_on_the_body() -> None:
    section = acme("{body}", id_header=None)
    signature = ("X-Acme-Signature", acme_sign(STD_BODY))
    first = deliver("generic", section, STD_BODY, [("webhook-id", "a"), signature])
    again = deliver("generic", section, STD_BODY, [("webhook-id", "b"), signature])
    assert first[0].dedup_key == again[0].dedup_key == digest(STD_BODY)


# --- GitHub ------------------------------------------------------------------------

GITHUB = GitHubSettings(webhook_secrets=[HMAC_SECRET])


def github(body: bytes, event: str, delivery: str) -> list[tuple[str, str]]:
    sig = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return [
        ("X-Hub-Signature-256", sig),
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", delivery),
    ]


def test_a_github_replay_under_a_new_delivery_id_has_the_original_dedup_key() -> None:
    (original,) = deliver("github", GITHUB, ISSUE, github(ISSUE, "issues", "guid-1"))
    (replay,) = deliver("github", GITHUB, ISSUE, github(ISSUE, "issues", "guid-2"))
    assert (original.id, replay.id) == ("guid-1", "guid-2")
    assert original.dedup_key == replay.dedup_key == digest(ISSUE)


def test_a_retyped_github_replay_is_refused_or_keeps_the_original_dedup_key() -> None:
    # the payload says what it is not: an issues body is no deployment
    with pytest.raises(MalformedPayload, match="X-GitHub-Event deployment"):
        deliver("github", GITHUB, ISSUE, github(ISSUE, "deployment", "guid-3"))
    comment = orjson.dumps({"action": "created", "issue": {"number": 1}, "comment": {"id": 2}})
    with pytest.raises(MalformedPayload, match="issue_comment"):
        deliver("github", GITHUB, comment, github(comment, "issues", "guid-4"))
    # where the shape cannot tell, dedup does: the same digest as the original
    (original,) = deliver("github", GITHUB, ISSUE, github(ISSUE, "issues", "guid-5"))
    (retyped,) = deliver("github", GITHUB, ISSUE, github(ISSUE, "watch", "guid-6"))
    assert retyped.type == "github.watch.opened"
    assert retyped.dedup_key == original.dedup_key


@pytest.mark.parametrize("name", ["X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"])
def test_a_github_delivery_with_a_repeated_header_is_refused(name: str) -> None:
    pairs = github(ISSUE, "issues", "guid-7")
    value = dict(pairs)[name]
    for extra in (value, "deployment"):
        assert refusal("github", GITHUB, ISSUE, [(name, extra), *pairs]) == "duplicate_header"


# --- Shopify -----------------------------------------------------------------------

SHOPIFY = ShopifySettings(webhook_secrets=[HMAC_SECRET])
ORDER = orjson.dumps({"id": 820982911946154508, "admin_graphql_api_id": "gid://o/1"})


def shopify(topic: str, webhook_id: str, body: bytes = ORDER) -> list[tuple[str, str]]:
    digest_ = hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).digest()
    return [
        ("X-Shopify-Hmac-Sha256", base64.b64encode(digest_).decode()),
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Webhook-Id", webhook_id),
    ]


def test_a_shopify_replay_under_a_new_id_or_topic_has_the_original_dedup_key() -> None:
    (original,) = deliver("shopify", SHOPIFY, ORDER, shopify("orders/create", "w-1"))
    (replay,) = deliver("shopify", SHOPIFY, ORDER, shopify("orders/paid", "w-2"))
    assert replay.type == "shopify.orders.paid"
    assert original.dedup_key == replay.dedup_key == digest(ORDER)
    twice = [("X-Shopify-Topic", "orders/paid"), *shopify("orders/create", "w-3")]
    assert refusal("shopify", SHOPIFY, ORDER, twice) == "duplicate_header"


# --- Twilio ------------------------------------------------------------------------

TWILIO = TwilioSettings(auth_tokens=[HMAC_SECRET], public_url=PUBLIC)
PATH = "/webhooks/twilio"


def twilio(
    params: list[tuple[str, str]], token: str | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    """A form body and its headers, signed by Twilio's SDK for ``PUBLIC + PATH``."""
    body = urlencode(params).encode()
    sig = RequestValidator(HMAC_SECRET).compute_signature(PUBLIC + PATH, form_params(body))
    pairs = [("X-Twilio-Signature", sig)]
    if token is not None:
        pairs.append(("I-Twilio-Idempotency-Token", token))
    return body, pairs


STATUS = [("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("AccountSid", "AC1")]


def test_a_twilio_replay_under_a_new_idempotency_token_has_the_original_dedup_key() -> None:
    body, first = twilio(STATUS, "tok-1")
    _, second = twilio(STATUS, "tok-2")
    (original,) = deliver("twilio", TWILIO, body, first, PATH)
    (replay,) = deliver("twilio", TWILIO, body, second, PATH)
    assert (original.id, replay.id) == ("tok-1", "tok-2")
    assert original.dedup_key == replay.dedup_key == digest(body)
    twice = [("I-Twilio-Idempotency-Token", "tok-3"), *first]
    assert refusal("twilio", TWILIO, body, twice, PATH) == "duplicate_header"


def test_twilio_caps_the_parameter_count_before_parsing() -> None:
    at_cap = [(f"P{i}", "v") for i in range(1000)]
    body, pairs = twilio(at_cap)
    deliver("twilio", TWILIO, body, pairs, PATH)  # 1,000 parameters: verified
    over, pairs = twilio([*at_cap, ("X", "1")])
    assert refusal("twilio", TWILIO, over, pairs, PATH) == "malformed_body"
    # the measured attack: 1 MiB of 150,000 parameters, refused on the raw bytes
    huge = b"&".join(b"p%d=%s" % (i, b"x" * 2) for i in range(150_000))
    with pytest.raises(VerificationError) as info:
        TwilioVerifier(HMAC_SECRET, public_url=PUBLIC).verify(
            huge, {"X-Twilio-Signature": "AAAA"}, url=PATH
        )
    assert info.value.reason == "malformed_body"


def test_twilio_bodies_are_capped_at_64_kib() -> None:
    spec = connectors.registry()["twilio"].webhook
    assert spec is not None
    assert spec.max_body_bytes == 64 * 1024


# --- every scheme: a repeated security header is refused ---------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_signed_header_repeated_is_refused(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    verifier = case.make([secret])
    verifier.verify(case.body, multi(list(headers.items())), url=url)  # once: fine
    for name, value in headers.items():
        for pairs in (
            [(name, value), *headers.items()],  # the same value again
            [*headers.items(), (name.upper(), "x" + value)],  # another spelling and value
        ):
            with pytest.raises(VerificationError) as info:
                verifier.verify(case.body, multi(pairs), url=url)
            assert info.value.reason == "duplicate_header"
        repeated = httpx.Headers([*headers.items(), (name, value)])
        with pytest.raises(VerificationError):
            verifier.verify(case.body, repeated, url=url)
        # a plain dict holding two spellings of one name
        spelled = {**headers, name.swapcase(): value}
        with pytest.raises(VerificationError):
            verifier.verify(case.body, spelled, url=url)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_other_repeated_headers_are_fine(case: Case) -> None:
    secret = case.new_secret()
    headers, url = case.sign(case.body, secret, NOW)
    pairs = [("Accept", "*/*"), ("Accept", "text/plain"), *headers.items(), ("Via", "a")]
    case.make([secret]).verify(case.body, multi([*pairs, ("Via", "b")]), url=url)
