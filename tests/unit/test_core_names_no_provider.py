"""Core is provider-agnostic: outside its test harness it names no provider.

A provider's scheme, settings and quirks live in its connector package. The
sandboxes harness (``core/testing``) imitates real providers and may name
them. Modules listed in :data:`STILL_NAMING` mention a provider in prose
only (docstrings, comments, examples); any other module that names one
fails the test, so the list only shrinks as those are reworded.
"""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
PROVIDERS = re.compile(r"stripe|github|slack|shopify|twilio|sendgrid", re.IGNORECASE)

STILL_NAMING = frozenset(
    {
        "_pagination_strategies.py",
        "_ratelimit_headers.py",
        "apicall.py",
        "classify.py",
        "client.py",
        "envelopes.py",
        "errors.py",
        "graphql.py",
        "pagination.py",
        "poll.py",
        "ratelimit.py",
        "settings.py",
        "tokenstore.py",
    }
)
"""Examples in prose, e.g. ``Stripe-Should-Retry`` beside the rule type it
illustrates; to be reworded by their modules' owners."""


def naming_modules() -> set[str]:
    found = set()
    for path in CORE.rglob("*.py"):
        relative = path.relative_to(CORE).as_posix()
        if relative.startswith("testing/"):
            continue
        if PROVIDERS.search(path.read_text(encoding="utf-8")):
            found.add(relative)
    return found


def test_core_names_no_provider_outside_its_test_harness() -> None:
    assert naming_modules() <= STILL_NAMING


def test_webhooks_and_the_connector_kit_name_no_provider() -> None:
    kit = {"connector.py", "connector_kit.py"}
    assert not {m for m in naming_modules() if m.startswith("webhooks/") or m in kit}
