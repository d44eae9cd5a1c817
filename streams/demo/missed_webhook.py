"""A webhook missed on purpose and recovered by the poll: events happen at
the Stripe sandbox, every one but one is delivered as a webhook, the
worker's poll of ``GET /v1/events`` brings the missed one in, and each is
once on ``stripe.events`` though the delivered ones are polled too; then
the poll's cursor is at the newest event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click
import httpx
import orjson

from core.envelopes import Event

from ..kafka.topics import TopicNames
from ..settings import Settings
from .checks import SINK_CONNECTOR, Checks, step, why
from .deliveries import STRIPE_SECRET
from .kafka_io import Watch, cursor_mark, end_offsets, wait_until, watching
from .processes import POLL_INTERVAL_S, STRIPE_EVENTS, dedup_count, run_cli, stripe_env

if TYPE_CHECKING:
    from connectors.stripe._sandbox import StripeSandbox

__all__ = ["cursor", "missed_webhook"]

RECOVERY_S = 30.0  # how long the missed webhook may take to come in by poll
CURSOR_S = 10.0  # how long the poll's cursor may take to show its last page after that


def _stripe_happenings(run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Three things that happen at Stripe, as (event type, object)."""
    invoice = {
        "id": f"in_demo_{run_id}",
        "object": "invoice",
        "customer": f"cus_demo_{run_id}",
        "amount_due": 2000,
        "currency": "usd",
        "status": "open",
    }
    charge = {
        "id": f"ch_demo_{run_id}",
        "object": "charge",
        "amount": 2000,
        "currency": "usd",
        "invoice": invoice["id"],
        "status": "succeeded",
    }
    return [
        ("invoice.created", invoice),
        ("invoice.paid", {**invoice, "status": "paid", "amount_paid": 2000}),
        ("charge.succeeded", charge),
    ]


async def missed_webhook(
    settings: Settings, provider: StripeSandbox, url: str, run_id: str, checks: Checks
) -> None:
    """Events happen at the sandbox; every one but one is delivered as a
    webhook; the poll brings the missed one in, and each is once on
    ``stripe.events`` though the delivered ones are polled too."""

    names = TopicNames.from_settings(settings)
    ingest, events = names.ingest(SINK_CONNECTOR), names.events(SINK_CONNECTOR)
    step(
        f"A webhook missed on purpose, recovered by the poll "
        f"({STRIPE_EVENTS}: GET /v1/events every {POLL_INTERVAL_S:g} s)"
    )
    since = await end_offsets(settings, [ingest, events])
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        watching(settings, since) as watch,
    ):
        dropped = await dedup_count(http, SINK_CONNECTOR, "duplicate")
        # Held, the poll cannot read the events before their webhooks are in,
        # so each event's first copy is the same in every run.
        provider.hold()
        try:
            happened = [provider.add_event(kind, obj) for kind, obj in _stripe_happenings(run_id)]
            missed = happened[1]
            click.echo(
                f"{len(happened)} events happen at the sandbox (its GET /v1/events held until "
                "the webhooks are in); Stripe delivers them -> POST /webhooks/stripe"
            )
            delivered = await _deliver(http, provider, happened, missed, checks)
            if not await watch.until(_all_on(watch, events, delivered), RECOVERY_S):
                seen = {t: [i for i in delivered if watch.of(t, i)] for t in (ingest, events)}
                checks.check(
                    False,
                    f"the delivered events did not reach {events} within {RECOVERY_S:g} s "
                    f"(seen on {ingest}: {', '.join(seen[ingest]) or 'none'}; on {events}: "
                    f"{', '.join(seen[events]) or 'none'}; {await why(settings)})",
                    f"the delivered events on {events}",
                )
        finally:
            provider.release()
        click.echo(
            f"GET /v1/events released: waiting up to {RECOVERY_S:g} s for the poll to bring "
            f"{missed['id']} in (and dedup to drop the polled copies of the others)"
        )
        every = _all_on(watch, events, [event["id"] for event in happened])

        async def settled() -> bool:
            polled = all("poll" in _deliveries(watch.of(ingest, i)) for i in delivered)
            if not (polled and await every()):
                return False
            now = await dedup_count(http, SINK_CONNECTOR, "duplicate")
            return now >= dropped + len(delivered)

        await watch.until(settled, RECOVERY_S)
        missing = [e for e in happened if not watch.of(events, e["id"])]
        backlog_note = await why(settings) if missing else ""
    for event in happened:
        _show_copies(backlog_note, watch, ingest, events, event["id"], event is missed, checks)


async def _deliver(
    http: httpx.AsyncClient,
    provider: StripeSandbox,
    happened: list[dict[str, Any]],
    missed: dict[str, Any],
    checks: Checks,
) -> list[str]:
    """Deliver each event of ``happened`` as Stripe would, except ``missed``;
    returns the ids delivered."""

    delivered = []
    for event in happened:
        label = f"webhook  {event['id']}  {event['type']}"
        if event is missed:
            click.echo(f"--  ---  {label}: not delivered (the endpoint was down)")
            continue
        body, headers = provider.event_webhook(event, STRIPE_SECRET)
        response = await http.post("/webhooks/stripe", content=body, headers=headers)
        if checks.check(
            response.status_code == 200,
            f"{response.status_code}  {label}",
            f"the webhook of {event['id']}: 200",
        ):
            delivered.append(event["id"])
    return delivered


def _all_on(watch: Watch, topic: str, ids: list[str]) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return all(watch.of(topic, i) for i in ids)

    return done


def _deliveries(copies: list[Event]) -> list[str]:
    return [event.delivery for event in copies]


def _show_copies(
    why: str,
    watch: Watch,
    ingest: str,
    events: str,
    event_id: str,
    missed: bool,
    checks: Checks,
) -> None:
    """One line per event: how its first copy came, how many records of it
    are on the events topic, and the copies that came in on ingest."""
    out = watch.of(events, event_id)
    came = _deliveries(watch.of(ingest, event_id))
    copies = f"(copies on {ingest}: {', '.join(came) or 'none'})"
    if not out:
        checks.check(
            False,
            f"{event_id}  not on {events} within {RECOVERY_S:g} s {copies}; {why}",
            f"{event_id} on {events} within {RECOVERY_S:g} s",
        )
        return
    first = out[0]
    if missed:  # it can only have come in by poll
        ok = first.delivery == "poll"
        copies += "  <- the missed webhook, recovered by the poll"
        expected = f"{event_id} once on {events}, by poll"
    else:  # delivered, then polled too: two copies in, one event out
        ok = set(came) == {"webhook", "poll"}
        expected = f"{event_id} once on {events}, though both delivered and polled"
    checks.check(
        ok and len(out) == 1,
        f"{event_id}  {first.type:<24} delivery={first.delivery:<8} "
        f"{len(out)} record(s) on {events}  {copies}",
        expected,
    )


def cursor(settings: Settings, provider: StripeSandbox, checks: Checks) -> None:
    """``switchboard offsets list``: the poll's cursor is at the newest event."""

    newest = provider.events()[-1]["id"]
    step("The poll's cursor: switchboard offsets list")

    async def at_newest() -> bool:
        return bool(await cursor_mark(settings, STRIPE_EVENTS) == newest)

    reached = asyncio.run(wait_until(at_newest, CURSOR_S))
    listed = run_cli(settings, ["offsets", "list"], env=stripe_env(provider.url))
    for text in (listed.stdout.rstrip(), listed.stderr.rstrip()):
        if text:
            click.echo(text)
    if reached:
        line = f"the next poll starts after {newest}, the newest event at the sandbox"
    else:
        mark = asyncio.run(cursor_mark(settings, STRIPE_EVENTS))
        line = f"mark {orjson.dumps(mark).decode()}, not {newest} (the newest event at the sandbox)"
    if listed.returncode != 0:
        line += f"; `switchboard offsets list` exited {listed.returncode}"
    checks.check(
        listed.returncode == 0 and reached,
        f"{STRIPE_EVENTS}: {line}",
        f"the {STRIPE_EVENTS} cursor at the newest event",
    )
