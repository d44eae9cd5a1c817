"""The topics a sink needs, checked before it starts consuming.

Its commands, results and ledger topics must exist, and results and
ledger need at least the commands topic's partitions: the answer to a
command of partition P goes to partition P of both.
"""

from __future__ import annotations

from core import errors as e
from streams.settings import Settings

from ..kafka.topics import partitions_of

__all__ = ["check_sink_topics"]


async def check_sink_topics(
    settings: Settings, connector: str, commands: str, results: str, ledger: str
) -> None:
    """Raises :class:`~core.errors.PolicyError` saying how to fix what is missing."""
    counts = {}
    for topic in (commands, results, ledger):
        found = await partitions_of(settings, topic)
        if found is None:
            raise e.PolicyError(
                f"topic {topic} does not exist: run `switchboard topics create {connector}`",
                setting="kafka",
            )
        counts[topic] = len(found)
    need = counts[commands]
    for topic in (results, ledger):
        if counts[topic] < need:
            raise e.PolicyError(
                f"{topic} has {counts[topic]} partitions but {commands} has "
                f"{need}: the sink writes partition P of both for commands of partition P; "
                "add partitions to it",
                setting="kafka.partitions",
            )
