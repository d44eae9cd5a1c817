"""Every scheme against its provider's official library, on fresh payloads.

The official SDKs sign (``stripe``, ``slack_sdk``, ``twilio``,
``standardwebhooks``, ``svix``; SendGrid's key is ours, its verifier the
oracle) and our verifiers must agree. GitHub, Shopify and generic HMAC have
no Python SDK verifier: the oracle is a direct :mod:`hmac` computation,
written out in :mod:`tests.unit.webhook_oracles`. Our signers against the
SDKs' verifiers are in ``test_webhooks_signing_oracles.py``.

For each scheme: valid, tampered body, wrong secret, rotated secrets (old
and new both accepted), stale and future timestamps where the scheme signs
one, and malformed headers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from core.webhooks import VerificationError
from tests.unit.webhook_oracles import (
    CASES,
    NOW,
    TIMESTAMPED,
    Case,
)


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
