"""``switchboard demo``: the whole path on a laptop, narrated.

Every step checks what it shows: a line starts with ``ok`` when the
expected outcome happened and ``!!`` when it did not, and the demo then
exits 1 naming what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from aiokafka import ConsumerRecord, TopicPartition

import connectors
from core.envelopes import Event, Result
from core.settings import Settings

from .. import kafka, localkafka
from .._demo_namespace import (
    backlog,
    delete_namespace,
    interrupted_runs,
    new_namespace,
    sink_group,
    worker_group,
)
from ..commands import CommandClient, build_command, send_command
from ..kafka.topics import TopicNames, connector_topics, ensure_topics, shared_topics
from ..tail import format_record
from ._common import Context, fail, friendly_errors, pass_ctx, run

if TYPE_CHECKING:
    import httpx

    from connectors.stripe._sandbox import StripeSandbox
    from core.testing import Sandbox

    from ..demo import Watch

DEMO_CONNECTORS = ("stripe", "github", "slack")
SINK_CONNECTOR = "stripe"  # the demo's sink runs against this connector's sandbox
BAD_EMAIL = {"email": "ada-at-example"}
BURST = 2  # 503s before the call succeeds: fewer than RetryPolicy.attempts (5 by default)
RECOVERY_S = 30.0  # how long the missed webhook may take to come in by poll
CURSOR_S = 10.0  # how long the poll's cursor may take to show its last page after that


def _step(text: str) -> None:
    click.echo(click.style(f"\n==> {text}", bold=True))


@dataclass
class _Checks:
    """What the demo expected and did not see."""

    missed: list[str] = field(default_factory=list)

    def check(self, ok: bool, line: str, expected: str) -> bool:
        click.echo(f"{'ok ' if ok else '!! '} {line}")
        if not ok:
            self.missed.append(expected)
        return ok


async def _read_back(
    settings: Settings, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes]:
    consumer = kafka.consumer(settings, group_id=None, isolation_level="read_uncommitted")
    async with kafka.connect(settings, consumer):
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone()
        return record


async def _produce_event(settings: Settings, event: Event) -> tuple[str, int, int]:
    topic = TopicNames.from_settings(settings).events(event.provider)
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        meta = await producer.send_and_wait(
            topic,
            event.to_json(),
            key=event.key.encode(),
            headers=[("content-type", Event.CONTENT_TYPE.encode())],
        )
    return meta.topic, meta.partition, meta.offset


@click.command("demo")
@pass_ctx
@friendly_errors
def demo(ctx: Context) -> None:
    """The whole path on this machine, narrated and checked.

    Starts the local broker, creates the topics, sends an example command
    and event and reads them back; then runs a Stripe sandbox and a worker
    (ingest, dedup and a Stripe sink pointed at the sandbox), sends it
    signed webhooks (with a duplicate, a tampered and a stale delivery) and
    shows one event per id; then sends commands (a good one, a duplicate, an
    invalid one, one hitting a 5xx burst, one the provider rejects), shows
    their Results and the DLQ; then lets Stripe events happen at the sandbox,
    delivers all but one as webhooks, and shows the worker's poll of
    GET /v1/events bringing in the missed one, each event once on
    stripe.events, and the poll's cursor. Exits 1 if an expected outcome did
    not happen.
    """
    checks = _Checks()

    _step("Kafka")
    settings = ctx.settings
    bootstrap, started = localkafka.ensure_broker(settings)
    click.echo(f"{'started' if started else 'using'} Kafka at {bootstrap}")
    if started or not settings.kafka.bootstrap_servers:
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})}
        )
    ns = new_namespace(settings)
    click.echo(
        f"the demo's own namespace: topic prefix {ns.prefix} (its topics, consumer groups "
        "and poll cursors; deleted at the end). Your topics, groups and cursors "
        f"({settings.kafka.topic_prefix or 'no prefix'}) are not read or written."
    )
    try:
        _clean_interrupted(settings)
        _show_paths(ns.settings)
        _worker(ns.settings, ns.run_id, checks)
    finally:
        _step("Cleanup")
        topics, groups = run(delete_namespace(ns.settings, ns.prefix))
        click.echo(
            f"deleted the demo's {topics} topics and {groups} consumer groups ({ns.prefix}*)"
        )

    _step("Done")
    if checks.missed:
        fail(
            f"{len(checks.missed)} expected outcome(s) did not happen: " + "; ".join(checks.missed)
        )
    cmd = _command_name()
    click.echo(
        "Every expected outcome happened. Next: run `"
        f"{cmd} worker` for the connectors you configure (README: Settings), `{cmd} --help` "
        f"for every command; stop the broker with `{cmd} kafka stop`."
    )


def _command_name() -> str:
    """How to run this ``switchboard`` from here: its bare name only if that
    is what PATH finds, else its path (relative when under the working
    directory: ``.venv/bin/switchboard`` after ``make demo``)."""
    script = Path(sys.executable).parent / "switchboard"
    if not script.exists():
        return "switchboard"
    found = shutil.which("switchboard")
    if found is not None and Path(found).resolve() == script.resolve():
        return "switchboard"
    with contextlib.suppress(ValueError):
        return str(script.absolute().relative_to(Path.cwd()))
    return str(script)


def _clean_interrupted(settings: Settings) -> None:
    """Delete what demo runs killed before their own cleanup left behind."""
    for prefix in run(interrupted_runs(settings)):
        run(delete_namespace(settings, prefix))
        click.echo(f"deleted the topics of an earlier, interrupted demo run ({prefix}*)")


def _show_paths(settings: Settings) -> None:
    """Topics, a command and an event sent and read back."""
    _step("Topics")
    specs = shared_topics(settings)
    for name in DEMO_CONNECTORS:
        specs += connector_topics(settings, name)
    created = run(ensure_topics(settings, specs))
    click.echo(f"{len(specs)} topics ready ({len(created)} created):")
    for group in [shared_topics(settings)] + [
        connector_topics(settings, name) for name in DEMO_CONNECTORS
    ]:
        click.echo("  " + "  ".join(spec.name for spec in group))

    _step("Command: switchboard send stripe.customers.create --key cus_demo ...")
    command = build_command(
        "stripe.customers.create",
        {"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"source": "demo"}},
    )
    sent = run(send_command(settings, command, key="cus_demo"))
    click.echo(f"command id {sent.command.id} -> {sent.topic}[{sent.partition}]@{sent.offset}")

    _step("Event: a Stripe payment_intent.succeeded on stripe.events")
    event = Event(
        id=f"evt_demo_{sent.command.id[:8]}",
        source="switchboard/stripe",
        type="stripe.payment_intent.succeeded",
        subject="pi_demo",
        provider="stripe",
        delivery="webhook",
        data={"object": {"id": "pi_demo", "object": "payment_intent", "amount": 2000}},
    )
    ev_topic, ev_partition, ev_offset = run(_produce_event(settings, event))
    click.echo(f"event id {event.id} -> {ev_topic}[{ev_partition}]@{ev_offset}")

    _step("Reading both back from Kafka (what `switchboard tail` prints)")
    for topic, partition, offset in (
        (sent.topic, sent.partition, sent.offset),
        (ev_topic, ev_partition, ev_offset),
    ):
        record = run(_read_back(settings, topic, partition, offset))
        click.echo(format_record(record, color=False))


async def _why(settings: Settings) -> str:
    """The worker's backlog: what its groups have not consumed yet."""
    names = TopicNames.from_settings(settings)
    ingest = [names.ingest(name) for name in DEMO_CONNECTORS]
    commands = [names.commands(SINK_CONNECTOR)]
    return "; ".join(
        [
            await backlog(settings, worker_group(settings), ingest),
            await backlog(settings, sink_group(settings, SINK_CONNECTOR), commands),
        ]
    )


def _worker(settings: Settings, run_id: str, checks: _Checks) -> None:
    from .. import demo as parts

    _step(
        "Worker: switchboard worker --roles ingest,dedup,sink,poll (demo secrets; the "
        "Stripe sink and the Stripe events poll call a local Stripe sandbox)"
    )
    since = run(parts.start_offsets(settings))
    factory = connectors.get(SINK_CONNECTOR).sandbox
    assert factory is not None
    sandbox = factory()  # its API key is the demo's SANDBOX_API_KEY (sk_test_sandbox)
    try:
        with (
            sandbox.in_thread() as provider,
            parts.running_worker(settings, stripe_url=provider.url) as url,
        ):
            click.echo(f"stripe sandbox at {provider.url} (in this process)")
            click.echo(
                f"worker at {url}; it polls {parts.STRIPE_EVENTS} (GET /v1/events) "
                f"every {parts.POLL_INTERVAL_S:g} s"
            )
            _webhooks(settings, url, run_id, since, checks)
            failed_since = datetime.now(UTC) - timedelta(seconds=1)
            run(_commands(settings, provider, run_id, checks))
            _dead_letters(settings, run_id, failed_since, checks)
            run(_missed_webhook(settings, provider, url, run_id, checks))
            _cursor(settings, provider, checks)
    except TimeoutError as exc:  # no Result or event came: nothing more to check
        fail(f"{exc}; {run(_why(settings))}")


def _webhooks(
    settings: Settings,
    url: str,
    run_id: str,
    since: dict[TopicPartition, int],
    checks: _Checks,
) -> None:
    import httpx

    from .. import demo as parts

    _step("Signed webhooks -> POST /webhooks/<connector>")
    for item in parts.deliveries(run_id):
        response = httpx.post(
            f"{url}/webhooks/{item.connector}",
            content=item.body,
            headers=item.headers,
            timeout=30,
        )
        checks.check(
            response.status_code == item.expect,
            f"{response.status_code}  {item.label}",
            f"{item.label}: {item.expect}",
        )
        if response.status_code == 200 and b"challenge" in response.content:
            click.echo(f"      answered {response.text}")

    _step("Events topics: one event per provider event id (of the webhooks above)")
    events = run(parts.read_new_events(settings, since, expect=3))
    for topic, event in events:
        click.echo(f"{topic:<16} {event.type:<36} id={event.id} subject={event.subject}")
    ids = {event.id for _topic, event in events}
    line = f"{len(events)} events for {len(ids)} ids (the duplicate was dropped)"
    if len(events) < 3:  # what the worker had not done yet
        line += f"; within 60 s, with {run(_why(settings))}"
    checks.check(len(events) == 3 and len(ids) == 3, line, "3 events for 3 ids")

    _step("Rejections counted (GET /metrics)")
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    for line in metrics.splitlines():
        if line.startswith("switchboard_webhooks_total{") or line.startswith(
            "switchboard_dedup_total{"
        ):
            click.echo(line)


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
    checks: _Checks,
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


async def _commands(settings: Settings, provider: Sandbox, run_id: str, checks: _Checks) -> None:
    from .. import demo as parts

    names = TopicNames.from_settings(settings)
    commands_topic = names.commands(SINK_CONNECTOR)
    dlq_topic = names.dlq(commands_topic)
    ids = {k: f"demo-{run_id}-{k}" for k in ("good", "raw", "burst", "missing")}
    key = f"ada-{run_id}"  # one ordering key: the duplicate is handled before the burst

    _step(f"Commands -> {commands_topic} -> sink -> sandbox; one Result each")
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
        answers = await parts.read_results(
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
        rejected = await asyncio.to_thread(parts.run_cli, settings, cli_args)
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
        result = await parts.produce_raw(
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


def _dead_letters(settings: Settings, run_id: str, since: datetime, checks: _Checks) -> None:
    from .. import demo as parts

    names = TopicNames.from_settings(settings)
    dlq_topic = names.dlq(names.commands(SINK_CONNECTOR))
    when = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    args = ["dlq", "list", "--topic", names.commands(SINK_CONNECTOR), "--since", when]
    _step(f"Dead letters: switchboard {' '.join(args)}")
    listed = parts.run_cli(settings, args)
    click.echo(listed.stdout.rstrip())
    click.echo(listed.stderr.rstrip())
    found = run(parts.dead_lettered(settings, dlq_topic, since, f"demo-{run_id}-"))
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


async def _missed_webhook(
    settings: Settings, provider: StripeSandbox, url: str, run_id: str, checks: _Checks
) -> None:
    """Events happen at the sandbox; every one but one is delivered as a
    webhook; the poll brings the missed one in, and each is once on
    ``stripe.events`` though the delivered ones are polled too."""
    import httpx

    from .. import demo as parts

    names = TopicNames.from_settings(settings)
    ingest, events = names.ingest(SINK_CONNECTOR), names.events(SINK_CONNECTOR)
    _step(
        f"A webhook missed on purpose, recovered by the poll "
        f"({parts.STRIPE_EVENTS}: GET /v1/events every {parts.POLL_INTERVAL_S:g} s)"
    )
    since = await parts.end_offsets(settings, [ingest, events])
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        parts.watching(settings, since) as watch,
    ):
        dropped = await parts.dedup_count(http, SINK_CONNECTOR, "duplicate")
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
                    f"{', '.join(seen[events]) or 'none'}; {await _why(settings)})",
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
            now = await parts.dedup_count(http, SINK_CONNECTOR, "duplicate")
            return now >= dropped + len(delivered)

        await watch.until(settled, RECOVERY_S)
        missing = [e for e in happened if not watch.of(events, e["id"])]
        why = await _why(settings) if missing else ""
    for event in happened:
        _show_copies(why, watch, ingest, events, event["id"], event is missed, checks)


async def _deliver(
    http: httpx.AsyncClient,
    provider: StripeSandbox,
    happened: list[dict[str, Any]],
    missed: dict[str, Any],
    checks: _Checks,
) -> list[str]:
    """Deliver each event of ``happened`` as Stripe would, except ``missed``;
    returns the ids delivered."""
    from .. import demo as parts

    delivered = []
    for event in happened:
        label = f"webhook  {event['id']}  {event['type']}"
        if event is missed:
            click.echo(f"--  ---  {label}: not delivered (the endpoint was down)")
            continue
        body, headers = provider.event_webhook(event, parts.STRIPE_SECRET)
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
    checks: _Checks,
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


def _cursor(settings: Settings, provider: StripeSandbox, checks: _Checks) -> None:
    """``switchboard offsets list``: the poll's cursor is at the newest event."""
    from .. import demo as parts

    newest = provider.events()[-1]["id"]
    _step("The poll's cursor: switchboard offsets list")

    async def at_newest() -> bool:
        return bool(await parts.cursor_mark(settings, parts.STRIPE_EVENTS) == newest)

    reached = run(parts.wait_until(at_newest, CURSOR_S))
    listed = parts.run_cli(settings, ["offsets", "list"], env=parts.stripe_env(provider.url))
    for text in (listed.stdout.rstrip(), listed.stderr.rstrip()):
        if text:
            click.echo(text)
    if reached:
        line = f"the next poll starts after {newest}, the newest event at the sandbox"
    else:
        mark = run(parts.cursor_mark(settings, parts.STRIPE_EVENTS))
        line = f"mark {orjson.dumps(mark).decode()}, not {newest} (the newest event at the sandbox)"
    if listed.returncode != 0:
        line += f"; `switchboard offsets list` exited {listed.returncode}"
    checks.check(
        listed.returncode == 0 and reached,
        f"{parts.STRIPE_EVENTS}: {line}",
        f"the {parts.STRIPE_EVENTS} cursor at the newest event",
    )
