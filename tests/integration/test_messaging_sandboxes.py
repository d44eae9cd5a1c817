"""The messaging connectors' commands (Slack, Twilio, SendGrid), run the way
the sink runs them against each connector's own sandbox over real sockets.
No Kafka needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import connectors
from connectors.sendgrid import SendGridSettings
from connectors.slack import SlackSettings
from connectors.twilio import TwilioSettings
from core import errors as e
from core.apicall import ApiCall
from core.testing.commands import CommandRunner
from tests.integration.sandbox_runner import make_runner

# --- Slack ----------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("slack").new_sandbox() as sb:
        runner = make_runner(
            "slack", SlackSettings(bot_token="xoxb-sandbox", base_url=sb.url, rate=1000)
        )
        async with runner.client:
            yield sb, runner


async def test_slack_post_and_update(slack: tuple[Any, CommandRunner]) -> None:
    sb, r = slack
    posted = await r.run("chat.post_message", {"channel": "C0SANDBOX", "text": "hello"}, "s1")
    assert posted.data["ok"] is True
    ts = posted.data["ts"]
    updated = await r.run("chat.update", {"channel": "C0SANDBOX", "ts": ts, "text": "edited"}, "s2")
    assert updated.data["text"] == "edited"
    assert sb.side_effects("s1") == 1


async def test_slack_ok_false_errors(slack: tuple[Any, CommandRunner]) -> None:
    sb, r = slack
    with pytest.raises(e.FatalRequestError) as missing:
        await r.run("chat.post_message", {"channel": "C0MISSING", "text": "x"})
    assert missing.value.status == 200
    assert missing.value.provider_code == "channel_not_found"
    with pytest.raises(e.FatalRequestError) as gone:
        await r.run("chat.update", {"channel": "C0SANDBOX", "ts": "1.2", "text": "x"})
    assert gone.value.provider_code == "message_not_found"
    sb.ratelimit_channel("C0SANDBOX")
    with pytest.raises(e.RateLimitedError) as limited:
        await r.run("chat.post_message", {"channel": "C0SANDBOX", "text": "x"})
    assert limited.value.provider_code == "ratelimited"
    bad = make_runner("slack", SlackSettings(bot_token="xoxb-wrong", base_url=sb.url, rate=1000))
    async with bad.client:
        with pytest.raises(e.FatalConfigError) as auth:
            await bad.run("chat.post_message", {"channel": "C0SANDBOX", "text": "x"})
    assert auth.value.provider_code == "invalid_auth"


# --- Twilio -----------------------------------------------------------------------

SID = "AC" + "0" * 32


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("twilio").new_sandbox() as sb:
        section = TwilioSettings(
            account_sid=SID,
            auth_tokens=["twilio-sandbox-token"],
            public_url="https://hooks.example.com",
            base_url=sb.url,
            rate=1000,
        )
        runner = make_runner("twilio", section)
        async with runner.client:
            yield sb, runner


async def test_twilio_messages_create(twilio: tuple[Any, CommandRunner]) -> None:
    sb, r = twilio
    params = {
        "to": "+15558675310",
        "from": "+15017122661",
        "body": "hi",
        "media_url": ["https://x/1.png", "https://x/2.png"],
    }
    msg = await r.run("messages.create", params, "t1")
    assert msg.status == 201
    assert msg.data["sid"].startswith("SM")
    assert msg.data["num_media"] == "2"
    (req,) = sb.requests_to(f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert req.header("Authorization").startswith("Basic ")
    assert sb.side_effects("t1") == 1


async def test_twilio_errors(twilio: tuple[Any, CommandRunner]) -> None:
    sb, r = twilio
    with pytest.raises(e.FatalRequestError) as invalid:
        await r.run("messages.create", {"to": "12", "from": "+15017122661", "body": "x"})
    assert invalid.value.status == 400
    assert invalid.value.provider_code == "21211"
    section = TwilioSettings(
        account_sid=SID, api_key_sid="SKx", api_key_secret="nope", base_url=sb.url
    )
    bad = make_runner("twilio", section)
    async with bad.client:
        with pytest.raises(e.FatalConfigError) as auth:
            await bad.run(
                "messages.create", {"to": "+15558675310", "from": "+15017122661", "body": "x"}
            )
    assert auth.value.provider_code == "20003"


# --- SendGrid ------------------------------------------------------------------------


@pytest.fixture
async def sendgrid() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("sendgrid").new_sandbox() as sb:
        runner = make_runner(
            "sendgrid", SendGridSettings(api_key="SG.sandbox-key", base_url=sb.url, rate=1000)
        )
        async with runner.client:
            yield sb, runner


MAIL = {
    "personalizations": [{"to": [{"email": "to@example.com"}]}],
    "from": {"email": "from@example.com"},
    "subject": "Hi",
    "content": [{"type": "text/plain", "value": "Hello"}],
}


async def test_sendgrid_mail_send(sendgrid: tuple[Any, CommandRunner]) -> None:
    sb, r = sendgrid
    sent = await r.run("mail.send", MAIL, "m1")
    assert sent.status == 202
    assert sent.data["message_id"].startswith("sg-msg-")
    assert sb.mails[0]["from"] == {"email": "from@example.com"}
    assert sb.side_effects("m1") == 1


async def test_sendgrid_errors(sendgrid: tuple[Any, CommandRunner]) -> None:
    sb, r = sendgrid
    body = {k: v for k, v in MAIL.items() if k != "from"}
    with pytest.raises(e.FatalRequestError) as invalid:
        await r.raw(ApiCall("POST", "/v3/mail/send", "json", body))
    assert invalid.value.status == 400
    assert "from object" in (invalid.value.provider_message or "")
    bad = make_runner("sendgrid", SendGridSettings(api_key="SG.wrong", base_url=sb.url, rate=1000))
    async with bad.client:
        with pytest.raises(e.FatalConfigError):
            await bad.run("mail.send", MAIL)
