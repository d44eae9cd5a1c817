"""Expansion paths: which entries a param like ``expand`` may hold.

Some APIs fill in related objects of a response when asked to by a param
holding dot paths (``"expand": ["default_source", "data.customer"]``).
A catalog that describes them has, in its header, ``"expand": {"param":
NAME, "depth": N}``; per operation that takes the param, ``"expand"``: its
roots; and ``E`` lines, node -> {field -> nodes the field expands to}. A
node is the name of an ``E`` line or, for an unnamed schema, the field map
itself. An entry is accepted when it has at most ``depth`` segments, its
first is a field of a root, and each further one a field of a node the
one before expands to; else :class:`ParamsError` names the entry's JSON
path (``params.expand[1]``), the segment, and the closest valid names.

Accepted entries are remembered per operation, so a repeated entry costs
a set lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._schema import ParamsError, closest

__all__ = ["ExpandCheck", "Expansions"]

Fields = Mapping[str, Sequence[Any]]


class Expansions:
    """A catalog's expansion nodes (``nodes``: name -> field map, parsed on demand)."""

    def __init__(self, param: str, depth: int, nodes: Mapping[str, Fields]) -> None:
        self.param = param
        self.depth = depth
        self.nodes = nodes

    def fields(self, nodes: Sequence[Any]) -> dict[str, list[Any]]:
        """Every field of ``nodes``, with the nodes it expands to (merged)."""
        out: dict[str, list[Any]] = {}
        for node in nodes:
            fields = node if isinstance(node, Mapping) else self.nodes.get(node, {})
            for name, targets in fields.items():
                merged = out.setdefault(name, [])
                merged.extend(t for t in targets if t not in merged)
        return out

    def check(self, roots: Sequence[Any]) -> ExpandCheck:
        return ExpandCheck(self, roots)


class ExpandCheck:
    """The entries one operation's expand param may hold (its response's ``roots``)."""

    def __init__(self, expansions: Expansions, roots: Sequence[Any]) -> None:
        self.expansions = expansions
        self.param = expansions.param
        self.roots = list(roots)
        self._accepted: set[str] = set()

    def __call__(self, entries: Any, where: str) -> None:
        """Raises ParamsError for the first entry that is not an expansion path."""
        if not isinstance(entries, list | tuple):
            return  # the param's schema has refused it already
        for i, entry in enumerate(entries):
            if isinstance(entry, str) and entry not in self._accepted:
                self._walk(entry, f"{where}[{i}]")
                self._accepted.add(entry)

    def _walk(self, entry: str, where: str) -> None:
        segments = entry.split(".")
        depth = self.expansions.depth
        if len(segments) > depth:
            raise ParamsError(
                where, f"{entry!r} is {len(segments)} levels deep; at most {depth} can be expanded"
            )
        nodes = self.roots
        for k, segment in enumerate(segments):
            fields = self.expansions.fields(nodes)
            if segment not in fields:
                raise ParamsError(where, self._refusal(entry, segments[:k], segment, fields))
            nodes = fields[segment]

    @staticmethod
    def _refusal(entry: str, before: list[str], segment: str, fields: Fields) -> str:
        on = f" on {'.'.join(before)}" if before else ""
        if not fields:
            return f"{entry!r}: nothing{on} can be expanded"
        near = closest(segment, set(fields))
        hint = f"did you mean {' or '.join('.'.join([*before, n]) for n in near)}? " if near else ""
        names = sorted(fields)
        listed = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        return f"{segment!r}{on} cannot be expanded; {hint}expandable{on}: {listed}"

    def names(self, levels: int = 1) -> list[str]:
        """The valid entries up to ``levels`` segments deep (sorted)."""
        out: list[str] = []
        frontier: list[tuple[str, Sequence[Any]]] = [("", self.roots)]
        for _ in range(min(levels, self.expansions.depth)):
            deeper: list[tuple[str, Sequence[Any]]] = []
            for prefix, nodes in frontier:
                for name, targets in self.expansions.fields(nodes).items():
                    path = f"{prefix}{name}"
                    out.append(path)
                    deeper.append((f"{path}.", targets))
            frontier = deeper
        return sorted(out)
