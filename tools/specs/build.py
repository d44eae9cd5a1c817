"""The catalogs of each connector, from the stripped descriptions."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .derive import catalog
from .expand import add_expansions
from .names import github_name, stripe_names, twilio_names
from .sources import SOURCES

__all__ = ["API_VERSIONS", "build_catalogs", "catalog_lines", "event_indexes", "write_json_gz"]

#: the version each catalog pins (sent on every call, see the connectors)
API_VERSIONS = {
    "stripe": "2026-08-26.dahlia",
    "github": "2022-11-28",
    "twilio_api_v2010": "2010-04-01",
    "twilio_messaging_v1": "v1",
}


def _source(name: str) -> str:
    src = next(s for s in SOURCES if s.name == name)
    return f"{src.pin} {src.path} sha256:{src.sha256}"


def _stripe_doc(name: str, _op: Mapping[str, Any]) -> str:
    service, _, method = name.rpartition(".")
    return f"https://docs.stripe.com/api/{service.replace('.', '/')}/{method}"


def build_catalogs(stripped: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """connector -> catalog, from each source's stripped description."""
    stripe = stripped["stripe"]
    names = stripe_names(stripe["paths"])
    out = {
        "stripe": catalog(
            stripe,
            name="stripe",
            api_version=API_VERSIONS["stripe"],
            source=_source("stripe"),
            namer=lambda m, p, _op: names[(m, p)],
            hosts={"https://files.stripe.com": "files"},
            doc_url=_stripe_doc,
        ),
        "github": catalog(
            stripped["github"],
            name="github",
            api_version=API_VERSIONS["github"],
            source=_source("github"),
            namer=lambda _m, _p, op: github_name(op["operationId"]),
            hosts={"https://uploads.github.com": "uploads"},
        ),
    }
    parts = []
    twilio_roots = (
        ("twilio_api_v2010", "", "/Accounts/{Sid}.json"),  # the account's collections at the top
        ("twilio_messaging_v1", "messaging", None),
    )
    for source, prefix, root in twilio_roots:
        doc = stripped[source]
        named = twilio_names(doc["paths"], prefix, root)
        parts.append(
            catalog(
                doc,
                name="twilio",
                api_version=API_VERSIONS[source],
                source=_source(source),
                namer=lambda m, p, _op, named=named: named[(m, p)],  # type: ignore[misc]
                base=prefix,
            )
        )
    add_expansions(stripe, out["stripe"])
    twilio = parts[0]
    clash = set(twilio["operations"]) & set(parts[1]["operations"])
    if clash:
        raise ValueError(f"twilio names in both APIs: {sorted(clash)[:5]}")
    twilio["operations"] = dict(sorted({**twilio["operations"], **parts[1]["operations"]}.items()))
    twilio["schemas"] = dict(sorted({**twilio["schemas"], **parts[1]["schemas"]}.items()))
    twilio["api_version"] = {"": API_VERSIONS["twilio_api_v2010"], "messaging": "v1"}
    twilio["source"] = [_source("twilio_api_v2010"), _source("twilio_messaging_v1")]
    out["twilio"] = twilio
    return out


def write_json_gz(path: Path, value: Any) -> None:
    """``value`` as compact, key-ordered JSON, gzipped with no name or time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


_SECTIONS = ("operations", "schemas", "expansions")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def catalog_lines(cat: Mapping[str, Any]) -> bytes:
    """A catalog as lines a connector can index without parsing them all:
    the header object, then ``O <name> <entry>`` per operation,
    ``S <name> <schema>`` per component schema and ``E <name> <fields>``
    per expansion node (each sorted)."""
    header = {k: v for k, v in cat.items() if k not in _SECTIONS}
    lines = [_compact(header)]
    lines += [f"O {name} {_compact(entry)}" for name, entry in sorted(cat["operations"].items())]
    lines += [f"S {name} {_compact(schema)}" for name, schema in sorted(cat["schemas"].items())]
    nodes = sorted(cat.get("expansions", {}).items())
    lines += [f"E {name} {_compact(node)}" for name, node in nodes]
    return ("\n".join(lines) + "\n").encode()


def write_lines_gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def event_indexes(stripped: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(description, connector, payload names) for the described events:
    GitHub's webhook payloads, and Stripe's resources (an event's
    ``data.object``)."""
    github = sorted(stripped["github_webhooks"]["webhooks"])
    schemas = stripped["stripe"]["components"]["schemas"]
    stripe = sorted(k for k, v in schemas.items() if "x-resourceId" in v)
    return [("github_webhooks", "github", github), ("stripe", "stripe", stripe)]
