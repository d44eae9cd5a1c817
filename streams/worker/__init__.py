"""The worker process: the roles of one deployment in one process.

By role (``worker.roles``):

- ``ingest``: ``POST /webhooks/<c>`` (:mod:`streams.ingest`);
- ``dedup``: one faust agent per connector (:mod:`streams.dedup`);
- ``sink``: one command consumer per configured connector (:mod:`streams.sink`);
- ``poll``: the poll streams this worker owns (:mod:`streams.poll`);
- always: ``GET /healthz``, ``GET /readyz`` (Kafka answers and, with
  ``dedup``, the tables are restored: 503 ``dedup: recovering tables`` until
  faust's recovery of the assigned partitions ended), ``GET /metrics``.

Modules: :mod:`.run` (check Kafka, create topics, run until a signal),
:mod:`.roles` (the one place the roles are started and stopped),
:mod:`.http_server` (the HTTP server) and :mod:`.connections` (its limits),
:mod:`.log` (one log format, start-up noise cut).

Every worker of a deployment joins the same consumer groups, so starting
more workers spreads the partitions between them.
"""

from __future__ import annotations

from .run import build_faust_app, prepare, run_worker

__all__ = ["build_faust_app", "prepare", "run_worker"]
