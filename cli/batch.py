"""``--batch``: many programs from standard input, one JSON object out per program, in order.

Each non-blank input line is one program: matd text, or an NDJSON object whose keys the
command names (``{"expression": …, "wrt": […], "order": 2}`` for ``diff``,
``{"expression": …, "at": {"x": [1, 2]}}`` for ``eval``); lines that begin with ``#`` are
skipped.  Every output object starts with ``"line"``, the input line it answers (and
``"id"``, copied, when the input object has one).  An item that fails becomes
``{"line": N, "error": MESSAGE, "code": CODE, "name": SLUG, "col": …, "hint": …}`` (the
codes of ``matd check``, MD001…, or ``numeric``/``internal``: see ``matd.diagnostics``) and the rest go on; the exit status is 2 when any item failed (1
when ``check`` found errors, 0 otherwise).  Output is written and flushed line by line, so
``… --batch | head -1`` reads the first answer at once, and a closed pipe ends quietly.

>>> import io
>>> out = io.StringIO()
>>> run_batch(lambda item: ({"n": len(item.expression)}, 0),
...           io.BytesIO(b'tr(A)\\n\\n{"expression": "x"}\\n{"wrt": 1}\\n'), out.write)
2
>>> print(out.getvalue().strip())
{"line": 1, "n": 5}
{"line": 3, "n": 1}
{"line": 4, "error": "the object has no \\"expression\\" (a string)", "code": "MD004", "name": "unreadable"}
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import click

from matd.cli.echo import emit
from matd.cli.sources import MAX_TEXT_BYTES, InputError
from matd.core.errors import MatdError


@dataclass(frozen=True)
class Item:
    """One program of a batch: its input line (1-based), its text, and the fields of its
    NDJSON object (empty for a line of plain matd text)."""

    line: int
    expression: str
    fields: dict = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.fields.get(key, default)


def parse_line(lineno: int, raw: bytes, keys: Iterable[str]) -> Item | None:
    """An input line as an Item (None for a blank or ``#`` line); InputError when bad."""
    if len(raw) > MAX_TEXT_BYTES:
        raise InputError(f"line {lineno} is longer than {MAX_TEXT_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise InputError(f"line {lineno} is not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                         f"column {e.start + 1})", hint="matd reads UTF-8") from None
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    if not text.lstrip().startswith("{"):
        return Item(lineno, text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not a JSON object: {e.msg} (column {e.colno})",
                         hint="one matd program, or one JSON object, per line") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("expression"), str):
        raise InputError('the object has no "expression" (a string)')
    allowed = ("expression", "id", *keys)
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        raise InputError(f"unknown key{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}",
                         hint=f"the keys of an item: {', '.join(allowed)}")
    return Item(lineno, obj["expression"], obj)


def error_object(err: BaseException, item: Item | None, lineno: int) -> dict:
    """The JSON error object of a failed item."""
    from matd.diagnostics import diagnostic
    if isinstance(err, RecursionError):
        err = MatdError("the expression is nested too deeply for matd",
                        hint="name parts of it with definitions (r = …)")
    elif isinstance(err, MemoryError):
        err = MemoryError("out of memory")
    d = diagnostic(err)
    obj: dict = {"line": lineno, "error": d.message, "code": d.code, "name": d.name}
    if d.line is not None and item is not None:
        if item.expression.count("\n"):
            obj["expression_line"] = d.line
        obj["col"] = d.col
    if d.hint:
        obj["hint"] = d.hint
    if item is not None and "id" in item.fields:
        obj["id"] = item.fields["id"]
    return obj


def run_batch(handle: Callable[[Item], tuple[dict, int]], stream=None,
              write: Callable[[str], None] | None = None, keys: Iterable[str] = ()) -> int:
    """Run ``handle`` on every program of ``stream`` (default: standard input, bytes) and
    write one JSON line per program (default: to stdout, flushed).  ``handle`` returns
    (object, status): the object is printed after ``"line"``; the batch's status is the
    largest of the items' (2 for an item that raised a MatdError).  ``keys``: the NDJSON
    keys the command reads, besides ``expression`` and ``id``."""
    stream = stream if stream is not None else sys.stdin.buffer
    write = write or emit
    keys = tuple(keys)
    status = 0
    for lineno, raw in enumerate(stream, 1):
        item = None
        try:
            item = parse_line(lineno, raw, keys)
            if item is None:
                continue
            obj, st = handle(item)
            out = {"line": lineno, **({"id": item.fields["id"]} if "id" in item.fields else {}),
                   **obj}
        except BrokenPipeError:
            raise
        except Exception as e:  # noqa: BLE001 - each item's failure is its own answer
            if not isinstance(e, MatdError) and os.environ.get("MATD_DEBUG") == "1":
                raise
            out, st = error_object(e, item, lineno), 2
        status = max(status, st)
        line = json.dumps(out, ensure_ascii=False)
        write(line + "\n" if write is not emit else line)
    return status


def batch_only(flag: str, given: bool) -> None:
    """A flag that has no meaning with --batch."""
    if given:
        raise click.UsageError(f"--batch reads the programs from standard input; {flag} "
                               "cannot be used with it")


# -- items of `matd check --batch` and `matd shape --batch` ----------------------------------
def _source(item: Item):
    from matd.core.syntax import Source
    return Source(item.expression, f"<line {item.line}>")


def check_item(item: Item) -> tuple[dict, int]:
    """``matd check --batch``: {"errors": [diagnostics], "ok": …}; status 1 when not ok."""
    from matd.diagnostics import check_source
    errors = [d.as_dict() for d in check_source(_source(item))]
    return {"ok": not errors, "errors": errors}, 1 if errors else 0


def shape_item(item: Item) -> tuple[dict, int]:
    """``matd shape --batch``: what ``matd shape --format json`` prints for the program."""
    from matd.grammar.parse import parse_program
    source = _source(item)
    try:
        prog = parse_program(item.expression, source)
    except MatdError as e:
        e.source = source
        raise
    result = prog.result
    return {"variables": {n: [str(d) for d in v.shape] for n, v in prog.variables.items()},
            "definitions": {n: [str(d) for d in v.shape] for n, v in prog.definitions.items()},
            "attributes": {n: list(prog.attrs(n)) for n in prog.variables if prog.attrs(n)},
            "result": [str(d) for d in result.shape] if result is not None else None}, 0
