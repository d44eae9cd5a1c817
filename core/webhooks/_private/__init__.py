"""Implementation modules of :mod:`core.webhooks`; import from the package instead."""
