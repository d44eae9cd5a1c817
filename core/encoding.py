"""How a request's body and query become bytes: the one encoding layer.

:meth:`core.client.ProviderClient.request` is the only caller of
:func:`encode_body`, so a command's params reach the wire through exactly
one encoder whatever built them (an :class:`~core.apicall.Endpoint`, a
connector's own ``api_call``, a poll).

:func:`form_encode` is the bracket encoding of nested form bodies
(``metadata[k]=v``, ``items[0][price]=p``) that form-encoding provider SDKs
produce (the test suite holds it to one such SDK): None values and empty containers are
left out, booleans are ``true``/``false``. A form body or query given as a
list of pairs is taken as it is (values turned into text the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

__all__ = ["FORM_CONTENT_TYPE", "FormData", "encode_body", "form_encode", "form_pairs"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

#: a form body or query: a (nested) mapping, or pairs in the order to send
FormData = Mapping[str, Any] | Sequence[tuple[str, Any]]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            yield from _pairs(f"{key}[{sub}]", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _pairs(f"{key}[{i}]", item)
    else:
        yield key, _scalar(value)


def form_encode(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Nested data -> ordered form pairs with bracket keys (see the module docstring)."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        out.extend(_pairs(str(key), value))
    return out


def form_pairs(data: FormData | None) -> list[tuple[str, str]]:
    """``data`` as ordered text pairs: a mapping bracket-encoded, pairs kept as given."""
    if data is None:
        return []
    if isinstance(data, Mapping):
        return form_encode(data)
    return [(str(k), _scalar(v)) for k, v in data]


def encode_body(
    *, json: Any = None, data: FormData | None = None, content: bytes | None = None
) -> tuple[bytes | None, str | None]:
    """``(content, content type)`` of a request body given as JSON, form data or bytes.

    Raises TypeError for a JSON value orjson cannot serialise (the client
    turns it into a FatalRequestError: nothing is sent). An empty form
    (``data=[]``) is an empty body that still says it is a form.
    """
    if json is not None:
        return orjson.dumps(json), JSON_CONTENT_TYPE
    if data is not None:
        return urlencode(form_pairs(data)).encode(), FORM_CONTENT_TYPE
    return content, None
