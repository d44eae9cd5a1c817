"""Core is provider-agnostic: outside its test harness it names no provider.

A provider's scheme, settings and quirks live in its connector package; the
sandboxes harness (``core/testing``) imitates real providers and may name
them. Any other core module that names one, in code or in prose, fails.
"""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
PROVIDERS = re.compile(r"stripe|github|slack|shopify|twilio|sendgrid", re.IGNORECASE)


def naming_modules() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE).as_posix()
        if relative.startswith("testing/"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        hits = [n for n, line in enumerate(lines, 1) if PROVIDERS.search(line)]
        if hits:
            found[relative] = hits
    return found


def test_core_names_no_provider_outside_its_test_harness() -> None:
    found = naming_modules()
    assert not found, f"core names a provider (module: lines), move it to its connector: {found}"


def test_the_check_sees_a_provider_name() -> None:
    assert PROVIDERS.search("errors=ErrorMapping().override(rules=[Stripe_should_retry])")
