"""Rewrite rules: named rows (name, what it does, the rewrite, an example).

Each rule looks at one node whose children are already simplified and returns
a rewritten node or None.  Rules rewrite in one direction towards one
canonical form and never undo each other: sums collect like terms and factor
common outer factors, scalars gather in front as a monomial, Kronecker
products merge.  The local algebra every constructor does (zeros, identities,
transposes, flattening) lives in ``matd.core.algebra``.  The tests check every
row numerically on its example (lhs ≡ rhs) and that simplification is
idempotent and terminates.

>>> [r.name for r in RULES][:3]
['scalar-monomial', 'collect-like-terms', 'factor-common-left']
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import matd.core.algebra as A
from matd.core.expr import Node


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str
    ops: tuple[str, ...]          # the ops it looks at
    rewrite: Callable[[Node], Node | None]
    example: str                  # a matd program whose result the rule rewrites


# --- scalars: coefficient × Π baseᵉ -----------------------------------------------------
MAX_FACTORS = 64   # scalar products longer than this are kept as they are (linear work)
_FACTORS: "weakref.WeakKeyDictionary[Node, int]" = weakref.WeakKeyDictionary()


def _factor_count(s: Node) -> int:
    """How many factors flattening the scalar product s would give (memoized, saturating)."""
    got = _FACTORS.get(s)
    if got is None:
        if s.op in ("smul", "matmul", "div") and all(a.is_scalar for a in s.args) or \
                s.op in ("neg", "epow") and s.args[0].is_scalar:
            got = min(sum(_factor_count(a) for a in s.args), MAX_FACTORS + 1)
        else:
            got = 1
        _FACTORS[s] = got
    return got


def _monomial(s: Node, coef: float, exps: dict, k: int = 1):
    """Accumulate scalar s^k into (coef, exps).  A product of more than MAX_FACTORS
    factors is one opaque base: flattening it at every level of a deep chain
    (d exp(exp(…)) is such a product) would take quadratic work."""
    op = s.op
    if _factor_count(s) > MAX_FACTORS:
        exps[s] = exps.get(s, 0) + k
        return coef, exps
    if op == "const":
        c = A.folded(lambda: coef * s.params[0] ** k)
        if c is None:   # the coefficient would overflow (or divide by 0): no rewrite at all
            raise _Unfoldable
        return c, exps
    if op == "neg":
        return _monomial(s.args[0], -coef if k % 2 else coef, exps, k)
    if op in ("smul", "matmul") and all(a.is_scalar for a in s.args):
        for a in s.args:
            coef, exps = _monomial(a, coef, exps, k)
        return coef, exps
    if op == "div":
        coef, exps = _monomial(s.args[0], coef, exps, k)
        return _monomial(s.args[1], coef, exps, -k)
    if op == "epow" and s.args[1].op == "const" and isinstance(s.args[1].params[0], int):
        return _monomial(s.args[0], coef, exps, k * s.args[1].params[0])
    exps[s] = exps.get(s, 0) + k
    return coef, exps


class _Unfoldable(Exception):
    """A monomial whose numbers do not fold to a finite coefficient (1e308 · 10, c / 0)."""


def _split_scale(n: Node):
    """n = coef · Π baseᵉ · core, with core non-scalar (or None for a scalar n).  Where the
    numbers do not fold to a finite coefficient, n is left whole (1 · n): folding them in
    one order or another would only move the numbers around, pass after pass."""
    try:
        return _split(n)
    except _Unfoldable:
        return (1, {n: 1}, None) if n.is_scalar else (1, {}, n)


def _split(n: Node):
    coef, exps = 1, {}
    while True:
        if n.op == "smul" and not n.is_scalar:
            coef, exps = _monomial(n.args[0], coef, exps)
            n = n.args[1]
        elif n.op == "div" and not n.is_scalar:
            coef, exps = _monomial(n.args[1], coef, exps, -1)
            n = n.args[0]
        elif n.op == "neg" and not n.is_scalar:
            coef = -coef
            n = n.args[0]
        else:
            break
    if n.is_scalar:
        coef, exps = _monomial(n, coef, exps)
        return coef, exps, None
    return coef, exps, n


def _power(b: Node, e) -> Node:
    return b if e == 1 else A.epow(b, A.const(e))


def _build_scale(coef, exps: dict, core: Node | None) -> Node:
    num = [_power(b, e) for b, e in exps.items() if e > 0]
    den = [_power(b, -e) for b, e in exps.items() if e < 0]
    if coef == 0:
        return A.zeros(core.shape) if core is not None else A.const(0)
    sign = -1 if coef < 0 else 1
    c = abs(coef)
    s = None
    for f in num:
        s = f if s is None else A.smul(s, f)
    if core is None:
        out = A.smul(A.const(c), s) if s is not None else A.const(c)
    else:
        out = A.smul(A.const(c), A.smul(s, core) if s is not None else core)
    if den:
        d = den[0]
        for f in den[1:]:
            d = A.smul(d, f)
        out = A.div(out, d)
    return A.neg(out) if sign < 0 else out


def scalar_monomial(n: Node) -> Node | None:
    coef, exps, core = _split_scale(n)
    exps = {b: e for b, e in exps.items() if e != 0}
    out = _build_scale(coef, exps, core)
    return out if out is not n else None


# --- sums ------------------------------------------------------------------------------
def _term(t: Node):
    """A term as (numeric coefficient, rest)."""
    coef, exps, core = _split_scale(t)
    if core is None:
        exps = {b: e for b, e in exps.items() if e != 0}
        rest = _build_scale(1, exps, None)
        return coef, rest
    return coef, _build_scale(1, exps, core)


def collect_like_terms(n: Node) -> Node | None:
    coefs: dict[Node, float] = {}
    for t in n.args:
        c, rest = _term(t)
        if rest.op == "const":
            c, rest = c * rest.params[0], A.const(1)
        coefs[rest] = coefs.get(rest, 0) + c
    if len(coefs) == len(n.args) and all(c == 1 for c in coefs.values()) or \
            any(A.folded(float, c) is None for c in coefs.values()):   # no inf coefficients
        return None
    terms = []
    for rest, c in coefs.items():
        if c == 0:
            continue
        if rest.op == "const":
            terms.append(A.lift(c, n) if not n.is_scalar else A.const(c))
        else:
            terms.append(A.smul(A.const(c), rest) if c != -1 else A.neg(rest))
    out = A.add(*terms) if terms else (A.zeros(n.shape) if not n.is_scalar else A.const(0))
    return out if out is not n else None


def _chain(t: Node):
    """A term as (scalar factor, matrix chain list)."""
    coef, exps, core = _split_scale(t)
    if core is None:
        return None
    scale = _build_scale(coef, {b: e for b, e in exps.items() if e}, None)
    return scale, list(core.args) if core.op == "matmul" else [core]


def _factor(n: Node, side: int) -> Node | None:
    parts = [_chain(t) for t in n.args]
    if any(p is None or len(p[1]) < 2 for p in parts):
        return None
    pick = (lambda ch: ch[0]) if side == 0 else (lambda ch: ch[-1])
    common = pick(parts[0][1])
    if any(pick(ch) is not common for _, ch in parts):
        return None
    rests = []
    for s, ch in parts:
        rest = A.matmul(*(ch[1:] if side == 0 else ch[:-1]))
        rests.append(A.smul(s, rest))
    inner = A.add(*rests)
    return A.matmul(common, inner) if side == 0 else A.matmul(inner, common)


def factor_left(n: Node) -> Node | None:
    return _factor(n, 0)


def factor_right(n: Node) -> Node | None:
    return _factor(n, 1)


# --- products ----------------------------------------------------------------------------
def kron_mixed_product(n: Node) -> Node | None:
    f = list(n.args)
    for i in range(len(f) - 1):
        a, b = f[i], f[i + 1]
        if a.op == "kron" and b.op == "kron":
            (P, Q), (R, S) = a.args, b.args
            if P.shape[1] == R.shape[0] and Q.shape[1] == S.shape[0]:
                merged = A.kron(A.matmul(P, R), A.matmul(Q, S))
                return A.matmul(*f[:i], merged, *f[i + 2:])
    return None


def trace_of_scaled(n: Node) -> Node | None:
    coef, exps, core = _split_scale(n.args[0])
    if core is None or core is n.args[0]:
        return None
    scale = _build_scale(coef, {b: e for b, e in exps.items() if e}, None)
    return A.smul(scale, A.tr(core))


def inverse_of_transpose(n: Node) -> Node | None:
    x = n.args[0]
    if x.op == "transpose":
        return A.transpose(A.inv(x.args[0]))
    return None


def hadamard_broadcast_scalar(n: Node) -> Node | None:
    for i, a in enumerate(n.args):
        if a.op == "broadcast" and a.args[0].is_scalar:
            return A.smul(a.args[0], n.args[1 - i])
    return None


def diag_times_vector(n: Node) -> Node | None:
    """diag(a) b = a ∘ b for vectors a, b (a matrix-vector product made elementwise)."""
    f = list(n.args)
    for i in range(len(f) - 1):
        d, b = f[i], f[i + 1]
        if d.op == "diag" and d.args[0].shape[1].is_one and b.shape[1].is_one and \
                i + 2 == len(f):
            return A.matmul(*f[:i], A.hadamard(d.args[0], b))
    return None


RULES = [
    Rule("scalar-monomial", "c·Π bᵉ·X: numbers multiply, powers of a scalar add (x/x = 1)",
         ("smul", "div", "neg", "epow", "matmul"), scalar_monomial,
         "X: m x n; c: scalar; 2 (c X) / (4 c)"),
    Rule("collect-like-terms", "a X + b X = (a + b) X", ("add",), collect_like_terms,
         "X: m x n; X + 2 X - 0.5 X"),
    Rule("factor-common-left", "A B + A C = A (B + C)", ("add",), factor_left,
         "A: m x n; B, C: n x p; A B - 2 A C"),
    Rule("factor-common-right", "B A + C A = (B + C) A", ("add",), factor_right,
         "A: n x p; B, C: m x n; B A + C A"),
    Rule("kron-mixed-product", "(A ⊗ B)(C ⊗ D) = (A C) ⊗ (B D)", ("matmul",),
         kron_mixed_product, "A: m x n; B: p x q; C: n x r; D: q x s; kron(A, B) kron(C, D)"),
    Rule("trace-of-scaled", "tr(c X) = c tr(X)", ("tr",), trace_of_scaled,
         "X: n x n; c: scalar; tr(c X)"),
    Rule("inverse-of-transpose", "(Xᵀ)⁻¹ = (X⁻¹)ᵀ, printed X⁻ᵀ", ("inv",),
         inverse_of_transpose, "X: n x n; inv(X^T)"),
    Rule("hadamard-broadcast-scalar", "c ∘ X = c X for a scalar c", ("hadamard",),
         hadamard_broadcast_scalar, "X: m x n; c: scalar; X .* (c + zeros(m, n))"),
    Rule("diag-times-vector", "diag(a) b = a ∘ b", ("matmul",), diag_times_vector,
         "a, b: n; diag(a) b"),
]

BY_OP: dict[str, list[Rule]] = {}
for _r in RULES:
    for _op in _r.ops:
        BY_OP.setdefault(_op, []).append(_r)
