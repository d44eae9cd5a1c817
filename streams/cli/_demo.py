"""``switchboard demo``: the whole path on a laptop, narrated."""

from __future__ import annotations

import click
from aiokafka import ConsumerRecord, TopicPartition

from core.envelopes import Event
from core.settings import Settings

from .. import kafka, localkafka
from ..commands import build_command, send_command
from ..tail import format_record
from ..topics import TopicNames, connector_topics, ensure_topics, shared_topics
from ._common import Context, friendly_errors, pass_ctx, run

DEMO_CONNECTORS = ("stripe", "github", "slack")


def _step(text: str) -> None:
    click.echo(click.style(f"\n==> {text}", bold=True))


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
    """The whole path on this machine, narrated.

    Starts the local broker, creates the topics, sends an example command
    and event and reads them back; then runs a worker and sends it signed
    Stripe, GitHub and Slack webhooks (with a duplicate, a tampered and a
    stale delivery) and shows one event per id on the events topics.
    """
    settings = ctx.settings

    _step("Kafka")
    bootstrap, started = localkafka.ensure_broker(settings)
    click.echo(f"{'started' if started else 'using'} Kafka at {bootstrap}")
    if started or not settings.kafka.bootstrap_servers:
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})}
        )

    _step("Topics")
    specs = shared_topics(settings)
    for name in DEMO_CONNECTORS:
        specs += connector_topics(settings, name)
    created = run(ensure_topics(settings, specs))
    for spec in specs:
        click.echo(f"{'created' if spec.name in created else 'exists '}  {spec.name}")

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

    _webhooks(settings)

    _step("Done")
    click.echo(
        "Follow a topic with `switchboard tail stripe.commands --from-beginning`; "
        "stop the broker with `switchboard kafka stop`."
    )


def _webhooks(settings: Settings) -> None:
    import httpx

    from .. import demo as webhook_demo

    _step("Worker: switchboard worker --roles ingest,dedup (demo secrets)")
    since = run(webhook_demo.start_offsets(settings))
    run_id = webhook_demo.new_run_id()
    with webhook_demo.running_worker(settings) as url:
        click.echo(f"worker at {url}")
        _step("Signed webhooks -> POST /webhooks/<connector>")
        accepted_ids = set()
        for item in webhook_demo.deliveries(run_id):
            response = httpx.post(
                f"{url}/webhooks/{item.connector}",
                content=item.body,
                headers=item.headers,
                timeout=30,
            )
            mark = "ok " if response.status_code == item.expect else "!! "
            click.echo(f"{mark}{response.status_code}  {item.label}")
            if response.status_code == 200 and b"challenge" in response.content:
                click.echo(f"      answered {response.text}")
        _step("Events topics: one event per provider event id")
        events = run(webhook_demo.read_new_events(settings, since, expect=3))
        for topic, event in events:
            accepted_ids.add(event.id)
            click.echo(f"{topic:<16} {event.type:<36} id={event.id} subject={event.subject}")
        click.echo(f"{len(events)} events for {len(accepted_ids)} ids (the duplicate was dropped)")
        _step("Rejections counted (GET /metrics)")
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        for line in metrics.splitlines():
            if line.startswith("switchboard_webhooks_total{") or line.startswith(
                "switchboard_dedup_total{"
            ):
                click.echo(line)
