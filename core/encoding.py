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

A multipart body (:data:`MultipartData`) is named parts in order, each a
text value or a :class:`FilePart`; httpx's multipart encoder writes it
(``data=``/``files=``) with a boundary made from the parts, so the same
parts are the same bytes (retries and redeliveries alike).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

__all__ = [
    "FORM_CONTENT_TYPE",
    "FilePart",
    "FormData",
    "MultipartData",
    "encode_body",
    "form_encode",
    "form_pairs",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

#: a form body or query: a (nested) mapping, or pairs in the order to send
FormData = Mapping[str, Any] | Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class FilePart:
    """A file in a multipart body: its bytes, the name it is sent under and its type."""

    content: bytes
    filename: str = "file"
    content_type: str = "application/octet-stream"


#: a multipart body: named parts in the order to send, text or a file
MultipartData = Sequence[tuple[str, str | FilePart]]


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


def _boundary(parts: MultipartData) -> str:
    """A boundary made from the parts: the same parts give the same bytes
    (a redelivered command's request is the first one again, as an
    idempotency key expects), and no part can contain it (that would take
    a part holding a digest of itself), which is what a random boundary
    is for."""
    digest = hashlib.sha256()
    for name, value in parts:
        fields = (
            (b"f", value.filename.encode(), value.content_type.encode(), value.content)
            if isinstance(value, FilePart)
            else (b"t", _scalar(value).encode())
        )
        for item in (name.encode(), *fields):
            digest.update(len(item).to_bytes(8, "big") + item)
    return digest.hexdigest()


def _multipart(parts: MultipartData) -> tuple[bytes, str]:
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    for name, value in parts:
        if isinstance(value, FilePart):
            files.append((name, (value.filename, value.content, value.content_type)))
        else:
            fields.setdefault(name, []).append(_scalar(value))
    if not files:  # httpx writes a body without files as a urlencoded form
        raise ValueError("a multipart body needs a file part")
    content_type = f"multipart/form-data; boundary={_boundary(parts)}"
    request = httpx.Request(
        "POST",
        "http://multipart.invalid/",
        data=fields,
        files=files,
        headers={"Content-Type": content_type},
    )
    return request.read(), content_type


def encode_body(
    *,
    json: Any = None,
    data: FormData | None = None,
    multipart: MultipartData | None = None,
    content: bytes | None = None,
) -> tuple[bytes | None, str | None]:
    """``(content, content type)`` of a request body given as JSON, form
    data, multipart parts or bytes.

    Raises TypeError for a JSON value orjson cannot serialise, ValueError
    for a multipart body without a file part (the client turns either into
    a FatalRequestError: nothing is sent). An empty form (``data=[]``) is
    an empty body that still says it is a form.
    """
    if json is not None:
        return orjson.dumps(json), JSON_CONTENT_TYPE
    if data is not None:
        return urlencode(form_pairs(data)).encode(), FORM_CONTENT_TYPE
    if multipart is not None:
        return _multipart(multipart)
    return content, None
