"""Poll sources: providers' paginated lists into ``<c>.ingest``, cursors in Kafka.

Webhooks get lost (an endpoint down, a provider that never retries). Each
connector declares the lists it can poll (:class:`core.poll.PollStream`);
the poller runs them and produces every polled item to the same
``<c>.ingest`` topic the ingest server writes, keyed by the same event id,
so the dedup processor turns webhook + poll into one event per id.

Ownership: every worker with the ``poll`` role joins the consumer group
``<prefix>switchboard-poll`` on the compacted cursors topic. A stream
belongs to the partition its id hashes to (:mod:`streams.offsets.cursors`), so
the group's assignment gives each stream exactly one owner, and a dead
worker's streams move to the survivors after the session timeout. On
assignment the owner reads its partitions to the end (the latest record
of each stream is its state), then keeps reading them live to pick up
``switchboard offsets set|reset``; on revocation it stops those streams
before the group moves on.

One run of a stream, page by page (:func:`core.poll.poll_run`):

1. the page's events are produced to ``<c>.ingest`` and every one is
   acknowledged (acks=all, idempotent producer);
2. only then is the cursor after the page written and acknowledged.

A crash between 1 and 2 re-polls that one page (dedup absorbs it); a crash
anywhere else re-polls nothing; no crash can skip a page.

Scheduling: each stream has its own task, its own interval (or cron
expression) and a random phase, so streams do not fire together; a run
that falls behind goes on page after page without waiting for the next
tick, and without holding up any other stream. A 429, a rate header, an
outage or a network error ends the run where it is (the cursor stays at
the last acknowledged page) and the stream tries again after a growing
pause (``status=throttled``): polls slow down, they never fail for it. A
pagination error (the provider handed back a page token it already gave)
or a fatal request/config error stops the stream (``status=failed``,
``/healthz`` 503) until its cursor is changed with ``switchboard offsets``
or the worker restarts. Poll requests take the connector's shared rate
budget at low priority (``poll.priority``): the sinks go first.

The package, by job:

- :mod:`~streams.poll.targets`: what this deployment polls (:func:`build_polls`);
- :mod:`~streams.poll.schedule`: when a stream is due, as pure functions of a
  clock and a random source;
- :mod:`~streams.poll.poller`: the group member (:class:`Poller`, a
  :class:`streams.partitions.PartitionOwner`) that loads cursors on
  assignment and starts and stops the streams;
- :mod:`~streams.poll.runner`: one stream's task, its pages and cursor writes;
- :mod:`~streams.poll.state`: what a cursors partition and an owned stream hold.
"""

from __future__ import annotations

from ..offsets.cursors import new_request_id
from .poller import Poller
from .targets import PollTarget, build_polls, stream_id

__all__ = ["PollTarget", "Poller", "build_polls", "new_request_id", "stream_id"]
