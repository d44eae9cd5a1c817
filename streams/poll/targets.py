"""What this deployment polls: every configured stream with its client setup."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import connectors
from core import errors as e
from core.apicall import ClientSetup
from core.connector import Connector
from core.poll import PollStream
from streams.settings import Settings

__all__ = ["PollTarget", "build_polls", "stream_id"]

log = logging.getLogger(__package__)


def stream_id(connector: str, stream: PollStream) -> str:
    """``<connector>.<stream>``: the key of the stream's cursor records."""
    return f"{connector}.{stream.name}"


@dataclass(frozen=True)
class PollTarget:
    """A stream of a connector, with the client setup it runs with."""

    connector: Connector
    stream: PollStream
    setup: ClientSetup

    @property
    def id(self) -> str:
        return stream_id(self.connector.name, self.stream)


def build_polls(settings: Settings) -> list[PollTarget]:
    """Every stream this deployment polls (``poll.connectors`` / ``poll.streams``).

    A connector named explicitly in ``poll.connectors`` that cannot poll is
    an error; otherwise connectors whose settings lack what polling needs
    (an API key, a repository) are skipped with a log line. Stream ids in
    ``poll.streams``, ``poll.intervals`` or ``poll.cron`` that match no
    stream are an error naming the known ones.
    """
    cfg = settings.poll
    wanted = cfg.connectors
    targets: list[PollTarget] = []
    for name in wanted if wanted is not None else connectors.names():
        connector = connectors.get(name)
        section = settings.section(name)
        streams = connector.polls(section) if connector.polls is not None else []
        if not streams or connector.api is None:
            if wanted is not None:
                raise e.PolicyError(
                    f"connector {name} has no poll streams configured", setting="poll.connectors"
                )
            continue
        try:
            setup = connector.api(section)
        except e.PolicyError as exc:
            if wanted is not None:
                raise
            log.info("poll %s: not started (%s)", name, exc)
            continue
        targets.extend(PollTarget(connector, s, setup) for s in streams)
    known = {t.id for t in targets}
    for setting, ids in (
        ("poll.streams", cfg.streams or []),
        ("poll.intervals", list(cfg.intervals)),
        ("poll.cron", list(cfg.cron)),
    ):
        unknown = sorted(set(ids) - known)
        if unknown:
            raise e.PolicyError(
                f"{setting}: unknown stream id(s) {', '.join(unknown)}; "
                f"configured: {', '.join(sorted(known)) or 'none'}",
                setting=setting,
            )
    if cfg.streams is not None:
        targets = [t for t in targets if t.id in cfg.streams]
    return targets
