"""``matd.diff``: text -> a :class:`DiffResult` (differentials and derivatives, with their
renderings).  ``matd diff`` calls :func:`diff_source`, the same path.

>>> r = diff_source(Source("X: n x n; logdet(X)"), ["X"])
>>> r["X"].kind, r["X"].derivative, r["X"].shape
('gradient', 'X^-T', ('n', 'n'))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from matd.core.errors import MatdError
from matd.core.syntax import Source
from matd.formats import (View, _expression, _names, records, render_json, render_latex,
                          render_matd, render_numpy, render_text)
from matd.steps import render_steps

LAYOUTS = ("numerator", "denominator")


@dataclass(frozen=True)
class VariableResult:
    """What matd found for one variable.  Formulas are matd programs (strings) that
    ``matd eval`` and :func:`matd.eval` accept back.

    kind: gradient | jacobian | vec-jacobian | derivative (f of a scalar t) | hessian |
    vec-hessian.  ``shape``: the derivative's shape as numpy has it (``()`` scalar,
    ``("n",)`` vector, ``("m", "n")``), or None where no closed form exists (``note`` says
    why; ``differential`` is always there)."""

    wrt: str
    kind: str
    shape: tuple[str, ...] | None
    differential: str
    derivative: str | None
    gradient: str | None = None      # order 2: the gradient the Hessian differentiates
    riemannian: str | None = None    # orth variables: the Riemannian gradient
    note: str = ""


class DiffResult:
    """The result of :func:`matd.diff`: per-variable results and renderings.

    ``result["X"]`` (or ``result.variables["X"]``) is a :class:`VariableResult`; with
    exactly one variable, ``result.derivative``, ``.differential``, ``.shape`` and ``.kind``
    are that variable's.  The renderers return what ``matd diff --format …`` prints."""

    def __init__(self, prog, derivation):
        self._prog = prog
        self._d = derivation
        self.order: int = derivation.order
        self.layout: str = derivation.layout

    @cached_property
    def expression(self) -> str:
        """f as matd text (the user's definitions kept)."""
        return _expression(self._d) if self._d.results else ""

    @cached_property
    def variables(self) -> dict[str, VariableResult]:
        """Each variable's result, its formulas standalone programs (made when first asked
        for: by many variables they repeat their shared parts, which the renderers do not)."""
        return {o["wrt"]: VariableResult(o["wrt"], o["kind"],
                                         tuple(o["shape"]) if o["shape"] is not None else None,
                                         o["differential"], o["derivative"], o.get("gradient"),
                                         o.get("riemannian"), o.get("note", ""))
                for o in records(self._prog, self._d, View("json", "vec"))}

    @property
    def wrt(self) -> tuple[str, ...]:
        """The variables differentiated by, in order."""
        return tuple(r.wrt for r in self._d.results)

    def __getitem__(self, name: str) -> VariableResult:
        try:
            return self.variables[name]
        except KeyError:
            raise MatdError(f"no result for '{name}'",
                            hint=f"differentiated by: {', '.join(self.variables)}") from None

    def _only(self) -> VariableResult:
        if len(self.variables) != 1:
            raise MatdError(f"differentiated by {len(self.variables)} variables "
                            f"({', '.join(self.variables)}); say which",
                            hint="result['X'].derivative, or result.variables")
        return next(iter(self.variables.values()))

    @property
    def derivative(self) -> str | None:
        return self._only().derivative

    @property
    def differential(self) -> str:
        return self._only().differential

    @property
    def shape(self) -> tuple[str, ...] | None:
        return self._only().shape

    @property
    def kind(self) -> str:
        return self._only().kind

    def lines(self, *, steps: bool = False, vec_jacobian: bool = False) -> list:
        """The text rendering as (line, label length, shape length) rows (for styling)."""
        view = View("text", "vec" if vec_jacobian else None)
        rows = []
        if steps:
            if not self._d.steps:
                raise MatdError("no derivation was recorded", hint="matd.diff(…, steps=True)")
            rows += render_steps(self._d, _names(self._prog, self._d, view))
        return rows + render_text(self._prog, self._d, view, False)

    def text(self, *, steps: bool = False, vec_jacobian: bool = False) -> str:
        """For people: unicode, aligned (``matd diff``'s default format, plain)."""
        return "\n".join(t for t, _, _ in self.lines(steps=steps, vec_jacobian=vec_jacobian))

    def latex(self, *, vec_jacobian: bool = False) -> str:
        """An ``align*`` environment."""
        return render_latex(self._prog, self._d, View("latex", "vec" if vec_jacobian else None))

    def json(self) -> str:
        """The ``--format json`` object: by one variable its result; by several, the
        shared ``definitions`` and the ``results`` (see ``matd.formats.render_json``)."""
        return render_json(self._prog, self._d, View("json"))

    def matd(self, *, vec_jacobian: bool = False) -> str:
        """One matd program that parses back (``--format matd``)."""
        return render_matd(self._prog, self._d, View("matd", "vec" if vec_jacobian else None))

    def numpy_source(self) -> str:
        """Python source of ``matd_f(…)``, returning (value, derivative by each variable)."""
        return render_numpy(self._prog, self._d, View("numpy"))

    def __repr__(self) -> str:
        return f"<DiffResult {self.expression!r} by {', '.join(self.variables)}>"


def _wrt_list(wrt) -> list[str] | None:
    if wrt is None:
        return None
    if isinstance(wrt, str):
        return [wrt]
    if not all(isinstance(w, str) for w in wrt):
        raise MatdError(f"wrt: expected a variable name or a list of names, got {wrt!r}")
    return list(wrt)


def diff_source(source: Source, wrt: str | Sequence[str] | None = None, order: int = 1,
                layout: str = "numerator", steps: bool = False) -> DiffResult:
    """Parse, type and differentiate a program's last expression (errors carry ``source``)."""
    from matd.core.derive import derive
    from matd.grammar.parse import parse_program
    if order not in (1, 2):
        raise MatdError(f"order {order!r}: matd differentiates to order 1 or 2")
    if layout not in LAYOUTS:
        raise MatdError(f"layout {layout!r}: numerator or denominator")
    try:
        prog = parse_program(source.text, source)
        d = derive(prog, _wrt_list(wrt), order, layout, steps)
    except MatdError as e:
        if getattr(e, "source", None) is None and e.span is not None:
            e.source = source
        raise
    return DiffResult(prog, d)
