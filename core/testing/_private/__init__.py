"""Internals of :mod:`core.testing`; import from :mod:`core.testing` instead."""
