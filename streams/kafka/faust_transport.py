"""faust's aiokafka transport, with an idempotent producer and a consumer
fixed so that a rebalance cannot make it skip records.

Registered under the ``faust.transports`` entry point as ``switchboard``
and used through broker URLs ``switchboard://host:port``. Importing this
module imports faust: only the faust app factory does.

Producer: faust only turns on producer idempotence inside transactions
(exactly-once). Switchboard wants it for every producer, so this transport
adds it always.

Consumer: with faust-streaming 0.15.3 and aiokafka 0.14, a rebalance could
leave a worker that reports "Worker ready" consuming nothing more from a
partition it took over (a dedup worker SIGKILLed mid-load: the survivor's
committed offsets stopped for good). Related upstream reports:
faust-streaming issues #216 (queues cleared around the seek leave a gap)
and #221 (records fetched before a rebalance delivered after it). Three
defects combine; the aiokafka consumer runs in its own
thread (``AIOKafkaConsumerThread``) while faust pauses and resumes
partitions from the main thread:

1. An empty filter drains everything. ``Consumer._wait_next_records``
   (faust/transport/consumer.py) hands the *live* set of active partitions
   to the consumer thread, and ``AIOKafkaConsumerThread._fetch_records``
   (faust/transport/drivers/aiokafka.py) passes it to aiokafka's
   ``Fetcher.fetched_records(partitions, timeout)``, which reads an empty
   collection as "every partition" (``if partitions and tp not in
   partitions``, aiokafka/consumer/fetcher.py). The main thread empties the
   set while that call is queued or waiting (up to 1 s) for data: at a
   rebalance (``pause_partitions(assigned)`` in
   ``App._on_partitions_assigned``) and when table recovery has read the
   changelogs (``pause_partitions(active_tps)`` in ``tables/recovery.py``).
   The call then drains every fetched partition, paused stream partitions
   included, and faust's ``getmany`` drops those records (flow stopped, or
   partition not active) after their fetch positions moved past them.
2. Stream records drained during recovery are thrown away. Once the
   changelogs are read, ``Recovery.on_recovery_completed`` resumes the
   stream partitions, then seeks them to their committed offsets
   (``perform_seek``), then calls ``flow_control.resume()``, which clears
   every agent's input queue (``clear_on_resume=True`` in faust/channels.py;
   ``FlowControlEvent.resume`` in mode/utils/queues.py). Records drained in
   between reach the agents' queues and are cleared unprocessed and never
   acknowledged, while the drain loop has already recorded them as read
   (``_read_offset``), so their second delivery after the seek is dropped
   as already read ("DROPPED MESSAGE ROFF"). The partition's acknowledged
   offsets have a hole that no commit gets past.
3. The repair skips partitions never committed. faust relies on seeking to
   the committed offsets after dropping records (``Consumer.perform_seek``
   -> aiokafka ``seek_to_committed``), but aiokafka only seeks partitions
   whose committed offset is > 0 (``if offset and offset > 0``,
   aiokafka/consumer/consumer.py): a partition with none keeps the position
   past the dropped records, which are never delivered again.

The fixes, in the consumer thread: (1, 2) the filter handed to aiokafka is
never empty-means-all, and admits a partition, at the moment aiokafka
drains, only if faust has it active with its flow running and, while faust
is rebalancing (from the revocation until recovery has sought the stream
partitions and resumed the flow: ``App.on_rebalance_end``), only if it is a
changelog partition; (3) seeking to the committed offsets also moves each
stream partition without one to the start, as ``auto_offset_reset=earliest``
says (changelog partitions are positioned by table recovery itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class _Fetchable:
    """The partitions aiokafka may hand out records of, decided per
    partition at the moment it drains (see the module docstring): active in
    faust with its flow running, and a changelog partition while faust is
    rebalancing. Never falsy, so aiokafka never reads it as "all
    partitions"."""

    def __init__(self, consumer: Any, active: Set[TP]) -> None:
        self._consumer = consumer
        self._active = active

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        consumer = self._consumer
        return (
            bool(consumer.flow_active)
            and tp in self._active
            and (not consumer.app.rebalancing or consumer._is_changelog_tp(tp))
        )

    def __iter__(self) -> Iterator[TP]:
        return iter([tp for tp in frozenset(self._active) if tp in self])

    def __len__(self) -> int:
        return len(list(iter(self)))


def known_partitions(snapshot: Mapping[str, int], topic: str) -> int | None:
    """A topic's partition count from the consumer's metadata, or None while
    the metadata does not know it yet.

    A topic created a moment ago (faust declares a table's changelog at
    start) is in aiokafka's metadata snapshot with 0 partitions until the
    next metadata refresh. faust compares that 0 with the source topic's
    count on a table's first write and raises ``PartitionsMismatch``, which
    kills the dedup agent for good, so duplicates got through until the
    worker was restarted. 0 is "not known yet": faust then skips the check
    (the topics are created with the same configured count).
    """
    count = snapshot.get(topic)
    return count or None


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def topic_partitions(self, topic: str) -> int | None:
        if self._consumer is None:
            return None
        return known_partitions(self._consumer._coordinator._metadata_snapshot, topic)

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        partitions: Any = active_partitions
        if active_partitions is not None:  # None: a client-only app, all partitions
            partitions = _Fetchable(self.consumer, active_partitions)
        return await super()._fetch_records(
            consumer, partitions, timeout=timeout, max_records=max_records
        )

    async def seek_to_committed(self) -> Mapping[TP, int]:
        result: Mapping[TP, int] = await self.call_thread(self._seek_to_committed)
        return result

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[TP, int | None] = await consumer.seek_to_committed()
        streams = {
            tp: offset for tp, offset in committed.items() if not self.consumer._is_changelog_tp(tp)
        }
        never = [tp for tp, offset in streams.items() if offset is None]
        if never and self.app.conf.consumer_auto_offset_reset == "earliest":
            await consumer.seek_to_beginning(*never)
        for tp, offset in streams.items():
            if offset == 0:  # aiokafka seeks only to offsets > 0
                consumer.seek(tp, 0)
        return committed  # type: ignore[return-value]  # None where nothing was committed, as faust expects

    async def recover_partition(self, tp: TP, position: int) -> None:
        """Resume ``tp`` in aiokafka if paused and re-seek it to ``position``
        (the stall watchdog's recovery, :mod:`streams.watchdog`)."""
        await self.call_thread(self._recover_partition, tp, position)

    async def _recover_partition(self, tp: TP, position: int) -> None:
        consumer = self._ensure_consumer()
        if tp in consumer.paused():
            consumer.resume(tp)
        consumer.seek(tp, position)


class Consumer(faust_aiokafka.Consumer):
    _thread: ConsumerThread

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[Consumer]] = Consumer
    Producer: ClassVar[type[Producer]] = Producer
    driver_version = faust_aiokafka.Transport.driver_version
