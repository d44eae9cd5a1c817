"""The pinned provider descriptions the catalogs are derived from.

Each source is a file inside a registry package at a pinned version, with
the sha256 of that file; :func:`fetch` gets it with the registry's own
client (``go mod download`` for Go modules, ``npm pack`` for npm
packages) into a cache folder, or takes a file given by hand, and refuses
any file whose digest is not the pinned one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["SOURCES", "Source", "SourceError", "fetch", "load"]


class SourceError(RuntimeError):
    """A description cannot be had, or is not the pinned one."""


@dataclass(frozen=True)
class Source:
    """One description: ``name`` (what the catalog calls it), the registry
    ``kind`` and ``package@version``, the ``path`` inside the package and
    the file's ``sha256`` (unzipped)."""

    name: str
    connector: str
    kind: Literal["go", "npm"]
    package: str
    version: str
    path: str
    sha256: str

    @property
    def pin(self) -> str:
        return f"{self.package}@{self.version}"


SOURCES: tuple[Source, ...] = (
    Source(
        "stripe",
        "stripe",
        "go",
        "github.com/stripe/stripe-mock",
        "v0.203.0",
        "embedded/openapi/spec3.json",
        "f0e0fc8fffbffda45bf5f3df59846443c1d47a3cfcbfae232eedf4743124ebee",
    ),
    Source(
        "github",
        "github",
        "npm",
        "@octokit/openapi",
        "23.0.2",
        "generated/api.github.com.json",
        "829b4bebb19a53133289f7b0bc819f4f1118115821db2ca9f25e9ee995a7da2a",
    ),
    Source(
        "github_webhooks",
        "github",
        "npm",
        "@octokit/openapi-webhooks",
        "12.1.0",
        "generated/api.github.com.json",
        "0a86fcfad6f38c696f2f1967311e61a4009adca58adac52d7df52e003d187b26",
    ),
    Source(
        "twilio_api_v2010",
        "twilio",
        "npm",
        "@twilio/cli-core",
        "9.0.0",
        "src/services/twilio-api/twilio_api_v2010.json",
        "170b3ccd0f891416840083d72f1795b1499b14a18d4873fd2b39f47ef84642d6",
    ),
    Source(
        "twilio_messaging_v1",
        "twilio",
        "npm",
        "@twilio/cli-core",
        "9.0.0",
        "src/services/twilio-api/twilio_messaging_v1.json",
        "611c6fde586347615039a7d8c87a4b10d39c6d8566b7d1a691353ef995aaa473",
    ),
)


def _checked(source: Source, data: bytes, where: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise SourceError(
            f"{where} is not {source.pin} {source.path}: sha256 {digest}, "
            f"pinned {source.sha256}; give the pinned file or update SOURCES on purpose"
        )
    return data


def _run(argv: list[str], cwd: Path) -> str:
    if shutil.which(argv[0]) is None:
        raise SourceError(
            f"{argv[0]} is needed to fetch the pinned package ({' '.join(argv)}); "
            "install it, or pass the file with --from NAME=PATH"
        )
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SourceError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def fetch(source: Source, cache: Path) -> bytes:
    """The pinned file's bytes, fetched with the registry's client into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    if source.kind == "go":
        info = json.loads(_run(["go", "mod", "download", "-json", source.pin], cache))
        file = Path(info["Dir"]) / source.path
        return _checked(source, file.read_bytes(), str(file))
    name = _run(["npm", "pack", "--silent", source.pin], cache).strip().splitlines()[-1]
    with tarfile.open(cache / name) as tar:
        member = tar.extractfile(f"package/{source.path}")
        if member is None:
            raise SourceError(f"{name} holds no {source.path}")
        return _checked(source, member.read(), f"{name}:{source.path}")


def load(source: Source, *, given: Path | None, cache: Path) -> Any:
    """The parsed description: from ``given`` (plain or gzipped) when set, else fetched."""
    if given is not None:
        data = _checked(source, given.read_bytes(), str(given))
    else:
        data = fetch(source, cache)
    return json.load(io.BytesIO(data))
