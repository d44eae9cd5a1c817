"""Multipart bodies (Stripe's ``files.create``, ``multipart/form-data`` in
the description): a file part and text parts with stripe-python's bracket
names, judged by openapi-core and by stripe-python's own multipart encoder.

A JSON command carries the file as its text (a string, sent UTF-8) or as
``{"filename": ..., "content_type": ..., "base64": ...}``.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
from dataclasses import replace
from typing import Any

import pytest
from stripe._multipart_data_generator import MultipartDataGenerator

import connectors
from connectors.stripe import CATALOG, StripeSettings
from core.apicall import ApiCall, CallContext
from core.catalog import ParamsError
from core.encoding import FilePart, encode_body
from tests.openapi_judge import judges
from tests.unit import catalog_oracle as oracle

PDF = b"%PDF-1.4\n\x00\xff binary \r\n--not-a-boundary\r\n"
GIVEN: dict[str, Any] = {
    "purpose": "dispute_evidence",
    "file": {
        "filename": "evidence.pdf",
        "content_type": "application/pdf",
        "base64": base64.b64encode(PDF).decode(),
    },
    "file_link_data": {"create": True, "expires_at": 1893456000, "metadata": {"case": "7"}},
    "expand": ["links"],
}


def _call(params: dict[str, Any], **settings: Any) -> ApiCall:
    model = connectors.get("stripe").commands["files.create"]
    section = StripeSettings(api_key="sk_test_x", **settings)
    return model.model_validate(params).api_call(CallContext("cmd-file", section))


def _parts(body: bytes, content_type: str) -> list[tuple[str, str | None, str | None, bytes]]:
    """(name, filename, content type, bytes) of each part, parsed by the stdlib."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart()
    out: list[tuple[str, str | None, str | None, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        kind = part.get_content_type() if filename else None
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        out.append((name, filename, kind, payload))
    return sorted(out)


def test_a_file_and_bracket_named_fields_in_a_multipart_body() -> None:
    call = _call(GIVEN)
    assert call.body_kind == "multipart"
    assert call.path == "https://files.stripe.com/v1/files"
    content, content_type = encode_body(multipart=call.body)
    assert content is not None
    assert content_type is not None
    assert content_type.startswith("multipart/form-data; boundary=")
    assert _parts(content, content_type) == [
        ("expand[0]", None, None, b"links"),
        ("file", "evidence.pdf", "application/pdf", PDF),
        ("file_link_data[create]", None, None, b"true"),
        ("file_link_data[expires_at]", None, None, b"1893456000"),
        ("file_link_data[metadata][case]", None, None, b"7"),
        ("purpose", None, None, b"dispute_evidence"),
    ]


def test_the_same_parts_as_stripe_python_sends() -> None:
    """stripe-python's MultipartDataGenerator on the same params (its file as a
    named stream; it always says application/octet-stream)."""
    ours = _call({**GIVEN, "file": {**GIVEN["file"], "content_type": "application/octet-stream"}})
    content, content_type = encode_body(multipart=ours.body)
    stream = io.BytesIO(PDF)
    stream.name = "evidence.pdf"
    sdk = MultipartDataGenerator()
    sdk.add_params({**GIVEN, "file": stream})  # type: ignore[no-untyped-call]
    sdk_type = f"multipart/form-data; boundary={sdk.boundary}"
    assert content is not None
    assert content_type is not None
    assert _parts(content, content_type) == _parts(sdk.get_post_data(), sdk_type)  # type: ignore[no-untyped-call]


def test_a_string_is_the_files_text() -> None:
    call = _call({"purpose": "dispute_evidence", "file": "a,b\n1,2\n"})
    content, content_type = encode_body(multipart=call.body)
    assert content is not None
    assert content_type is not None
    assert ("file", "file", "application/octet-stream", b"a,b\n1,2\n") in _parts(
        content, content_type
    )
    assert [p for p in call.body if isinstance(p[1], FilePart)] == [
        ("file", FilePart(b"a,b\n1,2\n", "file", "application/octet-stream"))
    ]


@pytest.mark.parametrize(
    ("file", "path"),
    [
        ({"filename": "a.pdf", "base64": "not base64!"}, "params.file"),
        ({"filename": "a.pdf", "base64": "QUJD="}, "params.file"),  # bad padding
        ({"filename": "a.pdf"}, "params.file"),
        ({"base64": "QUJD", "name": "a.pdf"}, "params.file"),
        ({"base64": "QUJD", "content_type": "text/plain\r\nX-Evil: 1"}, "params.file"),
        ({"base64": "QUJD", "filename": ""}, "params.file"),
        (7, "params.file"),
    ],
)
def test_a_file_that_cannot_be_sent_is_refused(file: Any, path: str) -> None:
    model = connectors.get("stripe").commands["files.create"]
    with pytest.raises(ParamsError) as raised:
        model.model_validate({"purpose": "dispute_evidence", "file": file})
    assert raised.value.path.startswith(path), raised.value
    assert "\n" not in str(raised.value)


def test_openapi_core_judges_the_multipart_request() -> None:
    """openapi-core 0.23 reads multipart text parts as bytes and cannot cast
    them to a boolean or an integer, nor its deepObject decoder a list
    (``file_link_data[create]``, ``expand[0]``): those parts are held to
    stripe-python's encoder above instead."""
    op = CATALOG.operation("files.create")
    for params in (
        {"purpose": "dispute_evidence", "file": GIVEN["file"]},
        {"purpose": "identity_document", "file": "text"},
    ):
        tally = oracle.Tally()
        oracle.judge("stripe", op, _call(params), tally)
        assert tally.oracle_valid == 1, tally
    # the judge reads the parts: a purpose out of the enum is refused
    call = _call({"purpose": "dispute_evidence", "file": "text"})
    bad = replace(call, body=[(n, "nonsense" if n == "purpose" else v) for n, v in call.body])
    _, body_validator = judges("stripe", "files", op.path)
    assert list(body_validator.iter_errors(oracle.wire(bad, op.path)))


def test_the_params_schema_says_how_a_file_is_given() -> None:
    schema = connectors.get("stripe").commands["files.create"].model_json_schema()
    file = schema["properties"]["file"]
    assert {"type": "string"} in [
        {k: v for k, v in s.items() if k == "type"} for s in file["anyOf"]
    ]
    shaped = next(s for s in file["anyOf"] if s.get("type") == "object")
    assert shaped["required"] == ["base64"]
    assert set(shaped["properties"]) == {"filename", "content_type", "base64"}
    assert "base64" in file["description"]


def test_the_same_parts_are_the_same_bytes() -> None:
    """A redelivered command sends the request it sent first (an idempotency
    key compares them); another file is another boundary."""
    first = encode_body(multipart=_call(GIVEN).body)
    assert encode_body(multipart=_call(GIVEN).body) == first
    other = {**GIVEN, "file": {**GIVEN["file"], "base64": base64.b64encode(b"other").decode()}}
    boundary = str(first[1]).partition("boundary=")[2]
    assert boundary
    assert boundary not in str(encode_body(multipart=_call(other).body)[1])
