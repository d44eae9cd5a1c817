"""The Java version Switchboard asks for is the same everywhere (#10.7): 17."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import cli
from streams.localkafka import LocalKafkaError
from streams.localkafka._runtime import require_java

ROOT = Path(__file__).resolve().parents[2]


def _java_versions(text: str) -> set[str]:
    return set(re.findall(r"Java (\d+)", " ".join(text.split())))


def test_readme_and_kafka_help_name_the_same_java() -> None:
    readme = _java_versions((ROOT / "README.md").read_text())
    result = CliRunner().invoke(cli, ["kafka", "--help"])
    assert result.exit_code == 0, result.output
    assert readme == _java_versions(result.output) == {"17"}


def _fake_java(tmp_path: Path, version: str) -> None:
    """A real ``java`` executable on PATH that reports ``version`` as java -version does."""
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2018-09-25' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)


def test_an_older_java_is_refused_naming_17(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_java(tmp_path, "11.0.2")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError) as caught:
        require_java()
    assert "java 11 is too old" in str(caught.value)
    assert "needs 17+" in str(caught.value)


def test_java_17_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(tmp_path, "17.0.9")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_java() == str(tmp_path / "java")
