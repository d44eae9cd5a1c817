"""``switchboard dlq list|show|stats|replay``: dead-letter topics for people."""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

import connectors
from core.envelopes import new_id

from ..dlq import (
    SKIP_FOREIGN_TOPIC,
    DlqError,
    DlqFilter,
    DlqInputError,
    DlqRecord,
    DlqRef,
    DlqStats,
    dlq_stats,
    parse_rate,
    parse_when,
    plan_replay,
    read_dlq,
    read_one,
    replay,
    resolve_topics,
)
from ..sink import DLQ_REASONS
from ._common import EXIT_FAILURE, EXIT_USAGE, Context, fail, friendly_errors, pass_ctx, run
from ._dlq_render import counts, describe, foreign_line, plan_line, record_json, row
from ._text import printable, table

F = TypeVar("F", bound=Callable[..., Any])

# The reasons Switchboard's parts dead-letter with: the sink's, and dedup's.
KNOWN_REASONS = frozenset((*DLQ_REASONS, "invalid_event"))

_NO_TERMINAL = (
    "refusing to replay without confirmation: stdin is not a terminal; "
    "pass --yes to replay anyway, or --dry-run to see what would be replayed"
)


def _fail_with(exc: DlqError) -> None:
    """Bad input exits 2, anything else the DLQ code reports exits 1."""
    fail(str(exc), EXIT_USAGE if isinstance(exc, DlqInputError) else EXIT_FAILURE)


def _filter_options(func: F) -> F:
    options = [
        click.option(
            "--topic",
            "topics",
            multiple=True,
            metavar="TOPIC",
            help="DLQ topic (repeatable; `.dlq` and the topic prefix may be left out) "
            "[default: every *.dlq topic].",
        ),
        click.option("--connector", "connectors", multiple=True, help="Connector (repeatable)."),
        click.option("--reason", "reasons", multiple=True, help="Reason (repeatable)."),
        click.option(
            "--error-class", "error_classes", multiple=True, help="Error class (repeatable)."
        ),
        click.option(
            "--since", metavar="WHEN", help="Failed at or after: ISO 8601 (naive = UTC) or 2h, 7d."
        ),
        click.option("--until", metavar="WHEN", help="Failed before: ISO 8601 or a duration ago."),
        click.option("--ref", "refs", multiple=True, metavar="T:P:O", help="Record (repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _selection(ctx: Context, opts: dict[str, Any]) -> tuple[list[str], DlqFilter]:
    """Topics and filter from the common options; raises DlqInputError."""
    now = datetime.now(UTC)
    since, until = opts.pop("since"), opts.pop("until")
    refs = frozenset(DlqRef.parse(r) for r in opts.pop("refs"))
    flt = DlqFilter(
        connectors=frozenset(opts.pop("connectors")),
        reasons=frozenset(opts.pop("reasons")),
        error_classes=frozenset(opts.pop("error_classes")),
        since=parse_when(since, now=now, option="--since") if since else None,
        until=parse_when(until, now=now, option="--until") if until else None,
        refs=refs,
    )
    names = list(opts.pop("topics")) or sorted({r.topic for r in refs})
    unknown = sorted(flt.connectors - set(connectors.names()))
    if unknown:
        raise DlqInputError(_unknown("--connector", unknown[0], connectors.names()))
    return run(resolve_topics(ctx.settings, names)), flt


def _unknown(option: str, value: str, known: Iterable[str]) -> str:
    choices = sorted(known)
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{option} {value!r} matches nothing: {hint}known: {', '.join(choices)}"


def _check_reasons(ctx: Context, topics: list[str], flt: DlqFilter) -> None:
    """When nothing matched: a --reason that no part writes and no record of
    these topics carries is a typo, not an empty result (raises DlqInputError)."""
    unusual = flt.reasons - KNOWN_REASONS
    if not unusual:
        return
    others = dataclasses.replace(flt, reasons=frozenset())
    tallied = run(dlq_stats(ctx.settings, topics, others)).by_reason
    present = {r for r in tallied if not r.startswith("(")}  # not "(invalid headers)"
    unknown = sorted(unusual - present)
    if unknown:
        raise DlqInputError(_unknown("--reason", unknown[0], KNOWN_REASONS | present))


async def _collect(
    ctx: Context, topics: list[str], flt: DlqFilter, limit: int | None
) -> list[DlqRecord]:
    return [r async for r in read_dlq(ctx.settings, topics, flt, limit=limit)]


@click.group("dlq")
def dlq_group() -> None:
    """Inspect, count and replay dead-lettered records (<topic>.dlq).

    Reading never joins a consumer group and never commits offsets.
    """


@dlq_group.command("list")
@_filter_options
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Rows at most."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_ctx
@friendly_errors
def dlq_list(ctx: Context, /, limit: int, as_json: bool, **opts: Any) -> None:
    """List dead-lettered records, oldest first per partition.

    REF (topic:partition:offset) is what `dlq show` and `dlq replay --ref` take.

    \b
    Examples:
      switchboard dlq list
      switchboard dlq list --topic stripe.commands --reason retries_exhausted --since 2h
    """
    try:
        topics, flt = _selection(ctx, opts)
        records = run(_collect(ctx, topics, flt, limit + 1))
        if not records:
            _check_reasons(ctx, topics, flt)
    except DlqError as exc:
        _fail_with(exc)
    more = len(records) > limit
    records = records[:limit]
    if as_json:
        for record in records:
            click.echo(record_json(record))
    elif records:
        header = [
            "REF",
            "FAILED AT",
            "CONNECTOR",
            "STAGE",
            "REASON",
            "ERROR CLASS",
            "MESSAGE",
            "KEY",
        ]
        click.echo(table(header, [row(r) for r in records]))
    note = f"; more match (raise --limit above {limit})" if more else ""
    click.echo(f"{len(records)} record(s) in {len(topics)} DLQ topic(s){note}", err=True)


@dlq_group.command("show")
@click.argument("where", nargs=-1, required=True, metavar="REF | TOPIC PARTITION OFFSET")
@click.option("--raw", is_flag=True, help="Write only the value's bytes to stdout.")
@pass_ctx
@friendly_errors
def dlq_show(ctx: Context, where: tuple[str, ...], raw: bool) -> None:
    """Show one DLQ record: its error headers, other headers and value
    (JSON indented). REF is topic:partition:offset as `dlq list` prints it."""
    try:
        if len(where) == 1:
            ref = DlqRef.parse(where[0])
        elif len(where) == 3:
            ref = DlqRef.parse(":".join(where))
        else:
            raise DlqInputError("expected REF or TOPIC PARTITION OFFSET")
        record = run(read_one(ctx.settings, ref))
    except DlqError as exc:
        _fail_with(exc)
    if raw:
        click.get_binary_stream("stdout").write(record.value or b"")
        return
    click.echo(printable(describe(record), keep="\n"))


@dlq_group.command("stats")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_ctx
@friendly_errors
def dlq_stats_cmd(ctx: Context, /, as_json: bool, **opts: Any) -> None:
    """Count dead-lettered records by reason, error class, connector and topic."""
    try:
        topics, flt = _selection(ctx, opts)
        stats: DlqStats = run(dlq_stats(ctx.settings, topics, flt))
        if not stats.total:
            _check_reasons(ctx, topics, flt)
    except DlqError as exc:
        _fail_with(exc)
    if as_json:
        click.echo(
            orjson.dumps(
                {
                    "total": stats.total,
                    "by_reason": stats.by_reason,
                    "by_error_class": stats.by_error_class,
                    "by_connector": stats.by_connector,
                    "by_topic": stats.by_topic,
                }
            )
        )
        return
    lines = [f"{stats.total} record(s) in {len(topics)} DLQ topic(s)"]
    if stats.total:
        lines += counts("reason", stats.by_reason) + counts("error class", stats.by_error_class)
        lines += counts("connector", stats.by_connector) + counts("topic", stats.by_topic)
    click.echo(printable("\n".join(lines), keep="\n"))


@dlq_group.command("replay")
@_filter_options
@click.option(
    "--to",
    "to",
    metavar="TOPIC",
    help="Send every selected record to TOPIC [default: each DLQ topic's source, "
    "<topic> of <topic>.dlq; records whose error headers name another topic are skipped].",
)
@click.option("--dry-run", is_flag=True, help="Print what would be replayed; produce nothing.")
@click.option("--rate", metavar="N[/s]", help="At most N records per second (also N/m).")
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most N matching records.")
@click.option(
    "--skip-replayed",
    is_flag=True,
    help="Skip records an earlier run already replayed to the same destination "
    "(found by their __switchboard.replay.from header there).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
@friendly_errors
def dlq_replay(
    ctx: Context,
    /,
    to: str | None,
    dry_run: bool,
    rate: str | None,
    limit: int | None,
    skip_replayed: bool,
    yes: bool,
    **opts: Any,
) -> None:
    """Produce dead-lettered records again, to the topic their DLQ belongs to
    (<topic> of <topic>.dlq) or --to.

    The error headers are written by whoever can write the DLQ topic, so
    they never choose the destination: a record whose headers name another
    original topic is skipped and reported; --to sends it elsewhere.

    Each keeps its key, value and headers; the __switchboard.errors.* headers
    are dropped and lineage headers added: __switchboard.replay.from
    (dlq-topic:partition:offset), .at and .id (this run's id). A run never
    replays a record twice. Re-running the same replay is safe: the value,
    so the command id (the idempotency key), is unchanged and a sink that
    already executed a command does not call the provider again.
    --skip-replayed also avoids producing such duplicates.

    Asks for confirmation unless --yes or --dry-run (without a terminal it
    refuses, exit 2).

    \b
    Examples:
      switchboard dlq replay --connector stripe --reason retries_exhausted --dry-run
      switchboard dlq replay --ref stripe.commands.dlq:0:42 --yes
      switchboard dlq replay --topic stripe.commands --since 1h --rate 20/s --skip-replayed
    """
    if not (yes or dry_run or sys.stdin.isatty()):
        fail(_NO_TERMINAL, EXIT_USAGE)
    try:
        per_second = parse_rate(rate) if rate else None
        topics, flt = _selection(ctx, opts)
        records = run(_collect(ctx, topics, flt, limit))
        if not records:
            _check_reasons(ctx, topics, flt)
        plan = run(plan_replay(ctx.settings, records, to=to, skip_replayed=skip_replayed))
    except DlqError as exc:
        _fail_with(exc)
    todo = [i for i in plan if i.skip is None]
    skipped = Counter(i.skip for i in plan if i.skip)
    if skipped[SKIP_FOREIGN_TOPIC]:
        click.echo(foreign_line(plan, skipped[SKIP_FOREIGN_TOPIC]), err=True)
    summary = f"{len(plan)} record(s) selected, {len(todo)} to replay" + "".join(
        f", {n} skipped ({why})" for why, n in sorted(skipped.items())
    )
    if dry_run:
        for item in plan:
            click.echo(plan_line(item))
        click.echo(f"dry run: {summary}; nothing produced", err=True)
        return
    if not todo:
        click.echo(f"{summary}; nothing to replay", err=True)
        return
    targets = Counter(i.destination for i in todo)
    where = ", ".join(f"{n} to {d}" for d, n in sorted(targets.items()))
    if not yes:
        click.confirm(f"{summary}. Replay {where}?", abort=True, err=True)
    run_id = new_id()
    click.echo(f"replay run {run_id}", err=True)
    with click.progressbar(length=len(todo), label="replaying", file=sys.stderr) as bar:
        report = run(
            replay(ctx.settings, plan, run_id=run_id, rate=per_second, on_progress=bar.update)
        )
    by_dest = ", ".join(f"{n} to {d}" for d, n in sorted(report.by_destination.items()))
    skipped_text = "".join(f", {n} skipped ({w})" for w, n in sorted(report.skipped.items()))
    click.echo(f"replayed {report.replayed} record(s) ({by_dest or 'none'}){skipped_text}")
    if report.failed:
        fail(f"{report.failed} record(s) not acknowledged by Kafka: {report.error}", EXIT_FAILURE)


__all__ = ["dlq_group"]
