"""A transport fault for a worker subprocess: every fetch of the aiokafka
consumer first pauses the assigned partitions of ``STALL_TOPIC``, and
resuming them does nothing.

Put this directory on the subprocess's ``PYTHONPATH`` (Python imports
``sitecustomize`` at start): the real ``switchboard worker`` runs unchanged,
and a partition of that topic can never be fetched, whatever the worker
resumes -- the stall its watchdog cannot recover from. Only aiokafka (the
Kafka client, a boundary) is wrapped, nothing of Switchboard's.
"""

from __future__ import annotations

import os
from typing import Any

STALL_TOPIC = os.environ.get("STALL_TOPIC")

if STALL_TOPIC:
    from aiokafka import AIOKafkaConsumer

    _getmany = AIOKafkaConsumer.getmany

    async def _paused_getmany(self: AIOKafkaConsumer, *partitions: Any, **kwargs: Any) -> Any:
        stalled = [tp for tp in self.assignment() if tp.topic == STALL_TOPIC]
        if stalled:
            self.pause(*stalled)
        return await _getmany(self, *partitions, **kwargs)

    _resume = AIOKafkaConsumer.resume

    def _no_resume(self: AIOKafkaConsumer, *partitions: Any) -> None:
        _resume(self, *[tp for tp in partitions if tp.topic != STALL_TOPIC])

    AIOKafkaConsumer.getmany = _paused_getmany
    AIOKafkaConsumer.resume = _no_resume
