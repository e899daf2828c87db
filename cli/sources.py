"""Where programs come from: command-line text, files, standard input, and
``# matd:`` comment blocks in Python files.

>>> [s.text for s in programs_in("a.py", "x = 1\\n# matd: A: m x n\\n# matd: tr(A)\\n")]
[' A: m x n\\n tr(A)']
"""
from __future__ import annotations

import os
import re
import sys

from matd.core.errors import MatdError
from matd.core.syntax import Source

_MATD_LINE = re.compile(r"^(\s*#\s*matd:)(.*)$")


class InputError(MatdError):
    """An input that cannot be read (exit 2)."""


def programs_in(name: str, text: str) -> list[Source]:
    """The programs of a file: the whole file, or each block of ``# matd:`` lines in a .py."""
    if not name.endswith(".py"):
        return [Source(text, name, is_file=True)]
    out, block, lmap = [], [], []
    for i, line in enumerate(text.split("\n") + [""]):
        m = _MATD_LINE.match(line)
        if m:
            block.append(m.group(2))
            lmap.append((i + 1, len(m.group(1))))
        elif block:
            out.append(Source("\n".join(block), name, is_file=True, line_map=lmap))
            block, lmap = [], []
    return out


def read_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as e:
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"cannot read '{path}': {msg}") from None


def expression_source(arg: str) -> Source:
    """EXPR|FILE|-: standard input for '-', a file when one exists, else the text itself."""
    if arg == "-":
        return Source(sys.stdin.read(), "<stdin>", is_file=True)
    if os.path.isfile(arg) and not any(c in arg for c in ";\n"):
        return Source(read_file(arg), arg, is_file=True)
    return Source(arg, "<expr>")
