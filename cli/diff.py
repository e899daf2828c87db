"""``matd diff``: flags -> options -> one call of the library (``matd.diff``) -> output.

The renderings live in ``matd.formats`` (the same functions behind ``matd.DiffResult``);
they are re-exported here for the tests that drive them with a ``DiffOptions``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import click

from matd.cli.echo import emit
from matd.cli.sources import expression_source
from matd.formats import (FORMATS, LABELS, View, _names, render_json,  # noqa: F401
                          render_latex, render_matd, render_numpy, render_text)
from matd.steps import render_steps  # noqa: F401

STEPS_FORMATS = ("text", "json", "latex")   # where --steps shows the derivation


@dataclass(frozen=True)
class DiffOptions:
    expr: str
    wrt: tuple[str, ...]
    order: int
    fmt: str
    layout: str
    jacobian: str | None
    steps: bool


def run_diff(opts: DiffOptions):
    """The library call: parse, type, differentiate.  Returns (program, derivation)."""
    r = diff_result(opts)
    return r._prog, r._d


def diff_result(opts: DiffOptions):
    from matd.symbolic import diff_source
    return diff_source(expression_source(opts.expr), list(opts.wrt) or None, opts.order,
                       opts.layout, opts.steps)


def echo_lines(lines, color: bool) -> None:
    """Lines of (text, label length, shape length): plain, or styled with rich on a terminal."""
    if not color:
        emit("\n".join(text for text, _, _ in lines))
        return
    from rich.text import Text

    from matd.cli.render import console as make_console
    console = make_console(soft_wrap=True)
    for text, nl, ns in lines:
        t = Text(text)
        if nl:
            t.stylize("bold cyan", 0, nl)
        if ns:
            t.stylize("dim", len(text) - ns, len(text))
        if text.lstrip().startswith(("where", "derivation:")):
            t.stylize("dim")
        console.print(t)


def diff_item(defaults: DiffOptions):
    """The handler of ``matd diff --batch``: an item's own wrt/order/layout, else the flags'.
    One object per program, the ``--format json`` object: with one variable, its result;
    with several, ``{"expression", "order", "layout", "wrt": [names], "declarations",
    "definitions", "results": [one object per variable]}`` (``matd.formats.render_json``)."""
    from matd.core.errors import MatdError
    from matd.core.syntax import Source
    from matd.symbolic import diff_source

    def handle(item):
        wrt = item.get("wrt", list(defaults.wrt) or None)
        order = item.get("order", defaults.order)
        layout = item.get("layout", defaults.layout)
        if isinstance(order, str) and order in ("1", "2"):
            order = int(order)
        if not isinstance(order, int) or isinstance(order, bool):
            raise MatdError(f'"order": {order!r} is not 1 or 2')
        r = diff_source(Source(item.expression, "<stdin>"), wrt, order, layout)
        return json.loads(r.json()), 0
    return handle


@click.command(help="Differentiate: the differential df and the gradient, Jacobian or "
               "Hessian of the last expression of EXPR (matd text, a file, or - for "
               "standard input). Without --wrt, by every variable.")
@click.argument("expr", required=False)
@click.option("--wrt", multiple=True, metavar="X", help="A variable to differentiate by "
              "(repeatable).")
@click.option("--order", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="2: the Hessian (scalar expressions).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text (for people), matd (one re-parseable program), latex, json (one "
              "object: by several variables, their shared definitions and one result "
              "each), numpy (Python source).")
@click.option("--layout", type=click.Choice(["numerator", "denominator"]),
              default="numerator", show_default=True,
              help="Jacobian layout: numerator is m×n for f in R^m, x in R^n.")
@click.option("--jacobian", type=click.Choice(["vec"]), default=None,
              help="Also show matrix-by-matrix derivatives as the vec-Jacobian ∂vec F/∂vec X.")
@click.option("--steps", is_flag=True, help="Show the derivation, one named rule per step "
              "(d of each node; the simplifications; each adjoint of the read-off: trace "
              "cyclicity, Hadamard, sum, Kronecker, scalar transpose; the structure; with "
              "--order 2 the second derivative): text lines, LaTeX rows with --format latex, "
              "a steps array with --format json.")
@click.option("--batch", is_flag=True,
              help="Read programs from standard input, one per line (or NDJSON objects with "
              "expression, wrt, order, layout, id); print one JSON object per program, in "
              "order; a failing item prints an error object and the rest go on (exit 2 if "
              "any failed). --wrt, --order and --layout are the items' defaults.")
def diff(expr, wrt, order, fmt, layout, jacobian, steps, batch):
    opts = DiffOptions(expr, tuple(wrt), int(order), fmt, layout, jacobian, steps)
    if batch:
        from matd.cli.batch import batch_only, run_batch
        batch_only("EXPR", expr is not None)
        batch_only(f"--format {fmt}", fmt not in ("text", "json"))
        batch_only("--steps", steps)
        return run_batch(diff_item(opts), keys=("wrt", "order", "layout"))
    if expr is None:
        raise click.UsageError("Missing argument 'EXPR' (or --batch to read many programs "
                               "from standard input).")
    if steps and fmt not in STEPS_FORMATS:
        raise click.UsageError(f"--steps shows the derivation with --format text, json or "
                               f"latex; --format {fmt} prints "
                               + ("one matd program" if fmt == "matd" else "Python source")
                               + ", which has no place for it")
    r = diff_result(opts)
    vec = jacobian == "vec"
    if fmt == "text":
        import sys

        from matd.cli.render import use_color, wrap_lines
        lines = r.lines(vec_jacobian=vec)
        if steps:
            lines = render_steps(r._d, _names(r._prog, r._d, View("text", jacobian))) + lines
        echo_lines(wrap_lines(lines), use_color(sys.stdout))
    elif steps:
        from matd.steps import render_steps_latex, with_steps_json
        names = _names(r._prog, r._d, View(fmt, jacobian))
        emit(with_steps_json(r.json(), r._prog, r._d, names) if fmt == "json" else
             render_steps_latex(r._d, names) + "\n" + r.latex(vec_jacobian=vec))
    else:
        emit({"json": r.json, "matd": lambda: r.matd(vec_jacobian=vec),
              "latex": lambda: r.latex(vec_jacobian=vec), "numpy": r.numpy_source}[fmt]())
    return 0
