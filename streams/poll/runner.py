"""One poll stream's task: wait for its deadline, run it page by page, store its cursor.

A run (:func:`core.poll.poll_run`) goes page after page without waiting
for the next tick; every page's events are produced to ``<c>.ingest`` and
acknowledged before the cursor after the page is written and acknowledged.
A CLI change (``pending``) wins over the run: it is applied between two
pages and written back under the poller's name. A retryable error (a 429,
an outage, Kafka or the network) ends the run with the cursor at the last
acknowledged page (``status=throttled``) and the stream tries again after a
growing pause; anything else stops it (``status=failed``) until its cursor
is changed. When is decided by :mod:`streams.poll.schedule`.

Every write (a page's events, a cursor) and each attempt of every provider
call is first let through by ``guard(stream)``, the zombie fence of
:mod:`streams.membership`: a poller paused out of its group writes and calls
nothing for the streams it lost; their tasks end (``WorkLost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from core import errors as e
from core.client import guard_attempts
from core.envelopes import Event
from core.poll import poll_run
from core.redaction import redact_text

from ..kafka.batches import send_keyed
from ..membership import WorkLost
from ..offsets.cursors import CursorRecord
from . import schedule
from ._prefetch import prefetched
from .state import OwnedStream

if TYPE_CHECKING:
    from streams.settings import PollSettings

__all__ = ["StreamRunner"]

log = logging.getLogger(__package__)

POLLED = Counter("switchboard_poll_records_total", "Records polled and acknowledged", ["stream"])
PAGES = Counter("switchboard_poll_pages_total", "Pages polled, by outcome", ["stream", "outcome"])
LAST_POLL = Gauge("switchboard_poll_last_success_seconds", "Time of the last good page", ["stream"])
_CONTENT_TYPE = [("content-type", Event.CONTENT_TYPE.encode())]


class StreamRunner:
    """Runs the tasks of owned streams through one producer (see the module docstring)."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        cursors_topic: str,
        cfg: PollSettings,
        *,
        clock: schedule.Clock,
        rng: random.Random,
        guard: Callable[[OwnedStream], Awaitable[None]],
    ) -> None:
        self.producer = producer
        self.cursors_topic = cursors_topic
        self.cfg = cfg
        self.clock = clock
        self.rng = rng
        self.guard = guard

    def _now(self) -> float:
        return self.clock.now().monotonic

    async def run(self, stream: OwnedStream) -> None:
        """The stream's task, until it is cancelled or the stream is lost."""
        try:
            await self._run(stream)
        except WorkLost as exc:  # a zombie: its new owner polls it
            log.warning("poll %s: stopped, not written: %s", stream.id, exc)

    async def _run(self, stream: OwnedStream) -> None:
        due = schedule.first_due(stream.plan, stream.record, self.clock.now(), self.rng)
        while True:
            timeout = due - self._now()
            if stream.pending is None and timeout > 0:
                stream.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if timeout == schedule.NEVER else timeout):
                        await stream.wake.wait()
            if stream.pending is not None:
                try:
                    await self._apply(stream)
                    due = self._now()
                except KafkaError as exc:
                    log.warning("poll %s: cannot apply the cursor change yet: %s", stream.id, exc)
                    due = self._now() + self.cfg.retry_min_s
                continue
            if self._now() < due:
                continue
            started = self._now()
            outcome = await self._poll_once(stream)
            if outcome == "failed":
                due = schedule.NEVER
            elif outcome == "retry":
                due = self._now() + stream.backoff.failed()
            elif outcome == "interrupted":
                due = self._now()
            else:
                due = schedule.next_due(stream.plan, started, self.clock.now(), self.rng)

    async def _apply(self, stream: OwnedStream) -> None:
        """Adopt a CLI change and write it back as ours (the CLI waits for that echo)."""
        change = stream.pending
        assert change is not None
        record = change.evolve(origin="poller", status="reset", error=None, pages=0, records=0)
        await self._save(stream, record)
        if stream.pending is change:
            stream.pending = None
        stream.failed = None
        stream.backoff.succeeded()
        log.info("poll %s: cursor changed by %s", stream.id, change.worker or "the CLI")

    async def _save(self, stream: OwnedStream, record: CursorRecord) -> None:
        await self.guard(stream)
        await self.producer.send_and_wait(
            self.cursors_topic,
            record.to_json(),
            key=stream.id.encode(),
            partition=stream.partition,
        )
        stream.record = record

    async def _poll_once(self, stream: OwnedStream) -> str:
        """One run; returns ok | retry | failed | interrupted."""
        producer = self.producer
        record = stream.record
        backfill = record.backfill or self.cfg.backfill_from
        pages = 0
        sid = stream.id
        try:
            pages_in = poll_run(
                stream.target.stream,
                stream.client,
                record.cursor,
                backfill=backfill,
                max_pages=self.cfg.max_pages_per_run,
            )
            with guard_attempts(lambda: self.guard(stream)):
                async for page in prefetched(pages_in):
                    if stream.pending is not None:
                        return "interrupted"
                    await self.guard(stream)
                    if page.events:
                        records = ((ev.id.encode(), ev.to_json()) for ev in page.events)
                        await asyncio.gather(
                            *await send_keyed(
                                producer, stream.topic, records, headers=_CONTENT_TYPE
                            )
                        )
                    if stream.pending is not None:
                        return "interrupted"  # a CLI change wins over this page's cursor
                    pages += 1
                    record = record.evolve(
                        cursor=page.cursor,
                        origin="poller",
                        request=None,
                        status="not_modified" if page.not_modified else "ok",
                        error=None,
                        polled_at=self.clock.now().wall.isoformat(),
                        failed_at=None,
                        records=page.records,
                        pages=pages,
                    )
                    await self._save(stream, record)
                    POLLED.labels(sid).inc(page.records)
                    PAGES.labels(sid, "not_modified" if page.not_modified else "ok").inc()
                    LAST_POLL.labels(sid).set_to_current_time()
        except (asyncio.CancelledError, WorkLost):
            raise
        except (e.SwitchboardError, KafkaError, OSError) as exc:
            retry = isinstance(exc, KafkaError | OSError) or (
                isinstance(exc, e.SwitchboardError) and exc.retryable
            )
            return await self._failed(stream, exc, retry=retry)
        except Exception as exc:  # a connector bug: report it, don't kill the worker
            log.exception("poll %s: unexpected error", sid)
            return await self._failed(stream, exc, retry=False)
        stream.backoff.succeeded()
        return "ok"

    async def _failed(self, stream: OwnedStream, exc: BaseException, *, retry: bool) -> str:
        message = redact_text(f"{type(exc).__name__}: {exc}")[:500]
        status = "throttled" if retry else "failed"
        PAGES.labels(stream.id, status).inc()
        if retry:
            log.warning("poll %s: %s; retrying later (cursor kept)", stream.id, message)
        else:
            stream.failed = message
            log.error("poll %s: stopped: %s (fix, then `switchboard offsets`)", stream.id, message)
        with contextlib.suppress(KafkaError, OSError):
            failed = stream.record.evolve(
                status=status,
                error=message,
                request=None,
                failed_at=self.clock.now().wall.isoformat(),  # polled_at stays the last good page
            )
            await self._save(stream, failed)
        return "retry" if retry else "failed"
