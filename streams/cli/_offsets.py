"""``switchboard offsets list|set|reset``: poll streams' cursors for people."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click
import orjson

from core.poll import Cursor

from ..kafka import KafkaUnavailable
from ..kafka.topics import TopicNames
from ..offsets import (
    CursorRecord,
    CursorsTopic,
    Echo,
    OffsetsError,
    OffsetsInputError,
    StreamState,
    change_record,
    cursors_topic,
    parse_cursor,
    parse_from,
    parse_mark,
    read_states,
    resolve,
    wait_for_echo,
    write_change,
)
from ..settings import Settings
from ._common import EXIT_FAILURE, EXIT_USAGE, Context, fail, friendly_errors, pass_ctx, run
from ._offsets_render import current, row, to_json
from ._offsets_streams import check_change, configured_streams
from ._text import cut, printable, table

F = TypeVar("F", bound=Callable[..., Any])

_NO_TERMINAL = (
    "refusing to change a cursor without confirmation: stdin is not a terminal; "
    "pass --yes to change it anyway"
)


def _fail_with(exc: OffsetsError) -> None:
    fail(str(exc), EXIT_USAGE if isinstance(exc, OffsetsInputError) else EXIT_FAILURE)


async def _states(
    settings: Settings, configured: list[str]
) -> tuple[CursorsTopic | None, dict[str, StreamState], int]:
    try:
        topic: CursorsTopic | None = await cursors_topic(settings)
    except OffsetsError:
        topic = None
    states, unreadable = await read_states(settings, topic, configured)
    return topic, states, unreadable


@click.group("offsets")
def offsets_group() -> None:
    """Show and change poll streams' cursors, like Kafka Connect's offsets API.

    A stream's cursor (stream id `<connector>.<stream>`) is the latest record
    of its key on the compacted topic <prefix>switchboard.cursors. `set` and
    `reset` write a change there; the worker that owns the stream (role
    `poll`) applies it between two pages, dropping the run it was in, and
    acknowledges it; without such a worker the change waits on the topic
    until one owns the stream.

    Reading never joins a consumer group and never commits offsets.
    """


@offsets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="The full records, one JSON object per line.")
@pass_ctx
@friendly_errors
def offsets_list(ctx: Context, as_json: bool) -> None:
    """List every poll stream: those configured here (a stream never polled
    shows "no cursor yet") and every stream with a record on the cursors
    topic, configured here or not.

    \b
    Columns: STATUS of the last poll (ok, not_modified, throttled, failed,
    reset: a cursor change was applied, "reset (pending)": written but no
    worker applied it yet, new: no record); MARK where the next run starts
    (JSON); IN RUN: a run was interrupted and resumes at its next page;
    LAST PAGE: time of the last page polled and stored; LAST FAILURE: time
    the last poll failed (throttled or failed; "-" once a page succeeds
    again), ERROR its error; WORKER: who wrote the record.
    """
    settings = ctx.settings
    try:
        configured = configured_streams(settings)
        topic, states, unreadable = run(_states(settings, configured))
    except OffsetsError as exc:
        _fail_with(exc)
    if as_json:
        for state in states.values():
            click.echo(orjson.dumps(state.to_obj()))
    elif states:
        header = [
            "STREAM", "STATUS", "MARK", "IN RUN", "LAST PAGE", "LAST FAILURE", "WORKER", "ERROR",
        ]  # fmt: skip
        click.echo(table(header, [row(s) for s in states.values()]))
    elsewhere = [s.stream for s in states.values() if not s.configured]
    pending = sum(s.pending for s in states.values())
    notes = [f"{len(states)} stream(s), {len(configured)} configured here"]
    if topic is None:
        notes.append(f"no cursors topic yet ({TopicNames.from_settings(settings).cursors})")
    if elsewhere:
        notes.append(f"not configured here: {printable(', '.join(elsewhere))}")
    if pending:
        notes.append(f"{pending} change(s) not applied yet (no worker owning them acknowledged)")
    if unreadable:
        notes.append(f"{unreadable} unreadable record(s) skipped")
    click.echo("; ".join(notes), err=True)


def _change_options(func: F) -> F:
    options = [
        click.option(
            "--timeout",
            type=click.FloatRange(min=0),
            default=30.0,
            show_default=True,
            metavar="S",
            help="How long to wait for the owning worker to acknowledge the change "
            "(0: do not wait).",
        ),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@offsets_group.command("set")
@click.argument("stream")
@click.option("--mark", metavar="JSON", help="""The new mark, as JSON: --mark '"evt_123"'.""")
@click.option(
    "--cursor",
    "cursor_json",
    metavar="JSON",
    help="""A whole cursor object: '{"mark": ..., "next": {...}, "run_mark": ..., "etag": ...}'.""",
)
@_change_options
@pass_ctx
@friendly_errors
def offsets_set(
    ctx: Context,
    stream: str,
    mark: str | None,
    cursor_json: str | None,
    timeout: float,
    yes: bool,
) -> None:
    """Set STREAM's cursor: its next run starts after --mark (the position a
    finished run reached: Stripe an event id, GitHub an updated_at time), or
    exactly at --cursor.

    A --cursor's next.url must be relative or on the stream's connector's
    origin (its base URL): another one would receive the credential (exit 2).
    The run the stream is in (if any) is dropped; --mark also drops the ETag
    of the last run's first page. Shows the current and the new cursor and asks for
    confirmation unless --yes (without a terminal it refuses, exit 2); then
    waits up to --timeout for the worker owning the stream to acknowledge it.
    Exit 0 whether it was applied or is still waiting for a worker (the
    output says which); 1 if declined, or if a later change of the same
    stream superseded it (the worker applies only the latest).

    \b
    Examples:
      switchboard offsets set stripe.events --mark '"evt_1Nw2x3"'
      switchboard offsets set github.issues:octo/hello --mark '"2026-01-01T00:00:00Z"' -y
      switchboard offsets set generic.items --cursor '{"mark": 50}'
    """
    try:
        if mark is not None and cursor_json is None:
            cursor = Cursor(parse_mark(mark))
        elif cursor_json is not None and mark is None:
            cursor = parse_cursor(cursor_json)
        else:
            raise OffsetsInputError(
                "give exactly one of --mark and --cursor; e.g. --mark '\"evt_123\"'"
            )
    except OffsetsInputError as exc:
        _fail_with(exc)
    plan = [f"new:     cursor {cut(to_json(cursor.to_obj()), 300)}"]
    if cursor.in_run:
        plan.append("  the next run resumes at the request in 'next'")
    elif cursor.mark is None:
        plan.append("  no mark: the next run starts from the beginning (or poll.backfill_from)")
    else:
        plan.append("  the next run starts after this mark")
    _change(ctx, stream, cursor, None, plan, yes=yes, timeout=timeout)


@offsets_group.command("reset")
@click.argument("stream")
@click.option(
    "--from",
    "from_",
    metavar="WHEN",
    help="Re-read from this time: ISO date or time (naive = UTC), or a duration ago (7d).",
)
@click.option("--beginning", is_flag=True, help="Re-read from the beginning [the default].")
@_change_options
@pass_ctx
@friendly_errors
def offsets_reset(
    ctx: Context,
    stream: str,
    from_: str | None,
    beginning: bool,
    timeout: float,
    yes: bool,
) -> None:
    """Reset STREAM: clear its cursor so the stream re-reads from --from
    or from the beginning (backfill).

    Every item from there is polled again and produced to <c>.ingest; dedup
    keeps <c>.events clean: items already seen within the dedup retention
    window (worker.dedup_retention_s, 7 days by default) and among the last
    worker.dedup_max_ids (200,000) ids of their partition are dropped, older
    ones come out again. Confirmation, --yes and --timeout work as in
    `offsets set`.

    \b
    Examples:
      switchboard offsets reset stripe.events --from 2026-01-01
      switchboard offsets reset stripe.events --from 2026-01-01T12:00:00+02:00 --yes
      switchboard offsets reset github.issues:octo/hello --beginning
    """
    if from_ is not None and beginning:
        fail("give at most one of --from and --beginning", EXIT_USAGE)
    try:
        backfill = parse_from(from_) if from_ is not None else None
    except OffsetsInputError as exc:
        _fail_with(exc)
    settings = ctx.settings
    days = f"{settings.worker.dedup_retention_s / 86400:g} day(s)"
    if backfill is None:
        where = "the beginning" + ("" if beginning else " (--beginning, the default)")
    else:
        where = f"{backfill.isoformat()} (--from)"
    plan = [
        'new:     cursor {"mark":null}'
        + (f", backfill {backfill.isoformat()}" if backfill else ", no backfill"),
        f"  the stream re-reads from {where}; dedup drops items already seen "
        f"within {days} (worker.dedup_retention_s here) and among the last "
        f"{settings.worker.dedup_max_ids:,} ids of their partition (worker.dedup_max_ids)",
    ]
    configured_from = settings.poll.backfill_from
    if backfill is None and configured_from is not None:
        plan.append(
            f"  note: poll.backfill_from is set here ({configured_from.isoformat()}); "
            "a worker with that setting starts from there instead"
        )
    _change(ctx, stream, Cursor(), backfill, plan, yes=yes, timeout=timeout)


def _change(
    ctx: Context,
    stream: str,
    cursor: Cursor,
    backfill: datetime | None,
    plan: list[str],
    *,
    yes: bool,
    timeout: float,
) -> None:
    """What set and reset share: check, show, confirm, write, wait for the echo."""
    settings = ctx.settings
    try:
        configured = configured_streams(settings)
        if stream in configured:
            check_change(settings, stream, cursor)
        if not (yes or sys.stdin.isatty()):
            # An unknown stream (a typo) is the first thing to tell; it may be
            # known from the cursors topic only, so that is read unless Kafka is down.
            if stream not in configured:
                with contextlib.suppress(KafkaUnavailable):
                    run(_load(settings, configured, stream))
            fail(_NO_TERMINAL, EXIT_USAGE)
        topic, state = run(_load(settings, configured, stream))
        if stream not in configured:
            check_change(settings, stream, cursor)
    except OffsetsError as exc:
        _fail_with(exc)
    change = change_record(state, cursor, backfill=backfill)
    lines = [f"stream {printable(stream)}: {topic.name} partition {topic.partition_of(stream)}"]
    lines += current(state)
    lines += plan
    click.echo("\n".join(lines), err=True)
    if not yes:
        click.confirm(f"Change the cursor of {printable(stream)}?", abort=True, err=True)
    try:
        echo = run(_write_and_wait(settings, topic, change, timeout))
    except OffsetsError as exc:
        _fail_with(exc)
    if echo is None:
        click.echo(
            f"written, not waiting (--timeout 0): the change takes effect when a worker "
            f"with the poll role owns {stream}"
        )
    elif echo.outcome == "applied" and echo.record is not None:
        click.echo(f"applied by {printable(echo.record.worker or 'a worker')}")
    elif echo.outcome == "superseded" and echo.record is not None:
        other = echo.record
        fail(
            f"superseded: another change of {stream} (request {other.request}, by "
            f"{printable(other.worker)}) was written after this one; that one is applied instead"
        )
    else:
        click.echo(
            f"not applied yet: no worker with the poll role acknowledged request "
            f"{change.request} within {timeout:g} s; the change takes effect when one owns "
            f"{stream} (see `switchboard offsets list`)"
        )


async def _load(
    settings: Settings, configured: list[str], stream: str
) -> tuple[CursorsTopic, StreamState]:
    try:
        topic = await cursors_topic(settings)
    except OffsetsError:
        if stream not in configured:  # unknown wins over "no topic": it is the user's to fix
            resolve((await read_states(settings, None, configured))[0], stream)
        raise
    states, _ = await read_states(settings, topic, configured)
    return topic, resolve(states, stream)


async def _write_and_wait(
    settings: Settings, topic: CursorsTopic, change: CursorRecord, timeout: float
) -> Echo | None:
    written = await write_change(settings, topic, change)
    click.echo(f"written to {written} (request {change.request})", err=True)
    if timeout <= 0:
        return None
    click.echo(
        f"waiting up to {timeout:g} s for the worker owning {change.stream} to apply it...",
        err=True,
    )
    return await wait_for_echo(settings, written, change, timeout)


__all__ = ["offsets_group"]
