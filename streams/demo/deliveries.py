"""The demo's signed webhooks: three real events, a duplicate, a tampered
and a stale delivery, two provider handshakes, one with a wrong secret.

The secrets are demo-only: the worker the demo runs gets them in its
environment (:mod:`streams.demo.processes`); nothing here is used outside
the demo."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

__all__ = ["GITHUB_SECRET", "SLACK_SECRET", "STRIPE_SECRET", "Delivery", "deliveries"]


STRIPE_SECRET = "whsec_demo_0123456789abcdef0123456789"  # noqa: S105 - demo only
GITHUB_SECRET = "demo-github-secret-0123456789"  # noqa: S105 - demo only
SLACK_SECRET = "demo-slack-signing-secret-0123456789"  # noqa: S105 - demo only


@dataclass(frozen=True)
class Delivery:
    label: str
    connector: str
    body: bytes
    headers: dict[str, str]
    expect: int


def deliveries(run: str) -> list[Delivery]:
    """The demo's webhooks: 3 real events, a duplicate, a tampered and a stale
    delivery, and two provider handshakes."""
    # core.testing (the sandboxes, ~150 ms to import) loads when the demo runs,
    # not with every `switchboard` command.
    from core.testing.signing import sign_github, sign_slack, sign_stripe

    stripe = orjson.dumps(
        {
            "id": f"evt_demo_{run}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {"id": f"pi_demo_{run}", "object": "payment_intent", "amount": 2000}
            },
        }
    )
    tampered = stripe.replace(b"2000", b"9999")
    issue = orjson.dumps(
        {
            "action": "opened",
            # the run in the body: GitHub signs no delivery id, so dedup keys on the
            # body's digest and an identical body from an earlier run is a duplicate
            "issue": {
                "number": 42,
                "title": f"Demo issue {run}",
                "updated_at": "2026-11-23T10:00:00Z",
            },
            "repository": {"full_name": "switchboard/demo"},
        }
    )
    gh_headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"demo-{run}"}
    ping = orjson.dumps({"zen": "Design for failure.", "hook_id": 1})
    challenge = orjson.dumps({"type": "url_verification", "challenge": f"challenge-{run}"})
    slack = orjson.dumps(
        {
            "type": "event_callback",
            "event_id": f"EvDemo{run}",
            "event_time": int(time.time()),
            "event": {"type": "app_mention", "channel": "C0DEMO", "text": "<@U1> hello"},
        }
    )
    stale_ts = int(time.time()) - 3600
    return [
        Delivery(
            "stripe payment_intent.succeeded",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET),
            200,
        ),
        Delivery(
            "stripe: the same delivery again",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET),
            200,
        ),
        Delivery(
            "stripe: tampered body", "stripe", tampered, sign_stripe(stripe, STRIPE_SECRET), 401
        ),
        Delivery(
            "stripe: stale timestamp (1 h old)",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET, timestamp=stale_ts),
            401,
        ),
        Delivery(
            "github issues.opened",
            "github",
            issue,
            {**sign_github(issue, GITHUB_SECRET), **gh_headers},
            200,
        ),
        Delivery(
            "github ping (handshake)",
            "github",
            ping,
            {
                **sign_github(ping, GITHUB_SECRET),
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": f"ping-{run}",
            },
            200,
        ),
        Delivery(
            "slack url_verification (handshake)",
            "slack",
            challenge,
            sign_slack(challenge, SLACK_SECRET),
            200,
        ),
        Delivery("slack app_mention", "slack", slack, sign_slack(slack, SLACK_SECRET), 200),
        Delivery(
            "slack: wrong secret", "slack", slack, sign_slack(slack, "not-the-secret-0123"), 401
        ),
    ]
