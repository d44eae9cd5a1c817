"""What this deployment's settings poll, for ``switchboard offsets``: the
configured stream ids, and the check of a cursor's ``next.url`` against
its stream's base URL. It asks the poller (:func:`streams.poll.build_polls`),
so it is part of the commands: :mod:`streams.offsets` is below the poller,
which keeps its cursor records there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core import errors as e
from core.pagination import PaginationError
from core.poll import Cursor, check_cursor

from ..offsets import OffsetsInputError
from ..poll import build_polls
from ..settings import Settings

__all__ = ["check_change", "configured_streams"]


def configured_streams(settings: Settings) -> list[str]:
    """The stream ids this deployment's settings poll (``streams.poll.build_polls``)."""
    try:
        return sorted(t.id for t in build_polls(settings))
    except e.PolicyError as exc:
        raise OffsetsInputError(str(exc)) from None


def check_change(settings: Settings, stream: str, cursor: Cursor) -> None:
    """Refuse a cursor whose ``next.url`` would send the stream's credential to
    another origin (:func:`core.poll.check_cursor`, the poller's own check).

    ``stream`` must be configured here to know its connector's base URL; a
    stream known only from the cursors topic takes a relative ``next.url``
    only. Raises :class:`OffsetsInputError` (one line, with the fix).
    """
    url = cursor.next.url if cursor.next is not None else None
    if url is None:
        return
    try:
        targets = {t.id: t for t in build_polls(settings)}
    except e.PolicyError as exc:
        raise OffsetsInputError(str(exc)) from None
    target = targets.get(stream)
    if target is None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:  # the connector's base URL is unknown here
            raise OffsetsInputError(
                f"--cursor: {stream} is not configured here, so an absolute next.url cannot "
                "be checked against its connector's base URL; give a relative one "
                "(a path and query) or run this where the stream is configured"
            )
        return
    try:
        check_cursor(target.stream, target.setup.policy.base_url, cursor)
    except PaginationError as exc:
        raise OffsetsInputError(f"--cursor: {exc.message}") from None
