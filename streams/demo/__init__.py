"""``switchboard demo``: the whole path on one machine, narrated and checked.

The demo runs in a namespace of its own on the user's broker, a real
worker process against a local Stripe sandbox, and checks every outcome it
shows. One package, narration and parts together:

- :mod:`.narration`: the steps in order (:func:`run_demo`);
- :mod:`.checks`: step headings, checked lines, the failure exit;
- :mod:`.command_steps`, :mod:`.missed_webhook`: the command and the poll
  chapters;
- :mod:`.deliveries`: the signed webhooks; :mod:`.processes`: the worker
  and CLI processes it runs; :mod:`.kafka_io`: every Kafka read and write;
- :mod:`.namespace`: the run's own topic prefix, and its cleanup.
"""

from __future__ import annotations

from .narration import run_demo

__all__ = ["run_demo"]
