"""Rendering of errors: ``PLACE: error: MESSAGE``, the source line, carets, a hint.

>>> from matd.core.errors import MatdError, Span
>>> from matd.core.syntax import Source
>>> print(render_error(MatdError("bad", Span(2, 3), "try this"), Source("A +")))
<expr>:3: error: bad
  A +
    ^
hint: try this
"""
from __future__ import annotations

import os
import sys

from matd.core.errors import MatdError, Span
from matd.core.syntax import Source


def use_color(stream) -> bool:
    """Color only on a terminal, and never with NO_COLOR set."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _marks(source: Source, spans: list[tuple[Span, str]]) -> list[str]:
    """Source lines with marker lines under them; spans on one line share it."""
    by_line: dict[int, list[tuple[Span, str]]] = {}
    for sp, ch in spans:
        line, _, _ = source.locate(sp.start)
        by_line.setdefault(line, []).append((sp, ch))
    out = []
    for line in sorted(by_line):
        text = source.line_text(line)
        start_of_line = sum(len(x) + 1 for x in source.text.split("\n")[:line])
        marks = [" "] * (len(text) + 1)
        for sp, ch in by_line[line]:
            a = sp.start - start_of_line
            b = min(max(sp.end - start_of_line, a + 1), len(text) + 1)
            for i in range(max(a, 0), b):
                if marks[i] == " " or ch == "^":
                    marks[i] = ch
        out.append("  " + text.replace("\t", " "))
        out.append("  " + "".join(marks).rstrip())
    return out


def render_error(err: MatdError, source: Source | None) -> str:
    """The full, multi-line message for a user error."""
    if source is None or err.span is None:
        lines = [f"matd: error: {err.message}"]
    else:
        lines = [f"{source.place(err.span.start)}: error: {err.message}"]
        spans = [(err.span, "^")]
        if err.other is not None:
            spans.append((err.other, "-"))
        lines += _marks(source, spans)
        if err.other is not None and err.other_label:
            lines.append(f"{source.place(err.other.start)}: note: {err.other_label}")
    if err.hint:
        lines.append(f"hint: {err.hint}")
    return "\n".join(lines)


def one_line(err: MatdError, source: Source | None) -> str:
    """``PLACE: error: MESSAGE (hint: …)`` on one line, for ``matd check``."""
    place = source.place(err.span.start) if source is not None and err.span else "matd"
    hint = f" (hint: {err.hint})" if err.hint else ""
    return f"{place}: error: {err.message}{hint}"


def colorize(text: str, stream=None) -> None:
    """Write an error message, in color on a terminal."""
    stream = stream or sys.stderr
    if not use_color(stream):
        stream.write(text + "\n")
        return
    from rich.console import Console
    from rich.text import Text
    console = Console(file=stream, highlight=False)
    out = Text()
    for ln in text.split("\n"):
        if ": error: " in ln:
            place, msg = ln.split(": error: ", 1)
            out.append(place + ": ", style="bold").append("error: ", style="bold red")
            out.append(msg + "\n")
        elif ln.startswith("hint:"):
            out.append("hint:", style="bold cyan").append(ln[5:] + "\n")
        elif ln.strip() and set(ln.strip()) <= set("^-"):
            out.append(ln + "\n", style="bold red")
        else:
            out.append(ln + "\n")
    console.print(out, end="")
