"""faust's aiokafka transport with an idempotent producer.

faust only turns on producer idempotence inside transactions
(exactly-once). Switchboard wants it for every producer, so this transport
(registered under the ``faust.transports`` entry point as ``switchboard``,
used through broker URLs ``switchboard://host:port``) adds it always.
Importing this module imports faust: only the faust app factory does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as faust_aiokafka


class Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Transport(faust_aiokafka.Transport):
    Producer: ClassVar[type[Producer]] = Producer
    driver_version = faust_aiokafka.Transport.driver_version
