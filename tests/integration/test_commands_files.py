"""``stripe.files.create`` end to end against the Stripe sandbox: a real
multipart body parsed by a real HTTP server, sent to the files host (which
follows ``base_url`` pointed at the sandbox), kept to one side effect."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from core import errors as e
from core.apicall import ApiCall
from core.testing.commands import CommandRunner

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
UPLOAD = {
    "purpose": "dispute_evidence",
    "file": {"filename": "receipt.png", "content_type": "image/png", "base64": ""},
    "file_link_data": {"create": True, "metadata": {"case": "7"}},
}
UPLOAD["file"]["base64"] = base64.b64encode(PNG).decode()  # type: ignore[index]


async def test_a_file_is_uploaded_as_multipart(stripe_commands: tuple[Any, CommandRunner]) -> None:
    sb, runner = stripe_commands
    result = await runner.run("files.create", UPLOAD, "cmd-file-1")
    file = result.data
    assert file["object"] == "file"
    assert (file["filename"], file["size"], file["type"]) == ("receipt.png", len(PNG), "png")
    assert file["purpose"] == "dispute_evidence"
    assert file["links"]["data"][0]["metadata"] == {"case": "7"}
    [request] = [r for r in sb.requests if r.path == "/v1/files"]
    assert (request.header("Content-Type") or "").startswith("multipart/form-data; boundary=")
    assert sb.side_effects("cmd-file-1") == 1
    # the same command again is the same request: replayed, no second file
    again = await runner.run("files.create", UPLOAD, "cmd-file-1")
    assert again.data["id"] == file["id"]
    assert sb.side_effects("cmd-file-1") == 1


async def test_text_is_a_file_too(stripe_commands: tuple[Any, CommandRunner]) -> None:
    _, runner = stripe_commands
    result = await runner.run(
        "files.create", {"purpose": "dispute_evidence", "file": "a,b\n1,2\n"}, "cmd-file-2"
    )
    assert (result.data["filename"], result.data["size"]) == ("file", 8)


async def test_the_sandbox_refuses_a_form_where_a_file_goes(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, runner = stripe_commands
    call = ApiCall("POST", "/v1/files", "form", [("purpose", "dispute_evidence"), ("file", "x")])
    with pytest.raises(e.FatalRequestError) as raised:
        await runner.raw(call, "cmd-file-3")
    assert raised.value.status == 400
    assert sb.side_effects("cmd-file-3") == 0
