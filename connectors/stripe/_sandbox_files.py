"""The Stripe sandbox's files: ``POST /v1/files`` takes a multipart body.

The body is parsed with the standard library's MIME parser into the same
bracket-nested data as a form (:func:`multipart_pairs`), the file part as an
:class:`Upload`. A file needs ``purpose`` and a ``file`` part with a file
name; ``file_link_data[create]=true`` also makes a file link (with its
``metadata``), listed under the file's ``links`` as Stripe does. A body
that is not multipart is refused as Stripe refuses it (400, ``file``).
"""

from __future__ import annotations

import email.parser
import email.policy
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox

from ._sandbox_form import Invalid

__all__ = ["StripeFiles", "Upload", "multipart_pairs"]


@dataclass(frozen=True)
class Upload:
    """A file part as received."""

    filename: str
    content_type: str
    content: bytes


def multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, Any]]:
    """(name, text or :class:`Upload`) of each part; Invalid if it is not multipart."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise Invalid("Invalid multipart body: a file is sent as multipart/form-data", "file")
    pairs: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if not isinstance(name, str):
            raise Invalid("Invalid multipart body: a part without a name", None)
        filename = part.get_filename()
        if filename is None:
            pairs.append((name, data.decode("utf-8", "replace")))
        else:
            pairs.append((name, Upload(filename, part.get_content_type(), data)))
    return pairs


class StripeFiles(ProviderSandbox):
    """The files part of :class:`~connectors.stripe._sandbox.StripeSandbox`."""

    files: dict[str, dict[str, Any]]

    async def decoded_pairs(self, request: web.Request) -> list[tuple[str, Any]]:
        """A form's pairs, or a multipart body's (files as :class:`Upload`)."""
        if request.content_type == "multipart/form-data":
            content_type = request.headers.get("Content-Type", "")
            return multipart_pairs(content_type, await request.read())
        return list(await self.form(request))

    def _file_create(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        upload = data.get("file")
        if not isinstance(upload, Upload):
            raise Invalid("Missing required param: file (a multipart file part).", "file")
        if not data.get("purpose"):
            raise Invalid("Missing required param: purpose.", "purpose", "parameter_missing")
        ident = self.new_id("file_")
        created = int(time.time())
        links: list[dict[str, Any]] = []
        link_data = data.get("file_link_data")
        if isinstance(link_data, dict) and link_data.get("create") == "true":
            meta = link_data.get("metadata")
            links.append(
                {
                    "id": self.new_id("link_"),
                    "object": "file_link",
                    "file": ident,
                    "created": created,
                    "metadata": meta if isinstance(meta, dict) else {},
                }
            )
        obj = {
            "id": ident,
            "object": "file",
            "created": created,
            "filename": upload.filename,
            "purpose": data["purpose"],
            "size": len(upload.content),
            "type": upload.filename.rpartition(".")[2].lower() if "." in upload.filename else None,
            "links": {"object": "list", "data": links, "has_more": False, "url": "/v1/file_links"},
        }
        self.files[ident] = obj
        return obj
