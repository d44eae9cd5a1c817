"""Fixtures every integration test module may use without importing them."""

from tests.integration.sink_support import github_rig, stripe_rig

__all__ = ["github_rig", "stripe_rig"]
