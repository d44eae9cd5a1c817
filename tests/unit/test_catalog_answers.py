"""What an operation answers, as its description says: one described as
answering text (GitHub's ``markdown.render`` answers text/html,
``meta.get_zen`` text/plain) succeeds with the text as its response, one
described as answering a redirect (a download link) with the link; a JSON
operation still refuses a body that is not JSON."""

from __future__ import annotations

import base64

import pytest

import connectors
from connectors.github import CATALOG, GitHubSettings
from core import errors as e
from core.apicall import ApiCall
from core.connector import Connector
from core.testing.commands import CommandRunner
from tests.specresponder import SpecResponder


def _github() -> Connector:
    return connectors.get("github")


def test_the_catalog_knows_which_operations_answer_text() -> None:
    catalog = CATALOG
    answers = {n: catalog.operation(n).answer for n in catalog.names()}
    text = {n for n, kind in answers.items() if kind == "text"}
    assert text == {"markdown.render", "markdown.render_raw", "meta.get_zen"}
    call = catalog.operation("meta.get_zen").api_call({})
    assert call.answer == "text"
    assert catalog.operation("meta.root").api_call({}).answer == "json"


@pytest.mark.parametrize(
    ("name", "params"),
    [("meta.get_zen", {}), ("markdown.render", {"text": "# hi"})],
)
async def test_a_text_answer_is_the_response(name: str, params: dict[str, str]) -> None:
    async with SpecResponder("github") as responder:
        section = GitHubSettings(token="ghp_test", base_url=responder.url)
        async with CommandRunner(_github(), section) as runner:
            result = await runner.run(name, params, "cmd-text")
    assert result.status == 200
    assert result.data == "x"
    assert [s.verdict.valid for s in responder.seen] == [True]


async def test_a_json_operation_still_refuses_text() -> None:
    async with SpecResponder("github") as responder:
        section = GitHubSettings(token="ghp_test", base_url=responder.url)
        async with CommandRunner(_github(), section) as runner:
            with pytest.raises(e.InvalidBodyError, match="not JSON"):
                await runner.send(ApiCall("GET", "/zen"), "cmd-json")


REDIRECTS = {
    "actions.download_artifact",
    "actions.download_job_logs_for_workflow_run",
    "actions.download_workflow_run_attempt_logs",
    "actions.download_workflow_run_logs",
    "migrations.download_archive_for_org",
    "migrations.get_archive_for_authenticated_user",
    "repos.download_tarball_archive",
    "repos.download_zipball_archive",
}


def test_the_catalog_knows_which_operations_answer_a_redirect() -> None:
    answers = {n: CATALOG.operation(n).answer for n in CATALOG.names()}
    assert {n for n, kind in answers.items() if kind == "redirect"} == REDIRECTS


async def test_a_described_redirect_is_the_answer_and_carries_its_location() -> None:
    """GitHub answers a download with 302 and the link; the command succeeds
    with the link (not followed: the credential stays at its origin), where
    any other 3xx is still a configuration error."""
    params = {"owner": "o", "repo": "r", "ref": "main"}
    async with SpecResponder("github") as responder:
        url = responder.url
        section = GitHubSettings(token="ghp_test", base_url=url)
        async with CommandRunner(_github(), section) as runner:
            result = await runner.run("repos.download_tarball_archive", params, "cmd-302")
            with pytest.raises(e.FatalConfigError):
                await runner.send(ApiCall("GET", "/repos/o/r/tarball/main"), "cmd-302-raw")
    assert result.status == 302
    assert result.data == {"location": f"{url}/_download"}
    assert len(responder.seen) == 2


def test_every_file_answer_is_known() -> None:
    from connectors.stripe import CATALOG as STRIPE
    from connectors.twilio import CATALOG as TWILIO

    kinds = {
        (cat.name, n): cat.operation(n).answer
        for cat in (STRIPE, CATALOG, TWILIO)
        for n in cat.names()
    }
    # GitHub's octocat is described as application/octocat-stream, not text
    files = {("stripe", "quotes.pdf"), ("github", "meta.get_octocat")}
    assert {k for k, kind in kinds.items() if kind == "bytes"} == files


async def test_a_file_answer_is_its_bytes_base64() -> None:
    from connectors.stripe import StripeSettings

    async with SpecResponder("stripe") as responder:
        section = StripeSettings(api_key="sk_test_x", base_url=responder.url)
        async with CommandRunner(connectors.get("stripe"), section) as runner:
            result = await runner.run("quotes.pdf", {"quote": "qt_1"}, "cmd-pdf")
    assert result.status == 200
    assert result.data["content_type"] == "application/pdf"
    assert base64.b64decode(result.data["base64"]) == b"%PDF-1.4\n\xff\xfe\x00binary"
    assert result.data["size"] == len(b"%PDF-1.4\n\xff\xfe\x00binary")
    [seen] = responder.seen
    assert seen.verdict.valid  # sent to the files host (it follows base_url here)
