"""Symbolic dimensions, shapes and unification.

A dimension is a monomial: an integer coefficient times a sorted product of
symbols (declared dims such as ``m``) and, during inference, unknowns
(``DimVar``).  That is the arithmetic ``vec`` and ``kron`` need
(``vec(X)`` of an m×n X has m·n rows).  A shape is a pair (rows, cols);
vectors are columns (n×1) and a scalar is 1×1.

>>> m, n = Dim.sym("m"), Dim.sym("n")
>>> str(m * n), str(Dim.const(3) * m), str(Dim.const(1))
('m·n', '3·m', '1')
>>> u = Unifier(); v = u.fresh()
>>> u.unify(Dim(1, (v,)), m * n); str(u.resolve(Dim(1, (v,))))
'm·n'
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

SCALAR_PREF = "scalar"
VECTOR_PREF = "vector"
MATRIX_PREF = "matrix"


class DimVar:
    """An unknown dimension during inference (union-find node).

    ``nonunit`` records a commitment that the dim is not 1 (so that a product
    or sum whose meaning depends on it is decided); ``pref`` is the value the
    naming rule would give it if inference leaves it open (1 or None).
    """

    __slots__ = ("id", "ref", "nonunit", "pref", "hint")
    _ids = itertools.count()

    def __init__(self, pref: int | None = None, hint: str = ""):
        self.id = next(DimVar._ids)
        self.ref: Dim | None = None
        self.nonunit = False
        self.pref = pref
        self.hint = hint

    def __repr__(self) -> str:
        return f"?{self.id}"


def _key(f):
    return (1, f.id, "") if isinstance(f, DimVar) else (0, 0, f)


class Dim(NamedTuple):
    """coef · f1 · f2 · …  (factors sorted; symbols are str, unknowns DimVar)."""

    coef: int
    factors: tuple = ()

    @staticmethod
    def const(n: int) -> "Dim":
        return Dim(int(n), ())

    @staticmethod
    def sym(name: str) -> "Dim":
        return Dim(1, (name,))

    def __mul__(self, other: "Dim") -> "Dim":
        return Dim(self.coef * other.coef, tuple(sorted(self.factors + other.factors, key=_key)))

    def divide(self, other: "Dim") -> "Dim | None":
        """self / other when that is a whole monomial, else None."""
        if other.coef == 0 or self.coef % other.coef:
            return None
        rest = list(self.factors)
        for f in other.factors:
            if f not in rest:
                return None
            rest.remove(f)
        return Dim(self.coef // other.coef, tuple(rest))

    @property
    def is_const(self) -> bool:
        return not self.factors

    @property
    def is_one(self) -> bool:
        return self.coef == 1 and not self.factors

    def __str__(self) -> str:
        parts = [str(f) if isinstance(f, str) else repr(f) for f in self.factors]
        if self.coef != 1 or not parts:
            parts.insert(0, str(self.coef))
        return "·".join(parts)

    def matd(self) -> str:
        """The dim in matd source: ``m``, ``3``, or ``(m*n)`` is not allowed, so products
        print as ``m*n`` only inside shapes of messages."""
        return str(self).replace("·", "*")


ONE = Dim.const(1)
SCALAR = (ONE, ONE)


def shape_str(shape) -> str:
    """Human text of a shape: ``scalar``, ``n`` (a vector) or ``m×n``."""
    r, c = shape
    if r.is_one and c.is_one:
        return "scalar"
    if c.is_one:
        return f"{r} (a vector)"
    return f"{r}×{c}"


def shape_short(shape) -> str:
    """Compact shape text as the printers show it: ``m×n``, ``n`` or ``scalar``."""
    r, c = shape
    if r.is_one and c.is_one:
        return "scalar"
    if c.is_one:
        return str(r)
    rs, cs = (f"({d})" if len(d.factors) + (d.coef != 1) > 1 else str(d) for d in (r, c))
    return f"{rs}×{cs}"


class Clash(Exception):
    """Two dims cannot be equal.  Carries them for the message."""

    def __init__(self, a: Dim, b: Dim):
        super().__init__(f"{a} ≠ {b}")
        self.a, self.b = a, b


class Unifier:
    """Union-find over DimVars with monomial dims.

    ``unify`` binds unknowns so that two dims are equal, or raises ``Clash``.
    Products cancel common factors first, so ``m·?1 = m·n`` binds ?1 := n.
    """

    def __init__(self):
        self.vars: list[DimVar] = []

    def fresh(self, pref: int | None = None, hint: str = "") -> DimVar:
        v = DimVar(pref, hint)
        self.vars.append(v)
        return v

    def fresh_dim(self, pref: int | None = None, hint: str = "") -> Dim:
        return Dim(1, (self.fresh(pref, hint),))

    # -- resolution -------------------------------------------------------
    def resolve(self, d: Dim) -> Dim:
        if not any(isinstance(f, DimVar) for f in d.factors):
            return d
        out = Dim(d.coef, ())
        for f in d.factors:
            if isinstance(f, DimVar) and f.ref is not None:
                r = self.resolve(f.ref)
                f.ref = r  # path compression
                out = out * r
            else:
                out = out * Dim(1, (f,))
        return out

    def resolve_shape(self, s):
        return (self.resolve(s[0]), self.resolve(s[1]))

    # -- predicates ---------------------------------------------------------
    def is_one(self, d: Dim) -> bool:
        return self.resolve(d).is_one

    def is_nonunit(self, d: Dim) -> bool:
        """Known not to be 1: a symbol, a constant ≠ 1, or a committed unknown."""
        d = self.resolve(d)
        if d.coef != 1:
            return True
        return any(isinstance(f, str) or f.nonunit for f in d.factors)

    def is_known(self, d: Dim) -> bool:
        return self.is_one(d) or self.is_nonunit(d)

    def free_vars(self, d: Dim) -> list[DimVar]:
        return [f for f in self.resolve(d).factors if isinstance(f, DimVar)]

    # -- the naming rule, applied where inference leaves a kind open ----------
    def settle(self, *dims: Dim) -> None:
        """Commit unknowns: those that prefer 1 become 1, the rest ≠ 1."""
        for d in dims:
            for v in self.free_vars(d):
                if v.ref is not None or v.nonunit:
                    continue
                if v.pref == 1:
                    v.ref = ONE
                else:
                    v.nonunit = True

    # -- unification ----------------------------------------------------------
    def unify(self, a: Dim, b: Dim) -> None:
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return
        fa, fb = list(a.factors), list(b.factors)
        for f in list(fa):  # cancel common factors
            if f in fb:
                fa.remove(f)
                fb.remove(f)
        ca, cb = a.coef, b.coef
        va = [f for f in fa if isinstance(f, DimVar)]
        vb = [f for f in fb if isinstance(f, DimVar)]
        if len(va) == 1 and len(fa) == 1 and self._bind(va[0], cb, fb, ca):
            return
        if len(vb) == 1 and len(fb) == 1 and self._bind(vb[0], ca, fa, cb):
            return
        if not fa and not fb and ca == cb:
            return
        # Unknowns that must be 1 for the equation to hold (x·m = m).
        if not fb and cb == ca and all(isinstance(f, DimVar) and not f.nonunit for f in fa):
            for f in fa:
                f.ref = ONE
            return
        if not fa and ca == cb and all(isinstance(f, DimVar) and not f.nonunit for f in fb):
            for f in fb:
                f.ref = ONE
            return
        raise Clash(a, b)

    def _bind(self, v: DimVar, coef: int, factors: list, div: int) -> bool:
        """Bind v := coef·factors / div when that is a whole monomial."""
        if coef % div:
            return False
        target = Dim(coef // div, tuple(sorted(factors, key=_key)))
        if v in factors:
            return False
        if target.is_one and v.nonunit:
            return False
        if target.coef == 0:
            return False
        for f in factors:  # a committed unknown passes its commitment on
            if isinstance(f, DimVar) and v.nonunit and len(factors) == 1 and target.coef == 1:
                f.nonunit = True
            if isinstance(f, DimVar) and f.pref is None and v.pref is not None \
                    and len(factors) == 1:
                f.pref = v.pref
        v.ref = target
        return True

    def unify_shape(self, s, t) -> None:
        self.unify(s[0], t[0])
        self.unify(s[1], t[1])

    # -- naming what is left open ---------------------------------------------
    def name_free(self, dims, taken: set[str]) -> dict[DimVar, str]:
        """Name the unknowns left open, in order of appearance in ``dims`` (a, b, c, …)."""
        names = (c for c in itertools.chain(
            "abcdefghijklmnopqrstuvwxyz",
            (f"d{i}" for i in itertools.count(1))) if c not in taken)
        out: dict[DimVar, str] = {}
        for d in dims:
            for v in self.free_vars(d):
                if v.ref is None:
                    nm = next(names)
                    v.ref = Dim.sym(nm)
                    out[v] = nm
        return out
