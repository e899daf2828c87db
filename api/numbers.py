"""``matd.eval`` and ``matd.grad``: numbers from programs (numpy on the CPU, CuPy on a GPU,
Dask for chunked and out-of-core arrays: ``backend="dask"``).

The library work is ``matd.core.numeric``; this module binds arrays to a program and runs
it — the one path behind both the functions of ``matd`` and ``matd eval``/``matd grad``.
Arrays follow the conventions: scalars 0-d, vectors 1-d, matrices 2-d; a derivative has
shape(f) + shape(X).

>>> import numpy as np
>>> evaluate(Source("A: 2 x 2; x: 2; x^T A x"), {"A": np.eye(2), "x": [1.0, 2.0]}).tolist()
5.0
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from matd.core.errors import MatdError
from matd.core.syntax import Source

MAX_SEED = 2 ** 64 - 1


@dataclass(frozen=True)
class Inputs:
    """How to bind a program to numbers.  ``where`` names each array's origin (a file) for
    messages; ``random`` draws the variables not given (respecting spd, sym, orth, diag)."""

    arrays: Mapping = field(default_factory=dict)
    where: Mapping = field(default_factory=dict)
    dims: Mapping = field(default_factory=dict)
    random: bool = False
    seed: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    backend: str = "numpy"   # or "dask": arrays in chunks, computed once (matd.core.daskrun)
    chunks: object = None    # dask: the rows of a block (an int), or "auto" (None)


@dataclass
class Check:
    """One comparison: what was compared, the max relative error, and whether it passed."""

    what: str
    error: float
    ok: bool


def prepare(source: Source, inputs: Inputs, wrt: Sequence[str] = ()):
    """(program, binding): the program parsed with the arrays' shapes, the values bound."""
    import numpy as np

    from matd.core.backend import namespace
    from matd.core.expr import free_vars
    from matd.core.numeric import bind, fill_random
    from matd.grammar.parse import parse_program
    if inputs.seed is not None and not 0 <= inputs.seed <= MAX_SEED:
        raise MatdError(f"--seed {inputs.seed}: a seed is an integer from 0 to {MAX_SEED}",
                        hint="e.g. --seed 1")
    from matd.core.deferred import is_dask
    lazy = _backend(inputs)
    xp, dtype = namespace(inputs.device, inputs.dtype)
    if lazy:
        from matd.core.dasknp import namespace as dask_namespace
        xp = dask_namespace()
        dtype = getattr(xp, inputs.dtype)
    arrays = {}
    for name, a in inputs.arrays.items():
        if is_dask(a) or hasattr(a, "to_dask"):   # a dask array, or a stored input
            if not lazy:
                raise MatdError(f"--at {name}: a dask array (or a stored input) needs the dask "
                                "backend", hint="give backend='dask' (--backend dask), or a "
                                "numpy array")
            arrays[name] = a
            continue
        try:
            arrays[name] = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise MatdError(f"--at {name}: not an array ({e})") from None
    given = {}
    for name, a in arrays.items():
        if len(a.shape) <= 2:
            given[name] = (1, 1) if len(a.shape) == 0 else (a.shape[0], 1) \
                if len(a.shape) == 1 else tuple(a.shape)
    rows = 0
    if lazy:
        from matd.core.daskrun import as_dask, chunk_rows
        rows = chunk_rows(inputs.chunks, list(given.values()),
                          4 if inputs.dtype == "float32" else 8)
        arrays = {k: as_dask(a, rows) if len(a.shape) <= 2 else a for k, a in arrays.items()}
    try:
        prog = parse_program(source.text, source, given=given)
    except MatdError as e:
        if getattr(e, "source", None) is None:
            e.source = source
        raise
    if prog.result is None:
        raise MatdError("nothing to evaluate: the program has no expression")
    b = bind(prog, arrays, dict(inputs.dims), dict(inputs.where), xp, dtype)
    b.rows = rows
    if inputs.random:
        fill_random(prog, b, np.random.default_rng(inputs.seed))
        if lazy:
            b.env = {k: as_dask(a, rows) for k, a in b.env.items()}
    needed = [v.params[0] for v in free_vars(prog.result)] + list(wrt)
    missing = [n for n in dict.fromkeys(needed) if n in prog.variables and n not in b.env]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)}",
                        hint="give each one: --at NAME=VALUE (a file or a literal), or --random")
    return prog, b


def _backend(inputs: Inputs) -> bool:
    """Whether the inputs ask for the lazy (dask) backend; a clear error for a bad one."""
    if inputs.backend not in ("numpy", "dask"):
        raise MatdError(f"unknown backend {inputs.backend!r}", hint="numpy or dask")
    if inputs.backend == "dask" and inputs.device != "cpu":
        raise MatdError("--backend dask runs on the CPU (numpy blocks); --device gpu is for "
                        "the numpy backend, on CuPy",
                        hint="drop --device gpu, or --backend dask")
    return inputs.backend == "dask"


def evaluate(source: Source, inputs: Inputs | Mapping):
    """The value of the program's last expression, as a numpy array in the user's shape."""
    v, b = lazy_value(source, inputs)
    return finish(b, {"value": v})["value"] if b.work is not None else v


def lazy_value(source: Source, inputs: Inputs | Mapping):
    """(value, binding): on the dask backend the value is a dask array, computed by
    ``finish`` (with every check) — the CLI writes it blockwise that way."""
    from matd.core.numeric import value
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(arrays=inputs)
    prog, b = prepare(source, inputs)
    return value(prog, b), b


def finish(b, arrays: dict, write=None) -> dict:
    """Compute a lazy command's results and checks in one pass (matd.core.daskrun)."""
    from matd.core.daskrun import compute
    from matd.core.numeric import _located
    return compute(b.work, arrays, write, _located)


def derivatives(source: Source, wrt: Sequence[str], order: int = 1,
                inputs: Inputs | Mapping = Inputs(), *, hvp=None, check: bool = False,
                tol: float | None = None) -> tuple[dict, list[Check]]:
    """({variable: derivative array}, checks).  ``hvp``: with order 2, the Hessian applied
    to this direction (X's shape) instead of the Hessian; ``check``: compare each with
    central finite differences (relative error at most ``tol``: 1e-6, 1e-3 in float32)."""
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(arrays=inputs)
    results, b, checking = lazy_derivatives(source, wrt, order, inputs, hvp=hvp)
    if b.work is not None:
        results = finish(b, results)
    return results, checking(results, tol) if check else []


def lazy_derivatives(source: Source, wrt: Sequence[str], order: int, inputs: Inputs, *,
                     hvp=None):
    """(results, binding, checking): the derivatives, dask arrays on the dask backend
    (computed by ``finish``), and ``checking(results, tol)``, the comparisons with central
    finite differences."""
    import numpy as np

    from matd.core.derive import derive
    from matd.core.fdcheck import rel_error
    from matd.core.numeric import derivative_arrays, fd_derivative
    from matd.core.numeric import hvp as hessian_vector
    if order not in (1, 2):
        raise MatdError(f"order {order!r}: matd differentiates to order 1 or 2")
    if hvp is not None and order != 2:
        raise MatdError("--hvp needs --order 2")
    prog, b = prepare(source, inputs, wrt)
    try:
        d = derive(prog, list(wrt), order)
    except MatdError as e:
        if getattr(e, "source", None) is None and e.span is not None:
            e.source = source
        raise
    if hvp is not None:
        values = [hessian_vector(prog, b, r, hvp) for r in d.results]
    else:
        values = derivative_arrays(prog, b, d.results, d.f)
    results = {r.wrt: v for r, v in zip(d.results, values)}

    def checking(got: dict, tol: float | None) -> list[Check]:
        tol = tol if tol is not None else (1e-6 if inputs.dtype == "float64" else 1e-3)
        report = []
        for r in d.results:
            ref = fd_derivative(prog, b, r, d.f)
            if hvp is not None:
                ref = np.tensordot(ref, np.asarray(hvp, float), axes=np.asarray(hvp).ndim)
            err = rel_error(got[r.wrt], ref)
            report.append(Check(f"{r.wrt}: max relative error vs central differences", err,
                                err <= tol))
        return report
    return results, b, checking


def compare(theirs, mine, name: str, spelled: str, src: str, tol: float) -> Check:
    """``--against SPELLED``: a gradient computed elsewhere (read from ``src``) vs matd's."""
    import numpy as np

    from matd.core.fdcheck import rel_error
    a = np.asarray(theirs)
    if a.dtype.kind not in "fiub":
        raise MatdError(f"--against {spelled}: the array is not numeric ({a.dtype})")
    if not np.all(np.isfinite(a)):
        raise MatdError(f"--against {spelled}: the array contains NaN or Inf",
                        hint="compare a gradient of finite numbers")
    if a.shape != np.shape(mine):
        raise MatdError(f"--against {spelled}: shape {a.shape} but the derivative by {name} has "
                        f"shape {np.shape(mine)}")
    err = rel_error(a, mine)
    return Check(f"{name}: max relative error of {src} vs matd", err, err <= tol)
