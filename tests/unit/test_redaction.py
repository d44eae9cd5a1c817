"""Redaction helpers and the logging filter."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.redaction
from core.observability import log_event
from core.redaction import (
    REDACTED,
    RedactingFilter,
    redact_headers,
    redact_mapping,
    redact_text,
    redact_url,
    register_request_secrets,
    register_secret,
    register_secret_name,
)
from core.testing import DemoSandbox


def test_public_surface() -> None:
    assert set(core.redaction.__all__) == {
        "REDACTED",
        "RedactingFilter",
        "is_sensitive_name",
        "redact_headers",
        "redact_mapping",
        "redact_text",
        "redact_url",
        "register_request_secrets",
        "register_secret",
        "register_secret_name",
    }


def test_headers() -> None:
    out = redact_headers(
        {
            "Authorization": "Bearer abc",
            "X-Api-Key": "k",
            "Cookie": "s=1",
            "X-Shopify-Access-Token": "shpat_x",
            "Stripe-Signature": "t=1,v1=abc",
            "Idempotency-Key": "cmd-1",
            "Content-Type": "application/json",
        }
    )
    assert out["Authorization"] == REDACTED
    assert out["X-Api-Key"] == REDACTED
    assert out["Cookie"] == REDACTED
    assert out["X-Shopify-Access-Token"] == REDACTED
    assert out["Stripe-Signature"] == REDACTED
    assert out["Idempotency-Key"] == "cmd-1"
    assert out["Content-Type"] == "application/json"


def test_url() -> None:
    url = (
        "https://user:pw@api.example.com/v1/x?api_key=SECRET1&page=2&access_token=SECRET2&code=C0DE"
    )
    out = redact_url(url)
    for secret in ("SECRET1", "SECRET2", "pw", "C0DE"):
        assert secret not in out
    assert "page=2" in out
    assert out.startswith("https://")


@pytest.mark.parametrize(
    "secret",
    [
        "sk_live_51HxYzAbCdEf",
        "xoxb-1234-5678-abcdefgh",
        "ghp_abcdefghijklmnopqrstuvwxyz012345",
        "shpat_0123456789abcdef0123456789abcdef",
        "SG.abcdefghij.klmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
    ],
)
def test_known_token_shapes(secret: str) -> None:
    assert secret not in redact_text(f"failed with {secret} today")


def test_text_patterns_and_plain_words() -> None:
    assert "abc123def456" not in redact_text("Authorization: Bearer abc123def456")
    assert "hunter22" not in redact_text('{"password": "hunter22"}')
    assert "xyz789" not in redact_text("client_secret=xyz789&grant_type=client_credentials")
    # Settings that name where or how a secret is used are not secrets.
    assert redact_text("token_url: must be https") == "token_url: must be https"
    assert redact_text("token_type=bearer, auth_method: basic") == (
        "token_type=bearer, auth_method: basic"
    )
    assert "s3cr3t-v4lue" not in redact_text("client_secret_value: s3cr3t-v4lue")
    # Ordinary prose is left alone.
    assert redact_text("Invalid token provided") == "Invalid token provided"
    assert redact_text("Basic authentication failed") == "Basic authentication failed"


def test_registered_secret_is_scrubbed_anywhere() -> None:
    register_secret("plainsecretvalue", None, "ab")
    assert "plainsecretvalue" not in redact_text("x=plainsecretvalue;")
    assert redact_text("ab cd") == "ab cd"  # too short to register


def test_registered_names_are_redacted_by_name() -> None:
    register_secret_name("Zappid")
    url = "https://api.example.test/data?q=London&ZAPPID=abc12&units=metric"
    out = redact_url(url)
    assert "abc12" not in out
    assert "q=London" in out
    assert "units=metric" in out
    assert redact_headers({"zappid": "abc12"}) == {"zappid": REDACTED}
    assert redact_mapping({"Zappid": "abc12"}) == {"Zappid": REDACTED}
    text = redact_text('GET /x?zappid=abc12&page=2 and {"zappid": "abc34"}')
    assert "abc12" not in text
    assert "abc34" not in text
    assert "page=2" in text
    assert redact_text("nozappid=keep") == "nozappid=keep"  # only the name itself
    register_request_secrets([], b"zappid=short-but-registered-9")
    assert "short-but-registered-9" not in redact_text("echo short-but-registered-9")


def test_request_secrets_are_registered() -> None:
    register_request_secrets(
        [(b"Authorization", b"Bearer opaque-token-value-1"), (b"Accept", b"application/json")],
        b"page=2&api_key=opaque-query-key-2",
    )
    text = redact_text("echo: opaque-token-value-1 / opaque-query-key-2 / application/json")
    assert "opaque-token-value-1" not in text
    assert "opaque-query-key-2" not in text
    assert "application/json" in text


def test_mapping() -> None:
    out = redact_mapping({"token": "t", "nested": {"api_key": "k", "ok": [1, "Bearer a1b2c3d4e5"]}})
    assert out["token"] == REDACTED
    assert out["nested"]["api_key"] == REDACTED
    assert "a1b2c3d4e5" not in str(out)


def test_filter_scrubs_message_args_and_extras(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction.filter")
    flt = RedactingFilter()
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction.filter"):
            logger.info(
                "calling %s with %s",
                "https://x.test/?token=SECRET_A1",
                "Bearer SECRET_B2xyz",
                extra={"authorization": "SECRET_C3", "detail": {"client_secret": "SECRET_D4"}},
            )
    finally:
        caplog.handler.removeFilter(flt)
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    for secret in ("SECRET_A1", "SECRET_B2xyz", "SECRET_C3", "SECRET_D4"):
        assert secret not in text


def test_log_event_redacts_at_the_source(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction.event")
    with caplog.at_level(logging.INFO, logger="test.redaction.event"):
        log_event(
            logger, logging.INFO, "thing.happened", url="https://x.test/?api_key=SECRET_E5", ok=1
        )
    record = caplog.records[-1]
    assert record.event == "thing.happened"  # type: ignore[attr-defined]
    assert "SECRET_E5" not in caplog.text
    assert "SECRET_E5" not in repr(record.__dict__)


def test_redaction_never_raises() -> None:
    assert isinstance(redact_url(object()), str)
    assert redact_mapping({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(min_size=8, max_size=30, alphabet="abcdefXYZ0123456789-_"))
def test_redaction_is_total_and_scrubs_registered_values(text: str, secret: str) -> None:
    register_secret(secret)
    out = redact_text(text + secret + text)
    assert secret not in out
    assert isinstance(redact_url(text), str)
    assert isinstance(redact_mapping({text: [text, {"token": text}]}), dict)


# --- the filter under faust's logging (mode's formatter) and the plain one -------

LOG_SECRET = "appid-value-Zq8Kx2Lm9"


def _log_through_httpx(url: str) -> None:
    """A real request: httpx itself logs its URL (API key in the query) at INFO."""
    with httpx.Client() as client:
        client.get(url, params={"appid": LOG_SECRET, "pct": "100%"})


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("style", ["mode", "plain"])
def test_filtered_records_format_under_faust_and_plain_logging(
    style: str, capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    """Issue #10.2: the filter set ``record.args = None``, which mode's formatter
    (faust's worker logging) wraps into ``(None,)``: ``--- Logging error ---``
    on every provider call. Now: no logging error, the secret redacted, the
    message intact."""
    from mode.utils.logging import setup_logging

    import core.client  # installs the filter on httpx's logger, as every worker does

    assert any(isinstance(f, RedactingFilter) for f in logging.getLogger("httpx").filters)
    assert core.client.USER_AGENT
    register_secret(LOG_SECRET)
    stream = io.StringIO()
    if style == "mode":
        setup_logging(loglevel="INFO", logfile=stream)  # what faust.Worker does
        mode_handler = logging.getLogger().handlers[-1]
        mode_handler.setStream(stream)  # type: ignore[attr-defined]
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        logging.getLogger().handlers[:] = [handler]
        logging.getLogger().setLevel(logging.INFO)
    logger = logging.getLogger("test.redaction.styles")
    flt = RedactingFilter()
    logger.addFilter(flt)
    try:
        with DemoSandbox().in_thread() as sandbox:
            _log_through_httpx(f"{sandbox.url}/status/401")
            logger.info("calling %s: %d%% done, key %s", "acme", 50, LOG_SECRET)
            logger.warning("no args, a literal 100%s and %d stay")
    finally:
        logger.removeFilter(flt)
    out = stream.getvalue()
    errors = capsys.readouterr().err
    assert "--- Logging error ---" not in errors + out
    assert LOG_SECRET not in errors + out
    assert "HTTP Request: GET" in out
    assert "401" in out
    assert "calling acme: 50% done, key [REDACTED]" in out
    assert "no args, a literal 100%s and %d stay" in out


@pytest.mark.parametrize(
    "message",
    [
        "github.actions.create_or_update_org_secret: params.org: required",
        "github.dependabot.get_repo_secret: params.zz: unknown param; known: owner",
        "stripe.apps.secrets.find: params.scope[type]: must be one of account, user",
    ],
)
def test_a_json_path_under_params_is_not_taken_for_a_credential(message: str) -> None:
    """A command type ending in ``_secret`` / ``_token`` is followed by the
    path of the bad param (a dead letter's one line), not by a secret."""
    assert redact_text(message) == message


def test_a_secret_after_such_a_name_is_still_redacted() -> None:
    assert redact_text("client_secret: params-like-but-not") == f"client_secret: {REDACTED}"
    assert redact_text("org_secret=paramsXYZ") == f"org_secret={REDACTED}"


# --- short secrets: whole values only ------------------------------------------


def test_short_secrets_are_not_redacted_as_plain_words() -> None:
    """A 3-7 character secret ("abc", "test") leaves prose and longer words alone."""
    register_secret("abc", "test")
    prose = "this test of abc passed; testing abcdef, contest, abc's retest"
    assert redact_text(prose) == prose
    assert redact_url("https://x.test/test/abc?q=testing&r=abcd") == (
        "https://x.test/test/abc?q=testing&r=abcd"
    )
    assert redact_mapping({"note": "a test", "tags": ["abcd"]}) == {
        "note": "a test",
        "tags": ["abcd"],
    }


def test_short_secrets_are_redacted_as_whole_values() -> None:
    register_secret("abc", "test")
    assert redact_headers({"X-Thing": "abc", "Accept": "test/plain"}) == {
        "X-Thing": REDACTED,
        "Accept": "test/plain",
    }
    out = redact_url("https://x.test/p?q=abc&page=2&mode=test")
    assert "abc" not in out
    assert "=test" not in out
    assert "page=2" in out
    assert redact_mapping({"detail": {"pin": ["test"]}, "n": "abc"}) == {
        "detail": {"pin": [REDACTED]},
        "n": REDACTED,
    }
    text = redact_text('got code=abc&x=1 and {"pin": "test"} then abc')
    assert text == f'got code={REDACTED}&x=1 and {{"pin": "{REDACTED}"}} then abc'
    assert redact_text("test") == REDACTED


def test_one_or_two_character_values_are_never_registered() -> None:
    register_secret("1", "ok")
    assert redact_mapping({"page": "1", "status": "ok"}) == {"page": "1", "status": "ok"}
    assert redact_text("n=1 ok") == "n=1 ok"
