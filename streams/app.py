"""The faust application factory.

One :func:`create_app` builds the faust ``App`` every Switchboard worker
runs, from the same settings as the aiokafka clients (brokers, SASL/SSL),
with durable defaults: an idempotent ``acks=all`` producer, topics created
with the configured partitions and replication factor, tables whose state
is backed by changelog topics.

faust is imported inside the factory, never at module import, because
importing faust reads ``sys.argv`` and sets environment variables.
"""

from __future__ import annotations

from typing import Any, Literal

from . import kafka
from .settings import Settings

__all__ = ["broker_credentials", "broker_url", "create_app"]


def broker_url(settings: Settings) -> str:
    """``switchboard://h1:p1;h2:p2``: faust's URL list with our transport."""
    servers = [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()]
    return ";".join(f"switchboard://{server}" for server in servers)


def broker_credentials(settings: Settings) -> Any:
    """faust credentials for the configured security protocol (or None)."""
    import faust

    k = settings.kafka
    context = kafka.ssl_context(settings)
    if k.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=k.sasl_username,
            password=k.sasl_password.get_secret_value() if k.sasl_password else None,
            mechanism=k.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(
    settings: Settings,
    app_id: str = "switchboard",
    *,
    store: str = "memory://",
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once",
    web_port: int | None = None,
    **overrides: Any,
) -> Any:
    """A configured ``faust.App`` (not started)."""
    import faust

    settings.worker.data_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": broker_url(settings),
        "broker_credentials": broker_credentials(settings),
        "broker_client_id": settings.kafka.client_id,
        "producer_acks": -1,
        "topic_partitions": settings.kafka.partitions,
        # unset only before the worker resolved it from the cluster (streams.worker.run)
        "topic_replication_factor": settings.kafka.replication_factor or 1,
        "topic_allow_declare": True,
        "store": store,
        "processing_guarantee": processing_guarantee,
        "datadir": str(settings.worker.data_dir / app_id),
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.worker.session_timeout_s,
        "broker_heartbeat_interval": max(1.0, settings.worker.session_timeout_s / 10),
        "broker_rebalance_timeout": max(settings.worker.session_timeout_s, 30.0),
        "web_enabled": web_port is not None,
        "web_port": web_port or settings.worker.port,
        "web_host": settings.worker.host,
        "autodiscover": False,
    }
    options.update(overrides)
    app_id = f"{settings.kafka.topic_prefix}{app_id}"
    return faust.App(app_id, **options)
