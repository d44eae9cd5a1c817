"""Text for a terminal from untrusted content: escaped, cut, in columns.

DLQ records and cursor records carry what any writer of their topics put
there; nothing of it may drive the terminal (ANSI escapes, carriage returns).
"""

from __future__ import annotations

__all__ = ["cut", "printable", "table", "text"]


def cut(text: str, width: int) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def printable(text: str, keep: str = "") -> str:
    """Control characters escaped: DLQ content is untrusted and must not
    drive the terminal (ANSI escapes, carriage returns)."""
    return "".join(ch if ch.isprintable() or ch in keep else ascii(ch)[1:-1] for ch in text)


def text(raw: bytes | None, keep: str = "") -> str:
    if raw is None:
        return "-"
    try:
        return printable(raw.decode("utf-8"), keep)
    except UnicodeDecodeError:
        return repr(raw)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)
