"""matd — a matrix derivative calculator, as a library.

The functions here are what the ``matd`` command runs: ``matd diff`` is :func:`diff`,
``matd eval`` is :func:`eval`, ``matd grad`` is :func:`grad`, ``matd check`` is
:func:`check`.  Formulas are matd programs (``"A: m x n; x: n; norm(A x)^2"``); every
formula matd prints is a program that :func:`eval` accepts back.  Arrays follow the
conventions of the command: scalars 0-d, vectors 1-d, matrices 2-d, and a derivative by X
has shape(f) + shape(X).  Errors of the input (syntax, shapes, values) raise
:class:`MatdError` (``.message``, ``.span``, ``.hint``).

>>> import matd
>>> r = matd.diff("A: m x n; X: m x p; B: p x n; tr(A^T X B)", wrt="X")
>>> r.derivative, r.shape, r.kind
('A B^T', ('m', 'p'), 'gradient')
>>> print(r.text())
f     = tr(Aᵀ X B)    scalar
df    = tr(B Aᵀ dX)
∂f/∂X = A Bᵀ          m×p
>>> import numpy as np
>>> A = np.array([[2.0, 0.0], [0.0, 3.0]])
>>> matd.grad("A: n x n; x: n; x^T A x", "x", A=A, x=np.array([1.0, 1.0])).tolist()
[4.0, 6.0]
>>> float(matd.eval(r.derivative + " - A B^T", A=np.ones((2, 3)), B=np.ones((4, 3))).sum())
0.0
>>> [(d.code, d.name, d.line, d.col) for d in matd.check("A: m x n; tr(A)")]
[('MD002', 'shape', 1, 14)]
>>> try:
...     matd.diff("x: n; x^2")
... except matd.MatdError as e:
...     print(e.message.split(",")[0])
'^2' is a matrix power
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from matd.core.errors import MatdError

if TYPE_CHECKING:   # the modules below load numpy and the parser: only when called
    import numpy

    from matd.diagnostics import Diagnostic
    from matd.symbolic import DiffResult, VariableResult

__all__ = ["diff", "grad", "eval", "check", "MatdError", "DiffResult", "VariableResult",
           "Diagnostic", "__version__"]


def _source(text: str):
    from matd.core.syntax import Source
    if not isinstance(text, str):
        raise MatdError(f"expected a matd program as a string, got {type(text).__name__}")
    return Source(text, "<expr>")


def diff(text: str, wrt: str | Sequence[str] | None = None, order: int = 1,
         layout: str = "numerator", *, steps: bool = False) -> DiffResult:
    """Differentiate the last expression of the program ``text`` by ``wrt`` (a name, a list
    of names, or None: every variable), to ``order`` 1 or 2 (the Hessian of a scalar).
    ``layout="denominator"`` transposes Jacobians; ``steps`` records the derivation (for
    ``.text(steps=True)``).

    >>> r = diff("X: n x n; logdet(X)")
    >>> r.derivative, r["X"].differential
    ('X^-T', 'X: n x n; dX: n x n; tr(X^-1 dX)')
    >>> h = diff("A: n x n; x: n; x^T A x", "x", order=2)
    >>> h.kind, h.derivative
    ('hessian', 'A + A^T')
    """
    from matd.symbolic import diff_source
    return diff_source(_source(text), wrt, order, layout, steps)


def _inputs(at, arrays, dims, random, seed, device, dtype, backend="numpy", chunks=None):
    from matd.numbers import Inputs
    given = dict(at or {})
    for name, a in arrays.items():
        if name in given:
            raise MatdError(f"{name} is given twice (in at= and as a keyword)")
        given[name] = a
    return Inputs(arrays=given, dims=dict(dims or {}), random=random, seed=seed,
                  device=device, dtype=dtype, backend=backend, chunks=chunks)


def eval(text: str, *, at: Mapping[str, Any] | None = None, dims: Mapping[str, int] | None = None,
         random: bool = False, seed: int | None = None, device: str = "cpu",
         dtype: str = "float64", backend: str = "numpy", chunks: int | str | None = None,
         **arrays: Any) -> numpy.ndarray:
    """The value of the program's last expression at the given arrays (keywords by variable
    name; ``at={...}`` for names such as ``dims`` or ``seed``).  ``random`` draws the variables
    not given (respecting spd, sym, orth, diag; ``dims`` sizes their dims, 3 by default);
    ``device="gpu"`` runs on CuPy; ``backend="dask"`` on chunked Dask arrays (dask arrays
    may be given; ``chunks``: the rows of a block, or "auto"), computed once.  Returns a
    numpy array (0-d for a scalar).

    >>> eval("x: n; norm(x)^2", x=[3.0, 4.0]).item()
    25.0
    >>> eval("S: n x n spd; logdet(S)", random=True, seed=1, dims={"n": 2}).shape
    ()
    """
    from matd.numbers import evaluate
    return evaluate(_source(text), _inputs(at, arrays, dims, random, seed, device, dtype,
                                           backend, chunks))


def grad(text: str, wrt: str | Sequence[str], order: int = 1, *,
         at: Mapping[str, Any] | None = None, dims: Mapping[str, int] | None = None,
         random: bool = False, seed: int | None = None, device: str = "cpu",
         dtype: str = "float64", backend: str = "numpy", chunks: int | str | None = None,
         **arrays: Any) -> numpy.ndarray | dict[str, numpy.ndarray]:
    """The derivative of the program's last expression by ``wrt`` at the given arrays, as
    ``matd grad`` computes it: an array of shape(f) + shape(X) (order 2: the Hessian,
    shape(X) + shape(X)); with a list of variables, a dict of them.  Arrays and the other
    keywords as for :func:`eval`.

    >>> import numpy as np
    >>> g = grad("X: m x n; y: m; w: n; norm(X w - y)^2", ["w", "y"],
    ...          X=np.eye(2), y=np.zeros(2), w=np.array([1.0, 2.0]))
    >>> g["w"].tolist(), g["y"].tolist()
    ([2.0, 4.0], [-2.0, -4.0])
    """
    from matd.numbers import derivatives
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    results, _ = derivatives(_source(text), names, order,
                             _inputs(at, arrays, dims, random, seed, device, dtype, backend,
                                     chunks))
    return results[names[0]] if isinstance(wrt, str) else results


def check(text: str) -> list[Diagnostic]:
    """Shape-check a program: every error found (an empty list when it is clean), each a
    :class:`Diagnostic` with ``message``, ``code`` (the stable code ``matd check`` prints:
    MD001 syntax, MD002 shape, …), ``name`` (its slug), ``line``, ``col``, ``end_line``,
    ``end_col`` and ``hint``.

    >>> check("A: m x n; x: n; A x")
    []
    >>> d = check("A: m x n; x: p; A x")[0]
    >>> d.code, d.col, d.message
    ('MD002', 17, 'matrix product of m×n and p (a vector)')
    """
    from matd.diagnostics import check_source
    return check_source(_source(text))


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version
        return version("matd")
    if name in ("DiffResult", "VariableResult"):
        import matd.symbolic
        return getattr(matd.symbolic, name)
    if name == "Diagnostic":
        import matd.diagnostics
        return matd.diagnostics.Diagnostic
    raise AttributeError(f"module 'matd' has no attribute {name!r}")
