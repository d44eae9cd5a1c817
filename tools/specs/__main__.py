"""``make specs``: re-derive the connectors' descriptions and catalogs.

    python -m tools.specs                       # fetch the pinned packages
    python -m tools.specs --from stripe=spec3.json.gz --from github=...
    python -m tools.specs --from-dir DIR        # DIR/<connector>/<file>[.gz]

Every input's sha256 is checked against :data:`tools.specs.sources.SOURCES`.
Writes, per connector, ``connectors/<c>/_spec/<source>.openapi.json.gz``
(the structure-only description) and ``connectors/<c>/_spec/catalog.jsonl.gz``
(what its commands are made from), gzipped without a timestamp so the
same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build_catalogs, catalog_lines, event_indexes, write_json_gz, write_lines_gz
from .derive import strip
from .sources import SOURCES, SourceError, load
from .typeddicts import render_params_module

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make specs", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="given", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--from-dir", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/switchboard/specs")
    args = parser.parse_args(argv)
    given: dict[str, Path] = {}
    for item in args.given:
        name, sep, path = item.partition("=")
        if not sep or name not in {s.name for s in SOURCES}:
            known = ", ".join(s.name for s in SOURCES)
            parser.error(f"--from takes NAME=PATH with NAME one of {known}, got {item!r}")
        given[name] = Path(path)
    stripped = {}
    try:
        for source in SOURCES:
            path = given.get(source.name)
            if path is None and args.from_dir is not None:
                file = Path(source.path).name
                candidates = [
                    args.from_dir / d / f
                    for d in (source.name.replace("_", "-"), source.connector)
                    for f in (file, f"{file}.gz")
                ]
                path = next((c for c in candidates if c.exists()), None)
            stripped[source.name] = strip(load(source, given=path, cache=args.cache))
    except SourceError as exc:
        print(f"make specs: {exc}", file=sys.stderr)
        return 2
    for source in SOURCES:
        out = ROOT / "connectors" / source.connector / "_spec" / f"{source.name}.openapi.json.gz"
        write_json_gz(out, stripped[source.name])
        print(f"{out.relative_to(ROOT)}  {out.stat().st_size / 1024:.0f} KiB")
    for name, connector, events in event_indexes(stripped):
        out = ROOT / "connectors" / connector / "_spec" / f"{name}.events.txt"
        out.write_text("".join(f"{e}\n" for e in events))
        print(f"{out.relative_to(ROOT)}  {len(events)} event payloads")
    for connector, cat in build_catalogs(stripped).items():
        out = ROOT / "connectors" / connector / "_spec" / "catalog.jsonl.gz"
        write_lines_gz(out, catalog_lines(cat))
        n = len(cat["operations"])
        params = ROOT / "connectors" / connector / "params.py"
        params.write_text(render_params_module(connector, cat))
        print(f"{out.relative_to(ROOT)}  {out.stat().st_size / 1024:.0f} KiB, {n} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
