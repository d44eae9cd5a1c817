"""The connectors' API descriptions and catalogs are derived, reproducible
and free of the vendors' prose (``make specs``, tools/specs)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tools.specs.build import build_catalogs, catalog_lines
from tools.specs.derive import strip
from tools.specs.sources import SOURCES, Source, SourceError, load

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "specs"


def stripped(source: Source) -> Any:
    path = ROOT / "connectors" / source.connector / "_spec" / f"{source.name}.openapi.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def prose_keys(node: Any, names: bool = False) -> list[str]:
    """Keyword-level prose left in a stripped description."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += prose_keys(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not names and key in ("description", "summary") and isinstance(value, str):
                found.append(key)
            found += prose_keys(value, names=not names and key in ("properties", "paths"))
    return found


def test_the_committed_catalogs_are_what_the_descriptions_give() -> None:
    docs = {s.name: stripped(s) for s in SOURCES}
    for connector, cat in build_catalogs(docs).items():
        committed = ROOT / "connectors" / connector / "_spec" / "catalog.jsonl.gz"
        assert gzip.decompress(committed.read_bytes()) == catalog_lines(cat), connector


def test_the_descriptions_keep_structure_but_no_prose() -> None:
    for source in SOURCES:
        doc = stripped(source)
        assert prose_keys(doc) == [], source.name
        text = json.dumps(doc)
        assert '"type"' in text
        assert '"$ref"' in text or source.name.startswith("twilio")


def test_operation_counts() -> None:
    docs = {s.name: stripped(s) for s in SOURCES}
    counts = {c: len(cat["operations"]) for c, cat in build_catalogs(docs).items()}
    # Stripe 594, GitHub REST 1,223, Twilio Api v2010 197 + Messaging v1 58
    assert counts == {"stripe": 594, "github": 1223, "twilio": 255}


def test_a_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "spec3.json"
    fake.write_text("{}")
    with pytest.raises(SourceError, match="sha256"):
        load(SOURCES[0], given=fake, cache=tmp_path)


@pytest.mark.skipif(not SHARED.exists(), reason="the vendors' files are not beside this clone")
def test_stripping_the_pinned_files_gives_the_committed_descriptions() -> None:
    for source in SOURCES:
        folder = SHARED / source.name.replace("_", "-")
        if not folder.exists():
            folder = SHARED / source.connector
        given = folder / (Path(source.path).name + ".gz")
        assert strip(load(source, given=given, cache=Path("/nonexistent"))) == stripped(source)
