"""``matd.check``: every error of a program, as data; and the one mapping from an error to
its record (message, code, place, hint) that ``matd … --batch`` prints.

``code`` is the stable code that ``matd check`` prints for an error of a program (``MD001``
syntax, ``MD002`` shape, … the table of ``matd.codes``), with ``name`` its slug; an
error that is not the program's has ``code`` = ``name`` = ``numeric`` (a value that cannot
be computed: overflow, a singular matrix, not enough memory) or ``internal`` (a bug).

>>> [(d.code, d.name, d.line, d.col) for d in check_source(Source("A: m x n; tr(A)"))]
[('MD002', 'shape', 1, 14)]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from matd.core.errors import MatdError
from matd.core.syntax import Source


@dataclass(frozen=True)
class Diagnostic:
    """One error: its message, code and name (see the module), place (1-based line and
    column, the end column one past the span; None when it has no place) and hint."""

    message: str
    code: str
    name: str
    line: int | None = None
    col: int | None = None
    end_line: int | None = None
    end_col: int | None = None
    hint: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def code_of(err: BaseException) -> tuple[str, str]:
    """(code, name) of an error (see the module's docstring)."""
    from matd.core.plan import NumericError
    if isinstance(err, (NumericError, MemoryError)):
        return "numeric", "numeric"
    if not isinstance(err, MatdError):
        return "internal", "internal"
    from matd.codes import classify
    row = classify(err)
    return row.code, row.name


def diagnostic(err: BaseException, source: Source | None = None) -> Diagnostic:
    """The record of one error; its place from the error's span in ``source``."""
    code, name = code_of(err)
    if not isinstance(err, MatdError):
        return Diagnostic(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__,
                          code, name)
    source = source or getattr(err, "source", None)
    if err.span is None or source is None:
        return Diagnostic(err.message, code, name, hint=err.hint)
    _, line, col = source.locate(err.span.start)
    _, eline, ecol = source.locate(max(err.span.end - 1, err.span.start))
    return Diagnostic(err.message, code, name, line, col, eline, ecol + 1, err.hint)


def check_source(source: Source) -> list[Diagnostic]:
    """Every error of a program (a syntax error stops it: that one alone)."""
    from matd.grammar.parse import parse_program
    try:
        prog = parse_program(source.text, source, collect_errors=True)
    except MatdError as e:
        return [diagnostic(e, source)]
    return [diagnostic(e, source) for e in prog.errors]
