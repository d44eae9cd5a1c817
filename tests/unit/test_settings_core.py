"""core.settings on its own: a root of no sections but those it is given,
and a caller's checks reported with where each value came from."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.settings import Section, Settings, SettingsError, load_settings


class Greeting(Section):
    text: str = "hello"
    names: list[str] = []


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)


def test_core_declares_no_section_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    settings: Settings = load_settings(sections={"greeting": Greeting})
    assert set(type(settings).model_fields) == {"greeting"}
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "k:9092")
    with pytest.raises(SettingsError, match="unknown setting SWITCHBOARD_KAFKA__BOOTSTRAP"):
        load_settings(sections={"greeting": Greeting})


def test_a_check_says_where_the_wrong_value_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_bob(settings: Settings) -> Iterator[tuple[str, str]]:
        if "bob" in settings.section("greeting").names:
            yield "greeting.names", "bob is not welcome"

    monkeypatch.setenv("SWITCHBOARD_GREETING__NAMES", "ada,bob")
    with pytest.raises(SettingsError) as info:
        load_settings(sections={"greeting": Greeting}, checks=[no_bob])
    assert str(info.value) == ("greeting.names (SWITCHBOARD_GREETING__NAMES): bob is not welcome")
