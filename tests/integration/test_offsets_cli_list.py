"""`switchboard offsets list` against the real broker: the latest record of
every stream, and configured streams without one yet."""

from __future__ import annotations

import orjson
import pytest

from streams.settings import Settings
from tests.dlqtools import sb
from tests.integration import offsets_cli_support as support
from tests.integration.offsets_cli_support import rows, seed

pytestmark = pytest.mark.integration

settings = support.settings  # the shared fixture, bound here so pytest finds it


def test_list_shows_the_latest_record_of_every_stream(settings: Settings) -> None:
    seed(settings)
    result = sb("offsets", "list")
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0].split()
    assert head == [
        "STREAM", "STATUS", "MARK", "IN", "RUN", "LAST", "PAGE", "LAST", "FAILURE", "WORKER",
        "ERROR",
    ]  # fmt: skip
    table = rows(result.stdout)
    assert sorted(table) == ["github.issues:octo/hello", "stripe.events"]
    stripe = table["stripe.events"].split()
    assert stripe[1:6] == ["ok", '"evt_2"', "no", "2026-03-04T05:06:07Z", "-"]
    github = table["github.issues:octo/hello"]
    assert "failed" in github
    assert "PaginationError: the provider repeated page token" in github
    assert "not configured here: github.issues:octo/hello, stripe.events" in result.stderr
    assert "1 unreadable record(s) skipped" in result.stderr

    as_json = sb("offsets", "list", "--json")
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert [line["stream"] for line in lines] == ["github.issues:octo/hello", "stripe.events"]
    assert lines[1]["cursor"] == {"mark": "evt_2"}
    assert lines[1]["origin"] == "poller"
    assert lines[1]["configured"] is False
    assert lines[0]["error"].startswith("PaginationError")


def test_a_configured_stream_without_a_record_has_no_cursor_yet(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_STRIPE__API_KEY", "sk_test_offsets")
    monkeypatch.setenv("SWITCHBOARD_POLL__STREAMS", '["stripe.events"]')
    result = sb("offsets", "list")
    assert result.exit_code == 0, result.output
    assert rows(result.stdout)["stripe.events"].split()[1:5] == ["new", "no", "cursor", "yet"]
    assert "1 stream(s), 1 configured here" in result.stderr
    (line,) = sb("offsets", "list", "--json").stdout.splitlines()
    obj = orjson.loads(line)
    assert (obj["stream"], obj["status"], obj["cursor"], obj["configured"]) == (
        "stripe.events",
        "new",
        None,
        True,
    )
