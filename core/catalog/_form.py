"""What a form body carries of nested params, to check it before sending.

A form body cannot carry an empty object or list (nor a null): the
bracket encoding (:func:`core.encoding.form_encode`, held to a provider
SDK's) leaves them out. :func:`as_sent` is the params as the provider will
read them, so the operation can check that too and refuse what would lose
something the description requires, rather than send something else.
An empty value as a list item has no such reading (the list would shrink
under its indices), so it is refused here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._schema import ParamsError

__all__ = ["UNSENT", "as_sent", "is_empty"]

UNSENT = "required, and an empty value is not sent in a form body"
_IN_A_LIST = (
    "an empty value is not sent in a form body (the list would lose this item): "
    "give it a field or remove it"
)


def is_empty(value: Any) -> bool:
    """A value the form encoding sends nothing of."""
    if value is None:
        return True
    if isinstance(value, Mapping):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(is_empty(v) for v in value)
    return False


def as_sent(value: Any, path: str) -> Any:
    """``value`` without what a form body leaves out (nested empties and
    nulls); raises ParamsError at ``path`` for an empty list item."""
    if isinstance(value, Mapping):
        kept = {k: as_sent(v, f"{path}.{k}") for k, v in value.items() if not is_empty(v)}
        return kept
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if is_empty(item):
                raise ParamsError(f"{path}[{i}]", _IN_A_LIST)
        return [as_sent(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value
