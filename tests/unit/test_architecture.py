"""The house's rules, enforced (docs/architecture.md "Rules").

The import contracts in pyproject.toml (layers streams > connectors > core,
no import cycle in any package) and the size limit of a module are checked
here too, so a change that breaks them fails the suite, not only `make lint`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
# Generated or data files, exempt from the size limit (none today).
EXEMPT: frozenset[str] = frozenset()
CHECKED = ("core", "connectors", "streams", "bench", "tests")


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout, done.stdout[-4000:]


def test_no_module_is_over_the_size_limit() -> None:
    over = []
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in EXEMPT or "/results/" in relative:
                continue
            lines = path.read_text().count("\n")
            if lines > MAX_LINES:
                over.append(f"{relative} ({lines})")
    assert not over, f"modules over {MAX_LINES} lines (split them by job): {over}"
