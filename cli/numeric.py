"""``matd eval`` and ``matd grad``: flags -> inputs -> one call of the library
(``matd.numbers``, behind ``matd.eval`` and ``matd.grad``) -> output.  Data goes to
stdout (text that ``np.loadtxt`` reads, or JSON); check reports go to stderr."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import click

from matd.cli.echo import emit
from matd.cli.inputs import load_value, parse_at, parse_dims, write_atomic
from matd.cli.sources import expression_source
from matd.core.errors import MatdError


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
    backend: str = "numpy"
    chunks: str | None = None
    scheduler: str | None = None


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
        click.option("--backend", type=click.Choice(["numpy", "dask"]), default="numpy",
                     show_default=True, help="dask: inputs in chunks, read by the workers "
                     "(.npy, shards, .zarr, .h5), computed once, out of core "
                     "(pip install 'matd[dask]')."),
        click.option("--chunks", default=None, metavar="ROWS|auto",
                     help="With --backend dask: cut every axis longer than ROWS into blocks "
                     "of ROWS (default auto: about 32 MiB of the widest input)."),
        click.option("--scheduler", default=None,
                     metavar="threads|local[:N]|tcp://HOST:PORT|FILE.json",
                     help="With --backend dask: where to compute (default threads; local:N "
                     "starts N workers on 127.0.0.1; pip install 'matd[distributed]')."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def inputs_of(opts: NumOptions):
    """The library's Inputs from the flags: --at values read (files, literals, -), --dims."""
    from matd.numbers import Inputs
    dims = parse_dims(opts.dims)
    if opts.backend != "dask" and (opts.chunks is not None or opts.scheduler is not None):
        flag = "--chunks" if opts.chunks is not None else "--scheduler"
        raise MatdError(f"{flag} is for --backend dask", hint="add --backend dask")
    if opts.backend == "dask":
        from matd.core.dasknp import import_lean
        import_lean()
    arrays, where = {}, {}
    for name, text in parse_at(opts.at):
        stored = None
        if opts.backend == "dask":   # a file the workers read themselves, never loaded here
            from matd.core.stores import lazy_input
            stored = lazy_input(name, text)
        if stored is not None:
            arrays[name], where[name] = stored, stored.where
        else:
            arrays[name], where[name] = load_value(name, text)
    return Inputs(arrays=arrays, where=where, dims=dims, random=opts.random, seed=opts.seed,
                  device=opts.device, dtype=opts.dtype, backend=opts.backend,
                  chunks=opts.chunks)


@contextlib.contextmanager
def lazy_run(opts: NumOptions):
    """--backend dask: the scheduler of --scheduler around the command; yields
    finish(binding, results), which computes them and every check in one pass — into
    --out, blockwise, when given (then it returns {})."""
    from matd.core.daskrun import scheduler

    def finish(b, arrays: dict) -> dict:
        from matd.numbers import finish as compute
        write = None
        if opts.out and blockwise(opts.out):
            from matd.core.stores import pending_write
            write = pending_write(opts.out, arrays)
        return compute(b, arrays, write)
    with scheduler(opts.scheduler):
        yield finish


def _suffix(path: str) -> str:
    return path.lower().rstrip("/").rpartition(".")[2]


def blockwise(path: str) -> bool:
    """Whether --out PATH is written block by block on the dask backend (.npy, .zarr)."""
    return _suffix(path) in ("npy", "zarr")


def write_out(path: str, arrays: dict) -> None:
    """--out of results in memory: .npy/.npz atomically; .zarr through core/stores.py."""
    if _suffix(path) == "zarr":
        import dask

        from matd.core.stores import pending_write
        w = pending_write(path, arrays)
        try:
            dask.compute(*w.tasks)
        except BaseException:
            w.abort()
            raise
        w.commit()
        return
    write_atomic(path, arrays)


def prepare(opts: NumOptions, wrt=()):
    """Parse the program with the given arrays' shapes, bind values, pick the backend."""
    from matd.numbers import prepare as bind_program
    return bind_program(expression_source(opts.expr), inputs_of(opts), wrt)


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
        from rich.table import Table

        from matd.cli.render import console
        t = Table(title=f"{label}  {' × '.join(map(str, a.shape)) or 'scalar'}",
                  show_header=False, box=None)
        rows = a.reshape(1, 1) if a.ndim == 0 else a.reshape(-1, 1) if a.ndim == 1 else a
        for _ in range(rows.shape[1]):
            t.add_column(justify="right")
        for row in rows:
            t.add_row(*(f"{x:.6g}" for x in row))
        console().print(t)
        return
    if label:
        emit(f"# {label} {'x'.join(map(str, a.shape)) or 'scalar'}")
    emit(text_of(a))


def value_object(v) -> dict:
    return {"shape": list(v.shape), "value": v.tolist()}


def eval_item(opts: NumOptions, shared):
    """The handler of ``matd eval --batch``: an item's "at" (values by name: numbers, nested
    lists, or strings as --at takes them) over the command's --at; its "dims" and "seed"
    over --dims and --seed."""
    import dataclasses
    import re

    from matd.cli.inputs import json_value
    from matd.core.syntax import Source
    from matd.numbers import evaluate

    def handle(item):
        at = item.get("at", {})
        if not isinstance(at, dict):
            raise MatdError('"at": expected an object of values by name, e.g. {"x": [1, 2]}')
        used = set(re.findall(r"[^\W\d]\w*", item.expression))   # --at binds the names an item uses
        arrays = {k: v for k, v in shared.arrays.items() if k in used}
        where = {k: v for k, v in shared.where.items() if k in used}
        for name, v in at.items():
            arrays[name], where[name] = json_value(name, v)
        dims = item.get("dims", None)
        dims = parse_dims(dims) if isinstance(dims, str) else dims
        if dims is not None and not isinstance(dims, dict):
            raise MatdError('"dims": expected {"m": 3} or "m=3,n=4"')
        seed = item.get("seed", opts.seed)
        inputs = dataclasses.replace(shared, arrays=arrays, where=where,
                                     dims={**shared.dims, **(dims or {})}, seed=seed,
                                     random=bool(item.get("random", opts.random)))
        return value_object(evaluate(Source(item.expression, "<stdin>"), inputs)), 0
    return handle


@click.command(name="eval", help="Evaluate the last expression of EXPR (matd text, a file, "
               "or -) on given or random values.")
@click.argument("expr", required=False)
@numeric_options
@click.option("--batch", is_flag=True,
              help="Read programs from standard input, one per line (or NDJSON objects with "
              "expression, at, dims, seed, random, id); print one JSON object per program "
              "(shape, value), in order; a failing item prints an error object and the rest "
              "go on (exit 2 if any failed). --at (to the items that use the name), --random, "
              "--seed and --dims apply to every item.")
@memory_guarded
def eval_(expr, at, random, seed, dims, out, device, dtype, fmt, backend, chunks, scheduler,
          batch):
    from matd.numbers import evaluate
    opts = NumOptions(expr, tuple(at), random, seed, dims, out, device, dtype, fmt, backend,
                      chunks, scheduler)
    if batch:
        from matd.cli.batch import batch_only, run_batch
        batch_only("EXPR", expr is not None)
        batch_only("--out", out is not None)
        if any(t == "-" or t.startswith("-:") for _, t in parse_at(at)):
            batch_only("--at NAME=-", True)
        return run_batch(eval_item(opts, inputs_of(opts)),
                         keys=("at", "dims", "seed", "random"))
    if expr is None:
        raise click.UsageError("Missing argument 'EXPR' (or --batch to read many programs "
                               "from standard input).")
    if backend == "dask":
        with lazy_run(opts) as finish:
            from matd.numbers import lazy_value
            v, b = lazy_value(expression_source(expr), inputs_of(opts))
            v = finish(b, {"value": v}).get("value")   # None: written to --out
    else:
        v = evaluate(expression_source(expr), inputs_of(opts))
    if out:
        if v is not None:
            write_out(out, {"value": v})
    elif fmt == "json":
        import json
        emit(json.dumps(value_object(v)))
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
              help="Compare with central finite differences; exit 1 when they disagree "
              "(the report goes to stderr).")
@click.option("--tol", type=float, default=None,
              help="Tolerance of --check and --against (relative; default 1e-6, 1e-3 in float32).")
@click.option("--against", default=None, metavar="FILE.npy",
              help="Compare with your own gradient (a .npy file); exit 1 when they disagree.")
@click.option("--hvp", default=None, metavar="V",
              help="With --order 2: the Hessian applied to V (X's shape), without the Hessian.")
@numeric_options
@memory_guarded
def grad(expr, wrt, order, check, tol, against, hvp, at, random, seed, dims, out, device,
         dtype, fmt, backend, chunks, scheduler):
    from matd.numbers import compare, derivatives
    opts = NumOptions(expr, tuple(at), random, seed, dims, out, device, dtype, fmt, backend,
                      chunks, scheduler)
    if hvp is not None and int(order) != 2:
        raise MatdError("--hvp needs --order 2")
    tol = tol if tol is not None else (1e-6 if dtype == "float64" else 1e-3)
    if backend == "dask" and out and blockwise(out) and (check or against is not None):
        raise MatdError("--check and --against compare in memory; with --backend dask the "
                        f"result goes to {out} block by block",
                        hint="write to an .npz, or check without --out")
    if backend == "dask":
        from matd.numbers import lazy_derivatives
        with lazy_run(opts) as finish:
            inputs = inputs_of(opts)
            V = load_value(wrt[0], hvp)[0] if hvp is not None else None
            lazy, b, checking = lazy_derivatives(expression_source(expr), list(wrt),
                                                 int(order), inputs, hvp=V)
            results = finish(b, lazy)
            report = checking(results, tol) if check else []
    else:
        inputs = inputs_of(opts)
        V = load_value(wrt[0], hvp)[0] if hvp is not None else None
        results, report = derivatives(expression_source(expr), list(wrt), int(order), inputs,
                                      hvp=V, check=check, tol=tol)
    if against is not None:
        if len(results) != 1:
            raise MatdError("--against compares one gradient: give one --wrt")
        name = next(iter(results))
        theirs, src = load_value(name, against)
        report.append(compare(theirs, results[name], name, against, src, tol))
    status = 0 if all(c.ok for c in report) else 1
    if out:
        if results:   # (empty: written blockwise to --out by the compute)
            write_out(out, results)
    elif fmt == "json":
        import json
        emit(json.dumps({"wrt": list(results), "order": int(order),
                         "shape": {k: list(v.shape) for k, v in results.items()},
                         "derivative": {k: v.tolist() for k, v in results.items()},
                         "checks": [{"what": c.what, "error": c.error, "ok": c.ok}
                                    for c in report]}))
    else:
        for name, v in results.items():
            label = f"∂f/∂{name}" if int(order) == 1 else f"∂²f/∂{name}²"
            show(label if len(results) > 1 or report else "", v)
    if fmt != "json":
        for c in report:   # diagnostics on stderr: stdout stays data (np.loadtxt reads it)
            emit(f"{c.what}: {c.error:.1e}  "
                 f"({'ok' if c.ok else f'FAILED, tolerance {tol:g}'})", err=True)
    return status
