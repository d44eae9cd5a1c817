"""Benchmark harness: a registry of benchmarks, a printed table, JSON results.

A benchmark is a module in ``bench/`` with ``run() -> Report``. Its figures
are printed as a table and written to ``bench/results/<name>.json`` (with the
machine and time), so runs can be compared. Targets are reported as
pass/fail; they are never asserted in tests (timing is machine-dependent).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

BENCHMARKS: dict[str, str] = {
    "client_overhead": "bench.client_overhead",
    "budget_accuracy": "bench.budget_accuracy",
    "webhook_ingest": "bench.webhook_ingest",
    "sink_throughput": "bench.sink_throughput",
    "poll_throughput": "bench.poll_throughput",
    "command_validate": "bench.command_validate",
    "http_transport": "bench.http_transport",
    "dedup_throughput": "bench.dedup_throughput",
}


@dataclass
class Check:
    """One target: ``value`` compared with ``target`` (``op`` is >= or <=)."""

    name: str
    value: float
    target: float
    op: str = ">="
    unit: str = ""

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.op == ">=" else self.value <= self.target


@dataclass
class Report:
    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of ``rows`` (columns from the first row)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in cells:
        out.append("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(out)


def render(report: Report) -> str:
    parts = [f"== {report.name} ==", table(report.rows)]
    if report.checks:
        parts.append(
            table(
                [
                    {
                        "target": c.name,
                        "value": f"{_fmt(c.value)}{c.unit}",
                        "wanted": f"{c.op} {_fmt(c.target)}{c.unit}",
                        "result": "PASS" if c.ok else "FAIL",
                    }
                    for c in report.checks
                ]
            )
        )
    parts.extend(f"note: {n}" for n in report.notes)
    return "\n\n".join(parts)


def save(report: Report) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report.name}.json"
    data = {
        "name": report.name,
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "ok": report.ok,
        "rows": report.rows,
        "checks": [{**asdict(c), "ok": c.ok} for c in report.checks],
        "notes": report.notes,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
    return path


def run(name: str) -> Report:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    report: Report = module.run()
    print(render(report), flush=True)
    print(f"\nwrote {save(report)}\n", flush=True)
    return report
