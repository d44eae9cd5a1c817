"""``python -m bench`` runs every benchmark; ``python -m bench NAME`` runs one.

Exit status is 0 unless ``--strict`` is given and a target was missed.
"""

from __future__ import annotations

import argparse
import sys

from bench._harness import BENCHMARKS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    reports = [run(name) for name in (args.names or list(BENCHMARKS))]
    missed = [r.name for r in reports if not r.ok]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
