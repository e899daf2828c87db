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
import re
import sys

from matd.core.errors import MatdError, Span
from matd.core.syntax import Source


COLOR_CHOICES = ("auto", "always", "never")
_color = "auto"     # the group's --color; set once per invocation by ``set_color``


def set_color(choice: str) -> None:
    """Record ``--color auto|always|never`` for this run (the group's callback calls it)."""
    global _color
    if choice not in COLOR_CHOICES:
        raise ValueError(f"--color must be one of {', '.join(COLOR_CHOICES)}")
    _color = choice


def _env_on(name: str) -> bool:
    """An environment flag is on when set and not empty (``0``/``false`` also off)."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def use_color(stream) -> bool:
    """Whether to color what goes to ``stream``.

    ``--color always``/``never`` decide; with ``auto`` (the default) ``NO_COLOR``
    (set and not empty: never) wins over ``FORCE_COLOR`` (set, not empty, not 0:
    always), and otherwise color goes to terminals only (https://no-color.org).

    >>> import io; set_color("always"); use_color(io.StringIO())
    True
    >>> set_color("auto"); use_color(io.StringIO())
    False
    """
    if _color != "auto":
        return _color == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if _env_on("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def console(stream=None, **kw):
    """A rich Console for ``stream`` that colors exactly when ``use_color`` says so."""
    from rich.console import Console
    stream = stream or sys.stdout
    on = use_color(stream)
    return Console(file=stream, force_terminal=on, no_color=not on, highlight=False, **kw)


def terminal_width(stream=None) -> int | None:
    """Columns to wrap text output to: ``COLUMNS`` when set, else the terminal's width,
    else None (piped output is never wrapped)."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    stream = stream or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        import shutil
        return shutil.get_terminal_size().columns
    return None


def _wrap(text: str, width: int) -> list[str]:
    """Words of ``text`` in lines of at most ``width`` (a longer word stays whole)."""
    import textwrap
    return textwrap.wrap(text, max(width, 1), break_long_words=False, break_on_hyphens=False) \
        or [""]


GAP = "   "   # between a formula and its shape


def wrap_lines(lines, width: int | None = -1):
    """Fit ``diff``'s text layout to ``width`` columns (default: ``terminal_width()``).

    ``lines`` are ``(text, label length, shape length)`` as ``cli.diff.render_text``
    makes them: ``label = formula   shape``.  Lines that fit are kept; when any does
    not, formulas wrap at spaces under their first character, and each shape moves
    to a common column that fits, or onto a line of its own: no word is split.

    >>> rows = [("f     = tr(Aᵀ X B)    scalar", 1, 6), ("∂f/∂X = A Bᵀ          m×p", 5, 3)]
    >>> for text, _, _ in wrap_lines(rows, 20): print(text)
    f     = tr(Aᵀ X B)
                  scalar
    ∂f/∂X = A Bᵀ
                  m×p
    """
    if width == -1:
        width = terminal_width()
    lines = list(lines)
    if width is None or all(len(t.rstrip()) <= width for t, _, _ in lines):
        return lines
    parts = []
    for text, nl, ns in lines:
        shape = text[len(text) - ns:] if ns else ""
        body = text[:len(text) - ns].rstrip() if ns else text.rstrip()
        at = body.find(" = ", nl) if nl else -1
        if at < 0:          # a where-line or a note: indentation, then words
            m = re.match(r"\s*(where \S+ = )?", body)
            head = m.group(0)
        else:
            head = body[:at + 3]
        parts.append((head, body[len(head):], shape, nl))
    sw = max((len(s) for _, _, s, _ in parts), default=0)
    col = max(width - sw, 0)          # the shape column
    out = []
    for head, formula, shape, nl in parts:
        indent = len(head) if width - len(head) >= min(20, width // 2) else 4
        rows = _wrap(formula, width - len(head)) if len(head) + len(formula) > width else [formula]
        if len(rows) > 1:
            rows = [rows[0]] + _wrap(" ".join(rows[1:]), width - indent)
        texts = [head + rows[0]] + [" " * indent + r for r in rows[1:]]
        texts = [t.rstrip() for t in texts]
        if shape:
            last = texts[-1]
            if len(last) + len(GAP) <= col:
                texts[-1] = last.ljust(col) + shape
            else:
                texts.append(" " * max(min(col, width - len(shape)), 0) + shape)
        for i, t in enumerate(texts):
            out.append((t, nl if i == 0 else 0, len(shape) if shape and i == len(texts) - 1
                        else 0))
    return out


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
    from rich.text import Text
    con = console(stream)
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
    con.print(out, end="")
