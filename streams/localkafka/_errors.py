from __future__ import annotations


class LocalKafkaError(RuntimeError):
    """The local broker could not be started, stopped or inspected.

    The message is meant for a person: it says what went wrong and what to do.
    """
