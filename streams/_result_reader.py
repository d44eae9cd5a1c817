"""Reading Results back for a :class:`streams.commands.CommandClient`.

One group-less consumer serves every pending ``SentCommand.result()`` of a
client; partitions are assigned by hand (no offsets committed, nothing
anyone else reads is moved).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.envelopes import EnvelopeError, Result

__all__ = ["ResultReader"]

log = logging.getLogger("streams.commands")

_Waiter = tuple[int, "asyncio.Future[Result]"]  # (first offset that may hold it, future)


class ResultReader:
    """One consumer serving every pending ``result()`` of a client.

    Only partitions with someone waiting are assigned; each is read from the
    lowest starting offset among its waiters (re-reading is harmless: a
    record is matched by key and offset, a future resolves once).
    """

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._waiting: dict[TopicPartition, dict[str, list[_Waiter]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def watch(
        self, tp: TopicPartition, command_id: str, start: int
    ) -> asyncio.Future[Result]:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tp, {}).setdefault(command_id, []).append((start, future))
        if tp not in self._consumer.assignment():
            # assign() forgets every position: place each partition again.
            self._consumer.assign(list(self._waiting))
            for assigned in self._waiting:
                self._consumer.seek(assigned, self._lowest_start(assigned))
        elif start < await self._consumer.position(tp):
            # Registered before reading the position, so records past it
            # reach this waiter; only what is behind needs reading again.
            self._consumer.seek(tp, self._lowest_start(tp))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(), name="switchboard-results")
        return future

    def unwatch(self, tp: TopicPartition, command_id: str, future: asyncio.Future[Result]) -> None:
        by_id = self._waiting.get(tp, {})
        entries = [entry for entry in by_id.get(command_id, []) if entry[1] is not future]
        if entries:
            by_id[command_id] = entries
        else:
            by_id.pop(command_id, None)
        if not by_id:
            self._waiting.pop(tp, None)  # stays assigned until the next assign(): harmless
        future.cancel()

    def _lowest_start(self, tp: TopicPartition) -> int:
        return min(start for entries in self._waiting[tp].values() for start, _ in entries)

    async def _read(self) -> None:
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=1_000)
                for tp, records in batches.items():
                    by_id = self._waiting.get(tp, {})
                    for record in records if by_id else ():
                        key = (record.key or b"").decode("utf-8", "replace")
                        pending = [
                            future
                            for start, future in by_id.get(key, ())
                            if record.offset >= start and not future.done()
                        ]
                        if pending:
                            self._resolve(pending, record.value, tp, record.offset)
        except Exception as exc:
            # Every waiter hears of it; the next watch() starts a new reader.
            log.warning("reading Results failed", extra={"error": repr(exc)})
            self._fail_all(exc)

    @staticmethod
    def _resolve(
        futures: list[asyncio.Future[Result]], value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        try:
            result = Result.from_json(value or b"")
        except EnvelopeError as exc:
            log.warning(
                "skipping a record that is not a Result",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": offset,
                    "error": str(exc),
                },
            )
            return
        for future in futures:
            future.set_result(result)

    def _fail_all(self, exc: BaseException) -> None:
        for by_id in self._waiting.values():
            for entries in by_id.values():
                for _start, future in entries:
                    if not future.done():
                        future.set_exception(exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._fail_all(RuntimeError("the CommandClient was closed"))
