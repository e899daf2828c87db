"""Errors raised by matd's core and grammar; the CLI renders them.

A ``MatdError`` carries a message, the source span it is about (or None), an
optional second span (the other side of a conflict) and a hint.

>>> e = MatdError("unknown function 'fo'", hint="did you mean 'tr'?")
>>> str(e)
"unknown function 'fo'"
"""
from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """Character offsets [start, end) into a program's source text."""

    start: int
    end: int

    def cover(self, other: "Span | None") -> "Span":
        if other is None:
            return self
        return Span(min(self.start, other.start), max(self.end, other.end))


class MatdError(Exception):
    """A user-facing error: syntax, shape or input.  Exit status 2."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 other: Span | None = None, other_label: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.other = other
        self.other_label = other_label


class InputError(MatdError):
    """An input that cannot be read (exit 2)."""


class ShapeError(MatdError):
    """A shape conflict; ``span`` and ``other`` are the two sides."""


class MatdSyntaxError(MatdError):
    """The text does not parse."""


class NumericError(MatdError):
    """Numerical trouble while evaluating (exit 2)."""


class OutOfMemory(MatdError):
    """A request whose arrays do not fit in memory (exit 2; not numerical trouble)."""
