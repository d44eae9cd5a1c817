"""How a JSON command carries a file for a multipart body.

A description's file field (``type: string, format: binary`` in a
``multipart/form-data`` body) cannot hold bytes in JSON, so the param takes
either the file's text (a string, sent as UTF-8) or an object::

    {"filename": "evidence.pdf", "content_type": "application/pdf", "base64": "JVBERi0..."}

``base64`` (standard alphabet, padded, no line breaks) is required;
``filename`` defaults to ``file`` and ``content_type`` to
``application/octet-stream`` (what SDKs send for a stream they cannot
name). :data:`FILE_SCHEMA` is what the params' schema says (and checks);
:func:`file_part` turns a checked value into the part sent.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from core.encoding import FilePart

__all__ = ["FILE_SCHEMA", "file_part", "is_file_field"]

#: exactly the padded standard alphabet, so a value that passes decodes
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
#: a media type as a header carries it (no line breaks: the part's own header)
_MEDIA_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"

FILE_SCHEMA: dict[str, Any] = {
    "description": 'the file: its text (a string, sent UTF-8), or {"filename", '
    '"content_type", "base64"} with base64 required',
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                "filename": {"type": "string", "minLength": 1, "maxLength": 255},
                "content_type": {"type": "string", "maxLength": 255, "pattern": _MEDIA_TYPE},
                "base64": {"type": "string", "pattern": _BASE64},
            },
            "required": ["base64"],
            "additionalProperties": False,
        },
    ],
}


def is_file_field(schema: Mapping[str, Any]) -> bool:
    """A described file: a binary string."""
    return schema.get("type") == "string" and schema.get("format") == "binary"


def file_part(value: Any) -> FilePart:
    """The part for a value :data:`FILE_SCHEMA` accepted."""
    if isinstance(value, Mapping):
        return FilePart(
            base64.b64decode(value["base64"], validate=True),
            value.get("filename") or "file",
            value.get("content_type") or "application/octet-stream",
        )
    return FilePart(str(value).encode(), "file", "application/octet-stream")
