"""`switchboard commands list|show` and the typo answers of `send`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from streams.cli import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_list_counts_every_operation_per_provider() -> None:
    code, out = invoke("commands", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    count = {
        p: sum(r["type"].startswith(f"{p}.") for r in rows) for p in ("stripe", "github", "twilio")
    }
    assert count == {"stripe": 594, "github": 1224, "twilio": 255}  # github: + issues.comment
    by_type = {r["type"]: r for r in rows}
    assert by_type["stripe.checkout.sessions.create"]["safety"] == "key"
    assert by_type["github.pulls.create"]["safety"] == "ledger"
    assert by_type["github.pulls.get"]["safety"] == "read"
    assert by_type["twilio.calls.delete"]["safety"] == "idempotent"
    assert by_type["stripe.customers.create"]["source"] == "hand-written"


def test_list_filters_and_refuses_an_unknown_provider() -> None:
    code, out = invoke("commands", "list", "stripe", "--search", "checkout/sessions")
    assert code == 0
    assert "stripe.checkout.sessions.create" in out
    assert "github." not in out
    code, out = invoke("commands", "list", "strpe")
    assert code == 2
    assert "did you mean stripe?" in out
    assert "Traceback" not in out


def test_show_lists_each_param_with_where_it_goes() -> None:
    code, out = invoke("commands", "show", "github.pulls.create")
    assert code == 0
    assert "https://docs.github.com/rest/pulls/pulls#create-a-pull-request" in out
    assert "api version: 2022-11-28" in out
    lines = {line.split()[0]: line for line in out.splitlines()[5:] if line.strip()}
    assert "path" in lines["owner"]
    assert "required" in lines["head"]
    assert "optional" in lines["draft"]
    code, out = invoke("commands", "show", "stripe.invoice.create")
    assert code == 2
    assert "did you mean stripe.invoices.create" in out


def test_send_suggests_the_closest_type() -> None:
    code, out = invoke("send", "stripe.invoice.create", "--json", "{}")
    assert code == 2
    assert "did you mean stripe.invoices.create" in out


def test_show_lists_the_values_expand_takes() -> None:
    code, out = invoke("commands", "show", "stripe.customers.retrieve")
    assert code == 0
    listed = out.split("\nexpand: ", 1)[1]
    assert "to 4 segments" in listed.splitlines()[0]
    assert "default_source" in listed
    assert "invoice_settings" in listed
    code, out = invoke("commands", "show", "stripe.customers.list")
    assert "data.default_source" in out.split("\nexpand: ", 1)[1]


def test_show_says_how_a_file_is_given_and_where_it_goes() -> None:
    code, out = invoke("commands", "show", "stripe.files.create")
    assert code == 0
    assert "host:   https://files.stripe.com/" in out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["file"])
    assert "required string | object" in lines[at]
    assert '"base64"' in lines[at + 1]
    assert "text" in lines[at + 1]
    code, out = invoke("commands", "show", "stripe.quotes.retrieve")
    assert "host:" not in out  # the connector's base URL
