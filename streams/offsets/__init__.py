"""Poll streams' positions: the cursor records the poller keeps on
``<prefix>switchboard.cursors`` and what ``switchboard offsets`` reads and
writes of them.

- :mod:`.cursors`: the record format, and which partition (so which
  worker) owns a stream;
- :mod:`.states`: reading every stream's latest record, writing a change
  the way the poller expects one and waiting for its echo.

Nothing here imports the poller, which keeps its records here; which
streams a deployment polls is the commands' to ask
(:mod:`streams.cli._offsets_streams`).
"""

from __future__ import annotations

from .cursors import CursorRecord, new_request_id, partition_for, worker_name
from .states import (
    CursorsTopic,
    Echo,
    OffsetsError,
    OffsetsInputError,
    StreamState,
    Written,
    change_record,
    cursors_topic,
    parse_cursor,
    parse_from,
    parse_mark,
    read_states,
    resolve,
    wait_for_echo,
    write_change,
)

__all__ = [
    "CursorRecord",
    "CursorsTopic",
    "Echo",
    "OffsetsError",
    "OffsetsInputError",
    "StreamState",
    "Written",
    "change_record",
    "cursors_topic",
    "new_request_id",
    "parse_cursor",
    "parse_from",
    "parse_mark",
    "partition_for",
    "read_states",
    "resolve",
    "wait_for_echo",
    "worker_name",
    "write_change",
]
