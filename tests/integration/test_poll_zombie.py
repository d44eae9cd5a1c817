"""A poll worker paused (SIGSTOP) past its session timeout, while a page is on
its way, is a zombie when it resumes (SIGCONT): another worker took the
stream over and finished the run. The zombie must write nothing for it, not
the page's events and not its (older) cursor, which would send the stream's
next owner back to re-poll what was already read (see
:mod:`streams.membership`)."""

from __future__ import annotations

import asyncio
import signal

from tests.integration.test_poll_worker import PAGE, Rig, rig
from tests.kafkatools import group_state, read_topic
from tests.waiting import eventually_sync

__all__ = ["rig"]  # the fixture, shared with the poll worker tests


def written(r: Rig) -> tuple[int, int, int]:
    """Records on the cursors topic and on stripe.ingest, requests to the sandbox."""
    cursors = asyncio.run(read_topic(r.settings, r.names.cursors))
    return len(cursors), len(r.ingest_ids()), len(r.sandbox.requests)


def test_a_paused_poller_that_lost_its_stream_writes_nothing_for_it(rig: Rig) -> None:
    rig.env["SWITCHBOARD_POLL__INTERVAL_S"] = "3600"  # one run each: nothing polls after it
    rig.sandbox.add_events(12 * PAGE)
    rig.sandbox.set_latency(1.0)  # a page is on its way when the worker is paused
    zombie, _ = rig.start("poll")
    eventually_sync(
        lambda: (c := rig.cursor()) is not None and c.cursor.in_run and c.pages >= 2, 60
    )
    # Paused at a known point: every page it received is written (events and
    # cursor acked) and the request for the next one waits at the provider.
    # (A pause between a passed check and the bytes leaving the socket is
    # the fence's one stated gap; this test is about everything else.)
    rig.sandbox.hold()

    def next_page_waiting() -> bool:
        c = rig.cursor()
        return c is not None and len(rig.sandbox.requests_to("/v1/events")) == c.pages + 1

    eventually_sync(next_page_waiting, 60, what="the next page's request held, the rest written")
    zombie.send_signal(signal.SIGSTOP)
    try:
        rig.sandbox.set_latency(0)
        rig.sandbox.release()  # its answer reaches the paused worker's socket
        rig.start("poll")  # owns the stream once the group drops the paused one

        def finished() -> bool:
            c = rig.cursor()
            return c is not None and not c.cursor.in_run and c.cursor.mark is not None

        eventually_sync(finished, 90)
        before = written(rig), rig.cursor()
    finally:
        zombie.send_signal(signal.SIGCONT)
    group = f"{rig.names.prefix}switchboard-poll"
    eventually_sync(
        lambda: asyncio.run(group_state(rig.settings, group)) == ("Stable", 2),
        90,
        what="both poll workers in the group again",
    )
    assert (written(rig), rig.cursor()) == before, "the resumed poller wrote for a lost stream"
    assert zombie.poll() is None, rig.log(0)
    assert "stopped, not written" in rig.log(0)  # it did hold a page when it resumed
