"""``matd.eval`` and ``matd.grad``: numbers from programs (numpy on the CPU, CuPy on a GPU).

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
    xp, dtype = namespace(inputs.device, inputs.dtype)
    arrays = {}
    for name, a in inputs.arrays.items():
        try:
            arrays[name] = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise MatdError(f"--at {name}: not an array ({e})") from None
    given = {}
    for name, a in arrays.items():
        if a.ndim <= 2:
            given[name] = (1, 1) if a.ndim == 0 else (a.shape[0], 1) if a.ndim == 1 else a.shape
    try:
        prog = parse_program(source.text, source, given=given)
    except MatdError as e:
        if getattr(e, "source", None) is None:
            e.source = source
        raise
    if prog.result is None:
        raise MatdError("nothing to evaluate: the program has no expression")
    b = bind(prog, arrays, dict(inputs.dims), dict(inputs.where), xp, dtype)
    if inputs.random:
        fill_random(prog, b, np.random.default_rng(inputs.seed))
    needed = [v.params[0] for v in free_vars(prog.result)] + list(wrt)
    missing = [n for n in dict.fromkeys(needed) if n in prog.variables and n not in b.env]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)}",
                        hint="give each one: --at NAME=VALUE (a file or a literal), or --random")
    return prog, b


def evaluate(source: Source, inputs: Inputs | Mapping):
    """The value of the program's last expression, as a numpy array in the user's shape."""
    from matd.core.numeric import value
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(arrays=inputs)
    prog, b = prepare(source, inputs)
    return value(prog, b)


def derivatives(source: Source, wrt: Sequence[str], order: int = 1,
                inputs: Inputs | Mapping = Inputs(), *, hvp=None, check: bool = False,
                tol: float | None = None) -> tuple[dict, list[Check]]:
    """({variable: derivative array}, checks).  ``hvp``: with order 2, the Hessian applied
    to this direction (X's shape) instead of the Hessian; ``check``: compare each with
    central finite differences (relative error at most ``tol``: 1e-6, 1e-3 in float32)."""
    import numpy as np

    from matd.core.derive import derive
    from matd.core.fdcheck import rel_error
    from matd.core.numeric import derivative_array, fd_derivative
    from matd.core.numeric import hvp as hessian_vector
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(arrays=inputs)
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
    tol = tol if tol is not None else (1e-6 if inputs.dtype == "float64" else 1e-3)
    results, report = {}, []
    for r in d.results:
        results[r.wrt] = hessian_vector(prog, b, r, hvp) if hvp is not None \
            else derivative_array(prog, b, r, d.f)
        if check:
            ref = fd_derivative(prog, b, r, d.f)
            if hvp is not None:
                k = np.asarray(hvp).ndim
                ref = np.tensordot(ref, np.asarray(hvp, float), axes=k)
            err = rel_error(results[r.wrt], ref)
            report.append(Check(f"{r.wrt}: max relative error vs central differences", err,
                                err <= tol))
    return results, report


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
