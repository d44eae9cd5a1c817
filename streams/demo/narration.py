"""``switchboard demo``: the whole path on a laptop, narrated.

Every step checks what it shows: a line starts with ``ok`` when the
expected outcome happened and ``!!`` when it did not, and the demo then
exits 1 naming what was missed."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import httpx
from aiokafka import TopicPartition

import connectors
from core.envelopes import Event

from .. import localkafka
from ..commands import build_command, send_command
from ..kafka.topics import connector_topics, ensure_topics, shared_topics
from ..settings import Settings
from ..tail import format_record
from .checks import DEMO_CONNECTORS, SINK_CONNECTOR, Checks, fail, step, why
from .command_steps import commands, dead_letters
from .deliveries import deliveries
from .kafka_io import produce_event, read_back, read_new_events, start_offsets
from .missed_webhook import cursor, missed_webhook
from .namespace import delete_namespace, interrupted_runs, new_namespace
from .processes import POLL_INTERVAL_S, STRIPE_EVENTS, running_worker

__all__ = ["run_demo"]


def run_demo(settings: Settings) -> None:
    """Run the demo against ``settings``' broker (started if needed), narrated;
    exits 1 (``error: ...``) if an expected outcome did not happen."""
    checks = Checks()

    step("Kafka")
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
        step("Cleanup")
        topics, groups = asyncio.run(delete_namespace(ns.settings, ns.prefix))
        click.echo(
            f"deleted the demo's {topics} topics and {groups} consumer groups ({ns.prefix}*)"
        )

    step("Done")
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
    for prefix in asyncio.run(interrupted_runs(settings)):
        asyncio.run(delete_namespace(settings, prefix))
        click.echo(f"deleted the topics of an earlier, interrupted demo run ({prefix}*)")


def _show_paths(settings: Settings) -> None:
    """Topics, a command and an event sent and read back."""
    step("Topics")
    specs = shared_topics(settings)
    for name in DEMO_CONNECTORS:
        specs += connector_topics(settings, name)
    created = asyncio.run(ensure_topics(settings, specs))
    click.echo(f"{len(specs)} topics ready ({len(created)} created):")
    for group in [shared_topics(settings)] + [
        connector_topics(settings, name) for name in DEMO_CONNECTORS
    ]:
        click.echo("  " + "  ".join(spec.name for spec in group))

    step("Command: switchboard send stripe.customers.create --key cus_demo ...")
    command = build_command(
        "stripe.customers.create",
        {"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"source": "demo"}},
    )
    sent = asyncio.run(send_command(settings, command, key="cus_demo"))
    click.echo(f"command id {sent.command.id} -> {sent.topic}[{sent.partition}]@{sent.offset}")

    step("Event: a Stripe payment_intent.succeeded on stripe.events")
    event = Event(
        id=f"evt_demo_{sent.command.id[:8]}",
        source="switchboard/stripe",
        type="stripe.payment_intent.succeeded",
        subject="pi_demo",
        provider="stripe",
        delivery="webhook",
        data={"object": {"id": "pi_demo", "object": "payment_intent", "amount": 2000}},
    )
    ev_topic, ev_partition, ev_offset = asyncio.run(produce_event(settings, event))
    click.echo(f"event id {event.id} -> {ev_topic}[{ev_partition}]@{ev_offset}")

    step("Reading both back from Kafka (what `switchboard tail` prints)")
    for topic, partition, offset in (
        (sent.topic, sent.partition, sent.offset),
        (ev_topic, ev_partition, ev_offset),
    ):
        record = asyncio.run(read_back(settings, topic, partition, offset))
        click.echo(format_record(record, color=False))


def _worker(settings: Settings, run_id: str, checks: Checks) -> None:
    step(
        "Worker: switchboard worker --roles ingest,dedup,sink,poll (demo secrets; the "
        "Stripe sink and the Stripe events poll call a local Stripe sandbox)"
    )
    since = asyncio.run(start_offsets(settings))
    factory = connectors.get(SINK_CONNECTOR).sandbox
    assert factory is not None
    sandbox = factory()  # its API key is the demo's SANDBOX_API_KEY (sk_test_sandbox)
    try:
        with (
            sandbox.in_thread() as provider,
            running_worker(settings, stripe_url=provider.url) as url,
        ):
            click.echo(f"stripe sandbox at {provider.url} (in this process)")
            click.echo(
                f"worker at {url}; it polls {STRIPE_EVENTS} (GET /v1/events) "
                f"every {POLL_INTERVAL_S:g} s"
            )
            _webhooks(settings, url, run_id, since, checks)
            failed_since = datetime.now(UTC) - timedelta(seconds=1)
            asyncio.run(commands(settings, provider, run_id, checks))
            dead_letters(settings, run_id, failed_since, checks)
            asyncio.run(missed_webhook(settings, provider, url, run_id, checks))
            cursor(settings, provider, checks)
    except TimeoutError as exc:  # no Result or event came: nothing more to check
        fail(f"{exc}; {asyncio.run(why(settings))}")


def _webhooks(
    settings: Settings,
    url: str,
    run_id: str,
    since: dict[TopicPartition, int],
    checks: Checks,
) -> None:
    step("Signed webhooks -> POST /webhooks/<connector>")
    for item in deliveries(run_id):
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

    step("Events topics: one event per provider event id (of the webhooks above)")
    events = asyncio.run(read_new_events(settings, since, expect=3))
    for topic, event in events:
        click.echo(f"{topic:<16} {event.type:<36} id={event.id} subject={event.subject}")
    ids = {event.id for _topic, event in events}
    line = f"{len(events)} events for {len(ids)} ids (the duplicate was dropped)"
    if len(events) < 3:  # what the worker had not done yet
        line += f"; within 60 s, with {asyncio.run(why(settings))}"
    checks.check(len(events) == 3 and len(ids) == 3, line, "3 events for 3 ids")

    step("Rejections counted (GET /metrics)")
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    for line in metrics.splitlines():
        if line.startswith("switchboard_webhooks_total{") or line.startswith(
            "switchboard_dedup_total{"
        ):
            click.echo(line)
