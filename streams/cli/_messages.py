"""``switchboard send``, ``tail``, ``topics`` and ``schema``."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import orjson

import connectors
from core.envelopes import Command, DlqHeaders, Event, Result, utcnow

from ..commands import (
    DEFAULT_RESULT_TIMEOUT,
    CommandClient,
    CommandInvalid,
    ResultTimeout,
    build_command,
    check_request,
)
from ..kafka.topics import connector_topics, ensure_topics, existing_topics, shared_topics
from ..tail import TopicMissing, format_record, tail
from ._common import EXIT_FAILURE, EXIT_USAGE, Context, fail, friendly_errors, pass_ctx, run


def _parse_json(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            fail(f"--json {text}: no such file", EXIT_USAGE)
        text = path.read_text()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"--json is not valid JSON: {exc}", EXIT_USAGE)


def _metadata(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--meta {pair!r}: expected NAME=VALUE", EXIT_USAGE)
        out[name] = value
    return out


EXIT_TIMEOUT = 124  # as timeout(1): no Result in time


def format_result(result: Result) -> str:
    """A Result for people: outcome line, then http status, attempts,
    duration, and the response or the error."""
    lines = [f"{result.status}  {result.type}  command_id={result.command_id}"]
    fields: list[tuple[str, Any]] = [
        ("http status", result.http_status),
        ("attempts", result.attempts),
    ]
    duration = result.timings.duration_ms
    if duration is not None:
        fields.append(("duration", f"{duration:.0f} ms"))
    if result.error is not None:
        error = result.error
        fields += [
            ("error", f"{error.code}: {error.message}"),
            ("retryable", "yes" if error.retryable else "no"),
            ("provider code", error.provider_code),
            ("request id", error.request_id),
        ]
    lines += [f"  {name + ':':<15}{value}" for name, value in fields if value is not None]
    if result.response is not None:
        body = orjson.dumps(result.response, option=orjson.OPT_INDENT_2).decode()
        lines.append("  response:")
        lines += [f"    {line}" for line in body.splitlines()]
    return "\n".join(lines)


@click.command("send")
@click.argument("command_type", metavar="TYPE")
@click.option(
    "--json",
    "params_json",
    required=True,
    help="The command's params as JSON; @FILE reads a file, - reads stdin.",
)
@click.option("--key", help="Kafka key (ordering key) [default: the command id].")
@click.option("--id", "command_id", help="Command id, also the idempotency key [default: new].")
@click.option("--reply-to", help="Topic to copy the Result to, besides <c>.results.")
@click.option(
    "--expires-in",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds after which the command must not be sent to the provider.",
)
@click.option("--meta", multiple=True, metavar="NAME=VALUE", help="Metadata (repeatable).")
@click.option("--wait", is_flag=True, help="Wait for the command's Result and print it.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Seconds --wait waits for the Result [default: {DEFAULT_RESULT_TIMEOUT:g}].",
)
@pass_ctx
@friendly_errors
def send(
    ctx: Context,
    command_type: str,
    params_json: str,
    key: str | None,
    command_id: str | None,
    reply_to: str | None,
    expires_in: float | None,
    meta: tuple[str, ...],
    wait: bool,
    timeout: float | None,
) -> None:
    """Validate a command of TYPE and produce it to <connector>.commands.

    Prints the command id. A command that fails validation is not produced
    (exit code 2). With --wait, then waits for its Result on
    <connector>.results and prints it: exit code 0 if it succeeded, 1 if it
    failed, 124 if none came within --timeout (is the sink running?).
    Examples:

    \b
        switchboard send stripe.customers.create --json '{"email": "a@example.com"}'
        switchboard send stripe.customers.create --json '{"email": "a@example.com"}' \\
            --key cus_ada --wait
        switchboard send github.issues.create --json @issue.json --wait --timeout 60
    """
    if timeout is not None and not wait:
        fail("--timeout only applies with --wait", EXIT_USAGE)
    params = _parse_json(params_json)
    expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None

    async def go(command: Command) -> Result | None:
        async with CommandClient(ctx.settings) as client:
            sent = await client.send(command, key=key)
            click.echo(sent.command.id)
            click.echo(f"produced to {sent.topic}[{sent.partition}]@{sent.offset}", err=True)
            if not wait:
                return None
            limit = DEFAULT_RESULT_TIMEOUT if timeout is None else timeout
            click.echo(
                f"waiting up to {limit:g} s for its Result on "
                f"{sent.results_topic}[{sent.partition}]",
                err=True,
            )
            return await sent.result(limit)

    try:
        command = build_command(
            command_type,
            params,
            command_id=command_id,
            reply_to=reply_to,
            expires_at=expires_at,
            metadata=_metadata(meta),
        )
        check_request(ctx.settings, command)
        result = run(go(command))
    except CommandInvalid as exc:
        fail(str(exc), EXIT_USAGE)
    except ResultTimeout as exc:
        fail(str(exc), EXIT_TIMEOUT)
    if result is not None:
        click.echo(format_result(result))
        if result.status != "succeeded":
            raise SystemExit(EXIT_FAILURE)


@click.command("tail")
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record, not the end.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N records.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds, even with fewer than --limit records.",
)
@click.option("--raw", is_flag=True, help="Print values as they are, one per line.")
@pass_ctx
@friendly_errors
def tail_cmd(
    ctx: Context,
    topic: str,
    from_beginning: bool,
    limit: int | None,
    timeout: float | None,
    raw: bool,
) -> None:
    """Print the records of TOPIC as they arrive, envelopes pretty-printed.

    Reads without a consumer group and commits nothing.
    """
    color = sys.stdout.isatty()

    async def go() -> int:
        count = 0
        async for record in tail(
            ctx.settings, topic, from_beginning=from_beginning, limit=limit, timeout=timeout
        ):
            count += 1
            if raw:
                click.echo((record.value or b"").decode("utf-8", "replace"))
            else:
                click.echo(format_record(record, color=color))
        return count

    try:
        count = run(go())
    except TopicMissing as exc:
        fail(f"{exc}; list topics with `switchboard topics list`", EXIT_USAGE)
    click.echo(f"{count} record(s)", err=True)


@click.group("topics")
def topics_group() -> None:
    """Create and list Switchboard's topics."""


@topics_group.command("create")
@click.argument("connector_names", metavar="[CONNECTOR]...", nargs=-1)
@pass_ctx
@friendly_errors
def topics_create(ctx: Context, connector_names: tuple[str, ...]) -> None:
    """Create the topics of CONNECTOR (all installed connectors if none given).

    Existing topics are left as they are.
    """
    names = list(connector_names) or connectors.names()
    unknown = [n for n in names if n not in connectors.names()]
    if unknown:
        fail(
            f"unknown connector {', '.join(unknown)}; installed: {', '.join(connectors.names())}",
            EXIT_USAGE,
        )
    specs = shared_topics(ctx.settings)
    for name in names:
        specs += connector_topics(ctx.settings, name)
    created = run(ensure_topics(ctx.settings, specs))
    for spec in specs:
        click.echo(f"{'created' if spec.name in created else 'exists '}  {spec.name}")


@topics_group.command("list")
@pass_ctx
@friendly_errors
def topics_list(ctx: Context) -> None:
    """List the topics on the broker (internal ones hidden)."""
    for name in sorted(run(existing_topics(ctx.settings))):
        if not name.startswith("__"):
            click.echo(name)


@click.group("schema")
def schema_group() -> None:
    """JSON Schemas of the envelopes and command params."""


@schema_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write JSON Schemas (envelopes, every command's params, the described
    event payloads: an Event's dataschema is their $id) into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, Any] = {
        "event": Event.model_json_schema(),
        "command": Command.model_json_schema(),
        "result": Result.model_json_schema(),
        "dlq-headers": DlqHeaders.model_json_schema(),
    }
    for connector in connectors.registry().values():
        for name, model in connector.commands.items():
            schemas[f"commands/{connector.name}.{name}"] = model.model_json_schema()
        for payload in sorted(connector.events.names if connector.events else ()):
            assert connector.events is not None
            schemas[f"events/{connector.name}.{payload}"] = connector.events.schema(payload)
    for name, schema in schemas.items():
        path = directory / f"{name}.schema.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    click.echo(f"wrote {len(schemas)} schemas to {directory}")
