"""The surface syntax tree: what the parser hands to elaboration.

Untyped, with a source span on every node.  ``matd.grammar`` builds it from
text; ``matd.core.elaborate`` turns it into typed IR.  Nothing else uses it.

>>> from matd.core.errors import Span
>>> Syn("name", (), "x", Span(0, 1)).value
'x'
"""
from __future__ import annotations

from typing import NamedTuple

from matd.core.errors import Span


class Syn(NamedTuple):
    """An expression.  kind: num | name | call | op (value: the op or function name)."""

    kind: str
    args: tuple
    value: object
    span: Span
    op_span: Span | None = None  # the operator token, for messages about it


class DimSyn(NamedTuple):
    value: str | int
    span: Span


class Decl(NamedTuple):
    names: tuple[tuple[str, Span], ...]
    dims: tuple[DimSyn, ...]          # () scalar, (n,) vector, (m, n) matrix
    attrs: tuple[tuple[str, Span], ...]
    span: Span


class Define(NamedTuple):
    name: str
    name_span: Span
    expr: Syn
    span: Span


class FunDef(NamedTuple):
    name: str
    params: tuple[tuple[str, Span], ...]
    body: Syn
    span: Span


class ExprStmt(NamedTuple):
    expr: Syn
    span: Span


class Source:
    """A program's text, where it came from, and how its lines map to a file.

    ``line_map[i]`` is (file line number, column offset) of the program's line i
    (0-based), for programs cut out of ``# matd:`` blocks in other files.
    """

    __slots__ = ("text", "name", "is_file", "line_map")

    def __init__(self, text: str, name: str = "<expr>", is_file: bool = False,
                 line_map: list[tuple[int, int]] | None = None):
        self.text, self.name, self.is_file, self.line_map = text, name, is_file, line_map

    def locate(self, offset: int) -> tuple[int, int, int]:
        """(program line index, file line number, file column), columns 1-based."""
        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset)
        col = offset - (self.text.rfind("\n", 0, offset) + 1)
        if self.line_map:
            fline, coff = self.line_map[min(line, len(self.line_map) - 1)]
            return line, fline, col + coff + 1
        return line, line + 1, col + 1

    def line_text(self, line: int) -> str:
        return self.text.split("\n")[line]

    def place(self, offset: int) -> str:
        """``file:line:col`` for files, ``<expr>:col`` (or ``<expr>:line:col``) for text."""
        line, fline, col = self.locate(offset)
        if self.is_file or self.text.count("\n"):
            return f"{self.name}:{fline}:{col}"
        return f"{self.name}:{col}"
