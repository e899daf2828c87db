"""The surface syntax tree: what the parser hands to elaboration.

Untyped, with a source span on every node.  ``matd.grammar`` builds it from
text; ``matd.core.elaborate`` turns it into typed IR.  Nothing else uses it.

>>> from matd.core.errors import Span
>>> Syn("name", (), "x", Span(0, 1)).value
'x'
"""
from __future__ import annotations

from dataclasses import dataclass, field

from matd.core.errors import Span


@dataclass(frozen=True, slots=True)
class Syn:
    """An expression.  kind: num | name | call | op (value: the op or function name)."""

    kind: str
    args: tuple
    value: object
    span: Span
    op_span: Span | None = None  # the operator token, for messages about it


@dataclass(frozen=True, slots=True)
class DimSyn:
    value: str | int
    span: Span


@dataclass(frozen=True, slots=True)
class Decl:
    names: tuple[tuple[str, Span], ...]
    dims: tuple[DimSyn, ...]          # () scalar, (n,) vector, (m, n) matrix
    attrs: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Define:
    name: str
    name_span: Span
    expr: Syn
    span: Span


@dataclass(frozen=True, slots=True)
class FunDef:
    name: str
    params: tuple[tuple[str, Span], ...]
    body: Syn
    span: Span


@dataclass(frozen=True, slots=True)
class ExprStmt:
    expr: Syn
    span: Span


@dataclass(slots=True)
class Source:
    """A program's text, where it came from, and how its lines map to a file.

    ``line_map[i]`` is (file line number, column offset) of the program's line i
    (0-based), for programs cut out of ``# matd:`` blocks in other files.
    """

    text: str
    name: str = "<expr>"
    is_file: bool = False
    line_map: list[tuple[int, int]] | None = field(default=None)

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
