"""The cursor records now live in :mod:`streams.offsets.cursors`; this path
stays for the poller, which still imports them from here, until it imports
the offsets package's."""

from .offsets.cursors import CursorRecord, new_request_id, partition_for, worker_name

__all__ = ["CursorRecord", "new_request_id", "partition_for", "worker_name"]
