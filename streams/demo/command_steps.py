"""The demo's commands: a good one, its duplicate, one hitting a 5xx burst,
an invalid one (refused by the CLI, then produced raw), one the provider
rejects; a Result each, checked, then the dead letters of the run."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

import click
import orjson

from core.envelopes import Result

from ..commands import CommandClient
from ..kafka.topics import TopicNames
from ..settings import Settings
from .checks import SINK_CONNECTOR, Checks, step
from .kafka_io import dead_lettered, produce_raw, read_results
from .processes import run_cli

if TYPE_CHECKING:
    from core.testing import Sandbox

__all__ = ["commands", "dead_letters"]

BAD_EMAIL = {"email": "ada-at-example"}
BURST = 2  # 503s before the call succeeds: fewer than RetryPolicy.attempts (5 by default)


def _describe(result: Result) -> str:
    parts = [f"Result: {result.status}"]
    if result.http_status is not None:
        parts.append(f"http {result.http_status}")
    parts.append(f"attempts {result.attempts}")
    if result.error is not None:
        provider = f" ({result.error.provider_code})" if result.error.provider_code else ""
        parts.append(f"error {result.error.code}{provider}")
    return "  ".join(parts)


def _expect(
    checks: Checks,
    result: Result,
    *,
    status: str,
    http: int | None,
    attempts: int,
    code: str | None = None,
    note: str = "",
) -> None:
    ok = (
        result.status == status
        and result.http_status == http
        and result.attempts == attempts
        and (result.error.code if result.error else None) == code
    )
    expected = f"{status} http={http} attempts={attempts} error={code}"
    checks.check(ok, _describe(result) + note, f"{result.command_id}: {expected}")


async def commands(settings: Settings, provider: Sandbox, run_id: str, checks: Checks) -> None:
    names = TopicNames.from_settings(settings)
    commands_topic = names.commands(SINK_CONNECTOR)
    dlq_topic = names.dlq(commands_topic)
    ids = {k: f"demo-{run_id}-{k}" for k in ("good", "raw", "burst", "missing")}
    key = f"ada-{run_id}"  # one ordering key: the duplicate is handled before the burst

    step(f"Commands -> {commands_topic} -> sink -> sandbox; one Result each")
    async with CommandClient(settings) as client:
        click.echo(f"good       stripe.customers.create  id={ids['good']}")
        good = await client.send(
            "stripe.customers.create",
            {"email": f"ada-{run_id}@example.com", "name": "Ada Lovelace"},
            command_id=ids["good"],
            key=key,
        )
        result = await good.result()
        customer = (result.response or {}).get("id", "?")
        _expect(checks, result, status="succeeded", http=200, attempts=1, note=f"  -> {customer}")

        click.echo("duplicate  the same command (same id) produced again, as a redelivery")
        provider.fail_next(BURST, 503, path="/v1/payment_intents")
        await client.send(good.command, key=key)
        burst = await client.send(
            "stripe.payment_intents.create",
            {"amount": 2000, "currency": "usd", "customer": customer},
            command_id=ids["burst"],
            key=key,
        )
        burst_result = await burst.result()  # same key: answered after the duplicate
        answers = await read_results(
            settings,
            good.results_topic,
            good.partition,
            good.results_offset,
            good.command.id,
            wait=False,
        )
        effects = provider.side_effects(good.command.id)
        checks.check(
            len(answers) == 1 and effects == 1,
            f"no second Result ({len(answers)} in all for {good.command.id}); "
            f"side effects at the sandbox: {effects}",
            f"one Result and one side effect for {good.command.id}",
        )

        click.echo(
            f"5xx burst  stripe.payment_intents.create while the sandbox answers "
            f"the next {BURST} calls 503  id={ids['burst']}"
        )
        _expect(
            checks,
            burst_result,
            status="succeeded",
            http=200,
            attempts=BURST + 1,
            note=f"  (retried; side effects: {provider.side_effects(ids['burst'])})",
        )

        cli_args = ["send", "stripe.customers.create", "--json", orjson.dumps(BAD_EMAIL).decode()]
        click.echo(f"invalid    switchboard {' '.join(cli_args[:3])} '{cli_args[3]}'")
        rejected = await asyncio.to_thread(run_cli, settings, cli_args)
        code, error = rejected.returncode, rejected.stderr.strip()
        checks.check(
            code == 2 and error.startswith("error: "),
            f"exit {code}, nothing produced: {error}",
            "the CLI rejects the invalid command with exit 2",
        )

        click.echo(
            f"invalid    the same params produced raw (no validation) to {commands_topic}"
            f"  id={ids['raw']}"
        )
        value = orjson.dumps(
            {"id": ids["raw"], "type": "stripe.customers.create", "params": BAD_EMAIL}
        )
        result = await produce_raw(
            settings, commands_topic, names.results(SINK_CONNECTOR), ids["raw"], value
        )
        _expect(
            checks,
            result,
            status="failed",
            http=None,
            attempts=0,
            code="invalid_command",
            note=f"  -> {dlq_topic}",
        )

        click.echo("rejected   stripe.customers.update of a customer that does not exist")
        missing = await client.send(
            "stripe.customers.update",
            {"customer": f"cus_missing_{run_id}", "name": "Nobody"},
            command_id=ids["missing"],
        )
        _expect(
            checks,
            await missing.result(),
            status="failed",
            http=404,
            attempts=1,
            code="fatal_request",
            note=f"  -> {dlq_topic}",
        )
    no_effects = [i for i in (ids["raw"], ids["missing"]) if provider.side_effects(i)]
    checks.check(
        not no_effects,
        "the invalid and the rejected command caused no side effect at the sandbox",
        "no side effect for the failed commands",
    )


def dead_letters(settings: Settings, run_id: str, since: datetime, checks: Checks) -> None:
    names = TopicNames.from_settings(settings)
    dlq_topic = names.dlq(names.commands(SINK_CONNECTOR))
    when = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    args = ["dlq", "list", "--topic", names.commands(SINK_CONNECTOR), "--since", when]
    step(f"Dead letters: switchboard {' '.join(args)}")
    listed = run_cli(settings, args)
    click.echo(listed.stdout.rstrip())
    click.echo(listed.stderr.rstrip())
    found = asyncio.run(dead_lettered(settings, dlq_topic, since, f"demo-{run_id}-"))
    expected = {
        f"demo-{run_id}-raw": "invalid_command",
        f"demo-{run_id}-missing": "fatal_request",
    }
    checks.check(
        listed.returncode == 0 and found == expected,
        "dead-lettered from this run: "
        + (", ".join(f"{k} ({v})" for k, v in sorted(found.items())) or "nothing"),
        "the invalid and the rejected command (and nothing else of this run) in the DLQ",
    )
