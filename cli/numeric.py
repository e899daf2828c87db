"""``matd eval`` and ``matd grad``: numbers from formulas, on the CPU or a GPU."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import click

from matd.cli.check import located
from matd.cli.inputs import load_value, parse_at, parse_dims, write_atomic
from matd.cli.sources import expression_source
from matd.core.errors import MatdError

MAX_SEED = 2 ** 64 - 1


def memory_guarded(f):
    """MemoryError anywhere in a numeric command is a clear exit 2, not an internal error."""
    import functools

    @functools.wraps(f)
    def run(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except MemoryError:
            raise MatdError("not enough memory for this request",
                            hint="give smaller sizes (--dims) or smaller inputs") from None
    return run


@dataclass(frozen=True)
class NumOptions:
    expr: str
    at: tuple[str, ...]
    random: bool
    seed: int | None
    dims: str | None
    out: str | None
    device: str
    dtype: str
    fmt: str


def numeric_options(f):
    opts = [
        click.option("--at", "at", multiple=True, metavar="NAME=VALUE",
                     help="A value: a .npy, .npz[:key], .csv or .txt file, - (an .npz on "
                     "stdin), or a literal such as 0.5 or [1,2,3] (repeatable)."),
        click.option("--random", is_flag=True,
                     help="Draw values for variables without --at (respecting spd, sym, "
                     "orth, diag)."),
        click.option("--seed", type=int, default=None, help="Seed for --random."),
        click.option("--dims", default=None, metavar="m=3,n=4",
                     help="Sizes of dimensions not fixed by the inputs (default 3 with --random)."),
        click.option("--out", default=None, metavar="PATH",
                     help="Write the result to a .npy or .npz file (atomically)."),
        click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu",
                     show_default=True, help="gpu runs on CuPy (pip install cupy-cuda12x, or cupy-cuda13x)."),
        click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
                     show_default=True, help="Floating-point type of the computation."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, help="How to print the result."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def prepare(opts: NumOptions, wrt=()):
    """Parse the program with the given arrays' shapes, bind values, pick the backend."""
    import numpy as np

    from matd.core.backend import namespace
    from matd.core.numeric import bind, fill_random
    from matd.grammar.parse import parse_program
    if opts.seed is not None and not 0 <= opts.seed <= MAX_SEED:
        raise MatdError(f"--seed {opts.seed}: a seed is an integer from 0 to {MAX_SEED}",
                        hint="e.g. --seed 1")
    dims = parse_dims(opts.dims)
    xp, dtype = namespace(opts.device, opts.dtype)
    arrays, where = {}, {}
    for name, text in parse_at(opts.at):
        arr, src = load_value(name, text)
        arrays[name], where[name] = np.asarray(arr), src
    given = {}
    for name, a in arrays.items():
        if a.ndim <= 2:
            given[name] = (1, 1) if a.ndim == 0 else (a.shape[0], 1) if a.ndim == 1 else a.shape
    source = expression_source(opts.expr)
    with located(source):
        prog = parse_program(source.text, source, given=given)
    if prog.result is None:
        raise MatdError("nothing to evaluate: the program has no expression")
    b = bind(prog, arrays, dims, where, xp, dtype)
    if opts.random:
        fill_random(prog, b, np.random.default_rng(opts.seed))
    from matd.core.expr import free_vars
    needed = [v.params[0] for v in free_vars(prog.result)] + list(wrt)
    missing = [n for n in dict.fromkeys(needed) if n in prog.variables and n not in b.env]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)}",
                        hint="give each one: --at NAME=VALUE (a file or a literal), or --random")
    return prog, b


def _fmt_number(x) -> str:
    return f"{float(x):.17g}"


def text_of(arr) -> str:
    """Plain text that np.loadtxt reads back: one row per line."""
    import numpy as np
    a = np.asarray(arr)
    if a.ndim == 0:
        return _fmt_number(a)
    if a.ndim == 1:
        return "\n".join(_fmt_number(x) for x in a)
    if a.ndim == 2:
        return "\n".join(" ".join(_fmt_number(x) for x in row) for row in a)
    return "\n".join(f"# [{', '.join(map(str, idx))}, :, :]\n{text_of(a[idx])}"
                     for idx in np.ndindex(a.shape[:-2]))


def show(label: str, arr) -> None:
    """Print an array: a rich table on a terminal when small, loadtxt text otherwise."""
    import numpy as np

    from matd.cli.render import use_color
    a = np.asarray(arr)
    if use_color(sys.stdout) and a.ndim <= 2 and a.size <= 400:
        from rich.console import Console
        from rich.table import Table
        t = Table(title=f"{label}  {' × '.join(map(str, a.shape)) or 'scalar'}",
                  show_header=False, box=None)
        rows = a.reshape(1, 1) if a.ndim == 0 else a.reshape(-1, 1) if a.ndim == 1 else a
        for _ in range(rows.shape[1]):
            t.add_column(justify="right")
        for row in rows:
            t.add_row(*(f"{x:.6g}" for x in row))
        Console().print(t)
        return
    if label:
        click.echo(f"# {label} {'x'.join(map(str, a.shape)) or 'scalar'}")
    click.echo(text_of(a))


@click.command(name="eval", help="Evaluate the last expression of EXPR (matd text, a file, "
               "or -) on given or random values.")
@click.argument("expr")
@numeric_options
@memory_guarded
def eval_(expr, at, random, seed, dims, out, device, dtype, fmt):
    from matd.core.numeric import value
    opts = NumOptions(expr, tuple(at), random, seed, dims, out, device, dtype, fmt)
    prog, b = prepare(opts)
    v = value(prog, b)
    if out:
        write_atomic(out, {"value": v})
    elif fmt == "json":
        click.echo(json.dumps({"shape": list(v.shape), "value": v.tolist()}))
    else:
        show("", v)
    return 0


@click.command(help="The gradient (or Jacobian, or with --order 2 the Hessian) of EXPR's "
               "last expression at given or random values; an array of shape(f) + shape(X).")
@click.argument("expr")
@click.option("--wrt", multiple=True, required=True, metavar="X",
              help="The variable to differentiate by (repeatable).")
@click.option("--order", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="2: the Hessian of a scalar expression.")
@click.option("--check", is_flag=True,
              help="Compare with central finite differences; exit 1 when they disagree.")
@click.option("--tol", type=float, default=None,
              help="Tolerance of --check and --against (relative; default 1e-6, 1e-3 in float32).")
@click.option("--against", default=None, metavar="FILE.npy",
              help="Compare with your own gradient (a .npy file); exit 1 when they disagree.")
@click.option("--hvp", default=None, metavar="V",
              help="With --order 2: the Hessian applied to V (X's shape), without the Hessian.")
@numeric_options
@memory_guarded
def grad(expr, wrt, order, check, tol, against, hvp, at, random, seed, dims, out, device,
         dtype, fmt):
    import numpy as np

    from matd.core.derive import derive
    from matd.core.fdcheck import rel_error
    from matd.core.numeric import derivative_array, fd_derivative
    from matd.core.numeric import hvp as hessian_vector
    opts = NumOptions(expr, tuple(at), random, seed, dims, out, device, dtype, fmt)
    prog, b = prepare(opts, wrt)
    d = derive(prog, list(wrt), int(order))
    tol = tol if tol is not None else (1e-6 if dtype == "float64" else 1e-3)
    results, status, report = {}, 0, []
    for r in d.results:
        if hvp is not None:
            if int(order) != 2:
                raise MatdError("--hvp needs --order 2")
            V, _ = load_value(r.wrt, hvp)
            results[r.wrt] = hessian_vector(prog, b, r, V)
        else:
            results[r.wrt] = derivative_array(prog, b, r, d.f)
        if check:
            ref = fd_derivative(prog, b, r, d.f)
            if hvp is not None:
                V, _ = load_value(r.wrt, hvp)
                k = np.asarray(V).ndim
                ref = np.tensordot(ref, np.asarray(V, float), axes=k)
            err = rel_error(results[r.wrt], ref)
            ok = err <= tol
            status = status or (0 if ok else 1)
            report.append((f"{r.wrt}: max relative error vs central differences", err, ok))
    if against is not None:
        if len(results) != 1:
            raise MatdError("--against compares one gradient: give one --wrt")
        name = next(iter(results))
        theirs, src = load_value(name, against)
        mine = results[name]
        if np.asarray(theirs).dtype.kind not in "fiub":
            raise MatdError(f"--against {against}: the array is not numeric "
                            f"({np.asarray(theirs).dtype})")
        if not np.all(np.isfinite(theirs)):
            raise MatdError(f"--against {against}: the array contains NaN or Inf",
                            hint="compare a gradient of finite numbers")
        if np.shape(theirs) != mine.shape:
            raise MatdError(f"--against {against}: shape {np.shape(theirs)} but the derivative "
                            f"by {name} has shape {mine.shape}")
        err = rel_error(theirs, mine)
        ok = err <= tol
        status = status or (0 if ok else 1)
        report.append((f"{name}: max relative error of {src} vs matd", err, ok))
    if out:
        write_atomic(out, results)
    elif fmt == "json":
        click.echo(json.dumps({"wrt": list(results), "order": int(order),
                               "shape": {k: list(v.shape) for k, v in results.items()},
                               "derivative": {k: v.tolist() for k, v in results.items()},
                               "checks": [{"what": w, "error": e, "ok": o}
                                          for w, e, o in report]}))
    else:
        for name, v in results.items():
            label = f"∂f/∂{name}" if int(order) == 1 else f"∂²f/∂{name}²"
            show(label if len(results) > 1 or report else "", v)
    if fmt != "json":
        for what, err, ok in report:
            click.echo(f"{what}: {err:.1e}  ({'ok' if ok else f'FAILED, tolerance {tol:g}'})",
                       err=not ok)
    return status
