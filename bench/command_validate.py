"""Command validation and encoding: the cost of a described command, per call.

What the sink and ``send`` do for each command of a catalog operation:
``connector.commands[name].model_validate(params)`` (the schema compiled
from the provider's description) then ``.api_call(ctx)`` (the request
encoded as described), in microseconds per command. Baselines in the same
run: the hand-written pydantic model of ``stripe.customers.create`` (today's
model for the same operation) and ``jsonschema``'s Draft 2020-12 validator
over the same params schema (validation only, no encoding).

Also measured: the memory the three catalogs take once every operation is
compiled (tracemalloc, after imports), and ``switchboard --help`` /
``switchboard send --help`` wall time (fresh processes).

Targets: <= 50 us for a small operation, <= 300 us for
``stripe.checkout.sessions.create``, <= 30 MiB for all catalogs, help < 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench._harness import Check, Report

ROUNDS = 5
N = 2000

CASES: list[tuple[str, dict[str, Any]]] = [
    ("stripe.customers.retrieve", {"customer": "cus_123"}),
    ("stripe.invoices.create", {"customer": "cus_123", "auto_advance": False}),
    ("github.pulls.create", {"owner": "o", "repo": "r", "head": "f", "base": "main"}),
    (
        "twilio.calls.create",
        {"To": "+15550001111", "From": "+15550002222", "Url": "https://x.example/t"},
    ),
    (
        "stripe.checkout.sessions.create",
        {
            "mode": "subscription",
            "success_url": "https://x.example/ok",
            "cancel_url": "https://x.example/no",
            "customer": "cus_123",
            "line_items": [
                {"price": "price_1", "quantity": 2},
                {"price": "price_2", "quantity": 1},
            ],
            "subscription_data": {"trial_period_days": 7, "metadata": {"plan": "pro"}},
            "payment_method_types": ["card"],
            "allow_promotion_codes": True,
            "metadata": {"order": "42", "source": "bench"},
            "expand": ["subscription"],
        },
    ),
]


def _per_call_us(fn: Callable[[], Any]) -> float:
    fn()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(N):
            fn()
        rounds.append((time.perf_counter() - start) / N * 1e6)
    return statistics.median(rounds)


def _help_seconds(*args: str) -> float:
    exe = str(Path(sys.executable).with_name("switchboard"))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([exe, *args, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> Report:
    import jsonschema

    import connectors
    from core.apicall import CallContext

    report = Report("command_validate")
    registry = connectors.registry()
    ctx = CallContext("cmd-bench", registry["twilio"].settings(account_sid="AC" + "0" * 32))
    figures: dict[str, float] = {}
    for command_type, params in CASES:
        connector, _, name = command_type.partition(".")
        model = registry[connector].commands[name]
        made = model.model_validate(params)
        checker = jsonschema.Draft202012Validator(model.model_json_schema())
        validate = _per_call_us(partial(model.model_validate, params))
        encode = _per_call_us(partial(made.api_call, ctx))
        baseline = _per_call_us(partial(checker.validate, params))
        figures[command_type] = validate + encode
        report.rows.append(
            {
                "command": command_type,
                "validate us": validate,
                "encode us": encode,
                "total us": validate + encode,
                "jsonschema validate us": baseline,
                "x faster than jsonschema": baseline / validate,
            }
        )
    hand = connectors.get("stripe").commands["customers.create"]
    params = {"email": "a@example.com", "name": "A", "metadata": {"k": "v"}}
    hand_us = _per_call_us(lambda: hand.model_validate(params).api_call(ctx))
    described = getattr(registry["stripe"].commands, "catalog").params_class("customers.create")  # noqa: B009
    desc_us = _per_call_us(lambda: described.model_validate(params).api_call(ctx))
    report.rows.append(
        {
            "command": "stripe.customers.create (hand-written model vs described)",
            "validate us": "",
            "encode us": "",
            "total us": desc_us,
            "jsonschema validate us": "",
            "x faster than jsonschema": f"hand-written pydantic: {hand_us:.1f} us",
        }
    )
    tracemalloc.start()
    for connector in ("stripe", "github", "twilio"):
        catalog = getattr(registry[connector].commands, "catalog")  # noqa: B009
        for op in catalog.names():
            catalog.operation(op)
    mib = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    help_s, send_help_s = _help_seconds(), _help_seconds("send")
    report.rows.append(
        {
            "command": "all catalogs compiled / --help / send --help",
            "validate us": f"{mib:.1f} MiB",
            "encode us": f"{help_s:.2f} s",
            "total us": f"{send_help_s:.2f} s",
            "jsonschema validate us": "",
            "x faster than jsonschema": "",
        }
    )
    small = max(v for k, v in figures.items() if k != "stripe.checkout.sessions.create")
    report.checks = [
        Check("slowest small operation", small, 50, "<=", " us"),
        Check(
            "stripe.checkout.sessions.create",
            figures["stripe.checkout.sessions.create"],
            300,
            "<=",
            " us",
        ),
        Check("all catalogs compiled", mib, 30, "<=", " MiB"),
        Check("switchboard --help", help_s, 0.5, "<=", " s"),
        Check("switchboard send --help", send_help_s, 0.5, "<=", " s"),
    ]
    report.notes = [
        f"{N} calls x {ROUNDS} rounds per figure, median round",
        "memory: tracemalloc after imports, every operation of the three catalogs compiled",
    ]
    return report
