"""The stable error codes of ``matd check``: one table, one row per kind of error.

A code never changes meaning once released; a new kind of error gets a new row.  An error
is classified by its class (the most specific class with a row wins); a plain ``MatdError``
by the first row whose message pattern matches, else it is a shape/type error (MD002), the
elaborator's business.  Each row carries an example program that produces it, so a test walks
the table (``tests/test_check_conventions.py``).

>>> from matd.core.errors import MatdError, ShapeError
>>> classify(ShapeError("sum: shapes n and m differ")).code
'MD002'
>>> classify(MatdError("unknown function 'fo'")).code
'MD003'
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str                       # MDnnn, stable
    name: str                       # a slug, stable too
    summary: str                    # for the docs
    classes: tuple[str, ...] = ()   # error classes (by name: no imports) that are this code
    patterns: tuple[str, ...] = ()  # message regexes, for plain MatdError
    example: str | None = None      # a program whose first error is this code


CODES: tuple[Code, ...] = (
    Code("MD001", "syntax", "the text does not parse", ("MatdSyntaxError",),
         example="A: m x n; A +"),
    Code("MD002", "shape", "shapes conflict, or an operand has the wrong kind (the default for "
         "type errors)", ("ShapeError",), example="A: m x n; x: p; A x"),
    Code("MD003", "unknown-name", "an unknown function, or a name a function body cannot see",
         patterns=(r"^unknown function ", r" is not a parameter of this function$"),
         example="x: n; foo(x)"),
    Code("MD004", "unreadable", "a file or standard input cannot be read (missing, not a "
         "regular file, not UTF-8, too large)", ("InputError",), example=None),
    Code("MD005", "name-conflict", "a name declared twice, or used with two meanings "
         "(variable, dimension, function, built-in)",
         patterns=(r" is declared twice$", r": it is already ", r"it is a built-in function$",
                   r"^parameter '.*' repeated$", r"^'[^']*' is a function$",
                   r" not a dimension$"),
         example="A: m x n; A: n x n; A"),
    Code("MD006", "arguments", "a function called with the wrong number or kind of arguments",
         patterns=(r" takes \d+ argument", r"^wrong number of sizes ", r"^unvec takes ",
                   r"^expected a size "),
         example="A: n x n; tr(A, A)"),
    Code("MD007", "user-function", "a user function whose body has no entrywise meaning",
         ("NotEntrywise",), patterns=(r"user function", r"^the body of "),
         example="g(t) = eye(3)"),
)

BY_CODE = {c.code: c for c in CODES}
DEFAULT = BY_CODE["MD002"]
_BY_CLASS = {cls: c for c in CODES for cls in c.classes}
_PATTERNS = [(re.compile(p), c) for c in CODES for p in c.patterns]


def classify(err: Exception) -> Code:
    """The row for an error: by class, then by message, else MD002."""
    for cls in type(err).__mro__:
        if cls.__name__ == "MatdError":
            break
        if cls.__name__ in _BY_CLASS:
            return _BY_CLASS[cls.__name__]
    message = getattr(err, "message", str(err))
    for rx, row in _PATTERNS:
        if rx.search(message):
            return row
    return DEFAULT
