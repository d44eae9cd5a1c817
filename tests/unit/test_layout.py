"""What the streams layout promises, observed in a fresh interpreter: the
production worker does not load the local development broker, and the
ingest role does not load the worker that hosts it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(module: str) -> set[str]:
    """The modules a fresh interpreter holds after ``import module``."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


def test_the_worker_does_not_load_the_local_broker() -> None:
    loaded = loaded_after("streams.worker")
    assert "streams.kafka.probe" in loaded  # the Kafka probe it does use
    assert not [m for m in loaded if m.startswith("streams.localkafka")]


@pytest.mark.parametrize("module", ["streams.ingest", "streams.kafka", "streams.offsets"])
def test_a_part_below_the_worker_does_not_load_it(module: str) -> None:
    assert not [m for m in loaded_after(module) if m.startswith("streams.worker")]
