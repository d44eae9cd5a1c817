"""What every sandbox answers to what it does not expect (#10.7), over real sockets.

The control surface (``/_sandbox/...``) answers a malformed request with a
400 JSON error naming the field and an example, never Python's own text; a
route or resource that does not exist gets the provider's own error shape;
the Stripe sandbox takes its key the way Stripe's curl examples send it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import connectors
from core.testing import DemoSandbox, Sandbox

FACTORIES: dict[str, Callable[[], Sandbox]] = {
    name: connector.sandbox
    for name, connector in connectors.registry().items()
    if connector.sandbox is not None
} | {"demo": DemoSandbox}
Running = tuple[str, httpx.Client, Sandbox]


@pytest.fixture(params=sorted(FACTORIES))
def any_sandbox(request: pytest.FixtureRequest) -> Iterator[Running]:
    with (
        FACTORIES[request.param]().in_thread() as sandbox,
        httpx.Client(base_url=sandbox.url, timeout=5) as client,
    ):
        yield request.param, client, sandbox


def _clear_400(response: httpx.Response, *needles: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    for python in ("Traceback", "TypeError", "__init__", "positional argument", "instances of"):
        assert python not in response.text
    error: dict[str, Any] = response.json()["error"]
    for needle in needles:
        assert needle in error["message"], error["message"]
    return error


FAULT_BODIES = [
    pytest.param(b"{}", ["kind: Field required", "e.g. {"], id="empty object"),
    pytest.param(b"", ["kind: Field required"], id="no body"),
    pytest.param(b"{bad", ["body is not JSON"], id="malformed JSON"),
    pytest.param(b"[1]", ["body must be a JSON object"], id="a list"),
    pytest.param(b'{"kind": "status", "count": "5"}', ["count:", "integer"], id="count a string"),
    pytest.param(b'{"kind": "status", "status": true}', ["status:", "integer"], id="status a bool"),
    pytest.param(b'{"kind": "explode"}', ["kind:", "'status'"], id="unknown kind"),
    pytest.param(b'{"kind": "status", "count": 0}', ["count: must be >= 1"], id="count 0"),
    pytest.param(b'{"kind": "status", "colour": 1}', ["unknown fault fields: ['colour']"], id="x"),
]


@pytest.mark.parametrize(("body", "needles"), FAULT_BODIES)
def test_a_malformed_fault_is_a_400_naming_the_fields_with_an_example(
    any_sandbox: Running, body: bytes, needles: list[str]
) -> None:
    _, client, _ = any_sandbox
    response = client.post(
        "/_sandbox/faults", content=body, headers={"content-type": "application/json"}
    )
    error = _clear_400(response, *needles)
    assert error["type"] == "invalid_request"
    assert {"kind", "count", "status", "duration"} <= set(error["expected"])
    # the example is a fault the endpoint takes
    example = client.post("/_sandbox/faults", json=error["example"])
    assert example.status_code == 201, example.text
    assert client.get("/_sandbox/faults").json()[0]["kind"] == error["example"]["kind"]


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [
        ("PUT", "/_sandbox/rate", {}, "rate: required"),
        ("PUT", "/_sandbox/rate", {"rate": "fast"}, "rate: must be a number"),
        ("PUT", "/_sandbox/rate", {"rate": 5, "announce": "yes"}, "announce: must be true"),
        ("PUT", "/_sandbox/rate", {"rate": -1}, "rate: must be > 0"),
        ("PUT", "/_sandbox/latency", {"seconds": "x"}, "seconds: must be a number"),
        ("PUT", "/_sandbox/switches", {"latency": "x"}, "latency: must be a number"),
        ("PUT", "/_sandbox/switches", {"BOOL": "yes"}, "BOOL: must be true or false"),
    ],
)
def test_other_malformed_control_requests_are_clear_400s(
    any_sandbox: Running, method: str, path: str, body: Any, needle: str
) -> None:
    _, client, sandbox = any_sandbox
    if "BOOL" in body:  # a switch of this sandbox that holds true/false
        switch = min(s for s in sandbox.switches if isinstance(getattr(sandbox, s), bool))
        body, needle = {switch: body["BOOL"]}, needle.replace("BOOL", switch)
    error = _clear_400(client.request(method, path, json=body), needle)
    assert error["example"] is not None
    assert client.request(method, path, json=error["example"]).status_code == 200


def test_an_unknown_control_route_lists_the_real_ones(
    any_sandbox: Running,
) -> None:
    _, client, _ = any_sandbox
    response = client.get("/_sandbox/fault")
    assert response.status_code == 404
    assert "POST /_sandbox/faults" in response.json()["error"]["message"]


# --- unknown routes and resources: the provider's own error shape -----------------

GITHUB_NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}
AUTH = {
    "github": {"Authorization": "Bearer ghp_sandbox"},
    "stripe": {"Authorization": "Bearer sk_test_sandbox"},
    "slack": {"Authorization": "Bearer xoxb-sandbox"},
    "shopify": {"X-Shopify-Access-Token": "shpat_sandbox"},
    "sendgrid": {"Authorization": "Bearer SG.sandbox-key"},
}


def _shape_of(name: str, response: httpx.Response) -> None:
    body = response.json()
    if name == "github":
        assert (response.status_code, body) == (404, GITHUB_NOT_FOUND)
    elif name == "stripe":
        assert response.status_code == 404
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["message"].startswith("Unrecognized request URL (GET: /nowhere/")
    elif name == "twilio":
        assert response.status_code == 404
        assert (body["code"], body["status"]) == (20404, 404)
        assert "more_info" in body
    elif name == "slack":  # Slack answers 200 with ok: false, as for every failure
        assert (response.status_code, body["ok"], body["error"]) == (200, False, "unknown_method")
    elif name == "shopify":
        assert (response.status_code, body) == (404, {"errors": "Not Found"})
    elif name == "sendgrid":
        assert response.status_code == 404
        assert body["errors"][0]["message"] == "not found"
    else:  # the demo provider (and the generic connector's, built on it)
        assert response.status_code == 404
        assert body["error"]["type"] == "not_found"


def test_an_unknown_route_answers_in_the_providers_shape(
    any_sandbox: Running,
) -> None:
    name, client, _ = any_sandbox
    for method in ("GET", "POST"):
        response = client.request(method, "/nowhere/at/all", headers=AUTH.get(name, {}))
        assert response.headers["content-type"].startswith("application/json"), response.text
        if method == "GET":
            _shape_of(name, response)
        else:
            assert response.status_code in (200, 404)


def test_github_unknown_repository_is_githubs_not_found() -> None:
    with FACTORIES["github"]().in_thread() as sandbox:
        headers = AUTH["github"]
        for path in ("/repos/nope/nope/issues", "/repos/nope/nope", "/repos/octo/demo/pulls"):
            response = httpx.get(sandbox.url + path, headers=headers)
            assert response.headers["content-type"] == "application/json"
            assert (response.status_code, response.json()) == (404, GITHUB_NOT_FOUND), path
        comment = httpx.post(
            sandbox.url + "/repos/octo/demo/issues/999/comments",
            json={"body": "hi"},
            headers=headers,
        )
        assert (comment.status_code, comment.json()) == (404, GITHUB_NOT_FOUND)


def test_stripe_unknown_customer_is_stripes_resource_missing() -> None:
    with FACTORIES["stripe"]().in_thread() as sandbox:
        for method in ("GET", "POST"):
            response = httpx.request(
                method, sandbox.url + "/v1/customers/cus_x", headers=AUTH["stripe"]
            )
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": "No such customer: 'cus_x'",
            }


# --- Stripe's own curl style: curl -u sk_test_...: --------------------------------


def test_stripe_takes_the_key_as_basic_username_like_curl_u() -> None:
    with (
        FACTORIES["stripe"]().in_thread() as sandbox,
        httpx.Client(base_url=sandbox.url, timeout=5) as client,
    ):
        # curl https://.../v1/customers -u sk_test_sandbox: -d email=...
        created = client.post(
            "/v1/customers", auth=("sk_test_sandbox", ""), data={"email": "a@example.com"}
        )
        assert created.status_code == 200, created.text
        assert created.request.headers["authorization"].startswith("Basic ")
        ident = created.json()["id"]
        read = client.get(f"/v1/customers/{ident}", auth=("sk_test_sandbox", ""))
        assert (read.status_code, read.json()["email"]) == (200, "a@example.com")
        bearer = client.get(f"/v1/customers/{ident}", headers=AUTH["stripe"])
        assert bearer.status_code == 200
        for wrong in (("sk_test_wrong", ""), ("", "sk_test_sandbox")):
            refused = client.post("/v1/customers", auth=wrong, data={"email": "b@example.com"})
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "invalid_request_error"
    assert sandbox.total_side_effects() == 1
