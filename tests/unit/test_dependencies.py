"""The dependency floors and the hash locks (README "Dependencies").

The locks are what `make`, the Dockerfile and so CI install; these tests keep
them honest: every pin hashed, every pin inside pyproject.toml's ranges and
above the advisories' fixes, and the running environment equal to the lock.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"

# The lowest version that fixes a known advisory, for packages Switchboard
# installs (directly or through a dependency). A lock or a floor below one of
# these is a vulnerable install.
ADVISORY_FIXES = {
    "aiohttp": ("3.12.14", "CVE-2025-53643"),
    "cryptography": ("44.0.1", "CVE-2024-12797"),
    "h11": ("0.16.0", "CVE-2025-43859"),
    "h2": ("4.3.0", "CVE-2025-57804"),
    "pyjwt": ("2.10.1", "CVE-2024-53861"),
    "pydantic": ("2.4.0", "CVE-2024-3772"),
    "orjson": ("3.9.15", "CVE-2024-27454"),
    "pyyaml": ("5.4", "CVE-2020-14343"),
    "setuptools": ("78.1.1", "CVE-2025-47273"),
    "pip": ("25.3", "CVE-2025-8869"),
    "requests": ("2.32.4", "CVE-2024-47081"),
    "urllib3": ("2.5.0", "CVE-2025-50181"),
    "idna": ("3.7", "CVE-2024-3651"),
    "certifi": ("2024.7.4", "CVE-2024-39689"),
    "jinja2": ("3.1.6", "CVE-2025-27516"),
    "zipp": ("3.19.1", "CVE-2024-5569"),
}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def _lock(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) of a pip-compile lock."""
    text = path.read_text()
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        head = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if head is None:
            continue
        hashes = len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
        pins[canonicalize_name(head.group(1))] = (Version(head.group(2)), hashes)
    return pins


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(floors) if floors else None


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_line_of_the_lock_is_pinned_with_hashes(lock: Path) -> None:
    pins = _lock(lock)
    assert pins, f"{lock} pins nothing; run `make lock`"
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert not unhashed, f"{lock.name}: no hashes for {unhashed}; run `make lock`"
    requirement_lines = [
        line
        for line in lock.read_text().splitlines()
        if line and not line.startswith((" ", "#", "\t"))
    ]
    loose = [line for line in requirement_lines if "==" not in line]
    assert not loose, f"{lock.name}: lines that pin nothing: {loose}"


@pytest.mark.parametrize(
    ("lock", "extras"),
    [(DEV_LOCK, ("test", "http2")), (RUNTIME_LOCK, ())],
    ids=["dev", "runtime"],
)
def test_the_lock_satisfies_pyproject(lock: Path, extras: tuple[str, ...]) -> None:
    pins = _lock(lock)
    wrong = []
    for requirement in _requirements(extras):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            wrong.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            wrong.append(f"{requirement.name}=={pins[name][0]} is outside {requirement}")
    assert not wrong, f"{lock.name} is stale ({'; '.join(wrong)}): run `make lock`"


def test_the_runtime_lock_agrees_with_the_dev_lock() -> None:
    dev, runtime = _lock(DEV_LOCK), _lock(RUNTIME_LOCK)
    differ = {n: (str(v), str(dev.get(n, ("absent",))[0])) for n, (v, _) in runtime.items()}
    differ = {n: pair for n, pair in differ.items() if pair[0] != pair[1]}
    assert not differ, f"runtime.txt pins what dev.txt does not (runtime, dev): {differ}"


def test_floors_are_above_the_known_advisories() -> None:
    requirements = _requirements(("test", "http2"))
    build = [Requirement(r) for r in _pyproject()["build-system"]["requires"]]
    low = []
    for requirement in requirements + build:
        name = canonicalize_name(requirement.name)
        if name not in ADVISORY_FIXES:
            continue
        fixed, advisory = ADVISORY_FIXES[name]
        floor = _floor(requirement)
        if floor is None or floor < Version(fixed):
            low.append(f"{requirement} (needs >={fixed}, {advisory})")
    assert not low, f"raise these floors in pyproject.toml: {low}"


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_locked_versions_are_above_the_known_advisories(lock: Path) -> None:
    pins = _lock(lock)
    low = [
        f"{name}=={pins[name][0]} (needs >={fixed}, {advisory})"
        for name, (fixed, advisory) in ADVISORY_FIXES.items()
        if name in pins and pins[name][0] < Version(fixed)
    ]
    assert not low, f"{lock.name}: `make lock LOCK_ARGS='--upgrade-package <name>'` for {low}"


def test_this_environment_is_the_dev_lock() -> None:
    """What `make install` made: every locked package at its pinned version."""
    differ = []
    for name, (version, _) in _lock(DEV_LOCK).items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            differ.append(f"{name} missing")
            continue
        if installed != version:
            differ.append(f"{name} {installed} (lock: {version})")
    assert not differ, f"this environment is not the lock: {differ}; run `make install`"


def test_make_the_dockerfile_and_ci_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(LOCK)" in makefile
    assert "LOCK := requirements/dev.txt" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(LOCK\)$", makefile, re.M), (
        "the install stamp must depend on the lock, or a new lock is never installed"
    )
    assert "--no-deps --no-build-isolation -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements/runtime.txt" in dockerfile
    assert "--no-deps --no-build-isolation ." in dockerfile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_license_is_an_spdx_expression() -> None:
    """A TOML-table license makes setuptools print ~45 lines of deprecation on install."""
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    build = [Requirement(r) for r in _pyproject()["build-system"]["requires"]]
    setuptools = next(r for r in build if r.name == "setuptools")
    floor = _floor(setuptools)
    assert floor is not None
    assert floor >= Version("77"), "setuptools < 77 cannot read an SPDX license string"
