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
    if core is None:   # c a b, left to right (printed without parentheses)
        out = A.const(c)
        for f in num:
            out = A.smul(out, f)
    else:   # (c s) X, printed c s X: the scalars gather in front, as a paper writes them
        out = A.smul(A.smul(A.const(c), s) if s is not None else A.const(c), core)
    if den:
        d = den[0]
        for f in den[1:]:
            d = A.smul(d, f)
        out = A.div(out, d)
    return A.neg(out) if sign < 0 else out


def scalar_monomial(n: Node) -> Node | None:
    if not n.is_scalar and n.op not in ("smul", "div", "neg"):
        return None   # a matrix product or power: no scalar to gather
    coef, exps, core = _split_scale(n)
    exps = {b: e for b, e in exps.items() if e != 0}
    out = _build_scale(coef, exps, core)
    return out if out is not n else None


# --- sums ------------------------------------------------------------------------------
def _term(t: Node):
    """A term as (numeric coefficient, rest)."""
    if not t.is_scalar:   # the common cases, asked of every term of every sum
        if t.op not in ("smul", "div", "neg"):
            return 1, t                                  # no scale to split off
        if t.op == "smul" and t.args[0].op == "const" and \
                t.args[1].op not in ("smul", "div", "neg"):
            return t.args[0].params[0], t.args[1]        # c X
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
            t = A.smul(A.const(c), rest) if c != -1 else A.neg(rest)
            terms.append(scalar_monomial(t) or t)   # 2 (c X) is (2 c) X
    out = A.add(*terms) if terms else (A.zeros(n.shape) if not n.is_scalar else A.const(0))
    return out if out is not n else None


def _chain(t: Node):
    """A term as (coefficient, scalar powers, matrix chain list), or None for a scalar."""
    coef, exps, core = _split_scale(t)
    if core is None:
        return None
    return coef, exps, list(core.args) if core.op == "matmul" else [core]


def _factor(n: Node, side: int) -> Node | None:
    parts, common = [], None
    for t in n.args:    # stops at the first term that does not share the factor
        p = _chain(t)
        if p is None or len(p[2]) < 2:
            return None
        end = p[2][0] if side == 0 else p[2][-1]
        if common is None:
            common = end
        elif end is not common:
            return None
        parts.append(p)
    rests = []
    for coef, exps, ch in parts:
        scale = _build_scale(coef, {b: e for b, e in exps.items() if e}, None)
        rest = A.matmul(*(ch[1:] if side == 0 else ch[:-1]))
        rests.append(A.smul(scale, rest))
    inner = A.add(*rests)
    return A.matmul(common, inner) if side == 0 else A.matmul(inner, common)


def factor_left(n: Node) -> Node | None:
    return _factor(n, 0)


def factor_right(n: Node) -> Node | None:
    return _factor(n, 1)


# --- products ----------------------------------------------------------------------------
_OPS: "weakref.WeakKeyDictionary[Node, frozenset]" = weakref.WeakKeyDictionary()


def _factor_ops(n: Node) -> frozenset:
    """The ops of a product's factors (a transpose as "T" and its argument's op), memoized:
    most product rules look for one kind of factor, and skip a product without one."""
    got = _OPS.get(n)
    if got is None:
        got = _OPS[n] = frozenset(f.op if f.op != "transpose" else "T" + f.args[0].op
                                  for f in n.args)
    return got


def kron_mixed_product(n: Node) -> Node | None:
    if "kron" not in _factor_ops(n):
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        a, b = f[i], f[i + 1]
        if a.op == "kron" and b.op == "kron":
            (P, Q), (R, S) = a.args, b.args
            if P.shape[1] == R.shape[0] and Q.shape[1] == S.shape[0]:
                merged = A.kron(A.matmul(P, R), A.matmul(Q, S))
                return A.matmul(*f[:i], merged, *f[i + 2:])
    return None


LINEAR_UNARY = ("tr", "diag", "vec", "sum", "sum_axis", "mean", "mean_axis", "tril", "triu")


def linear_of_scaled(n: Node) -> Node | None:
    """f(c X) = c f(X) for a linear function f of one argument (tr, diag, sum, tril, …)."""
    coef, exps, core = _split_scale(n.args[0])
    if core is None or core is n.args[0]:
        return None
    scale = _build_scale(coef, {b: e for b, e in exps.items() if e}, None)
    return A.smul(scale, A.fn(n.op, core, params=n.params))


def inverse_of_transpose(n: Node) -> Node | None:
    x = n.args[0]
    if x.op == "transpose":
        return A.transpose(A.inv(x.args[0]))
    return None


def diag_times_vector(n: Node) -> Node | None:
    """diag(a) b = a ∘ b for vectors a, b (a matrix-vector product made elementwise)."""
    if "diag" not in _factor_ops(n):
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        d, b = f[i], f[i + 1]
        if d.op == "diag" and d.args[0].shape[1].is_one and b.shape[1].is_one and \
                i + 2 == len(f):
            return A.matmul(*f[:i], A.hadamard(d.args[0], b))
    return None


def diag_product(n: Node) -> Node | None:
    """diag(a) diag(b) = diag(a ∘ b) for vectors a, b: one pass merges every run of
    diagonal factors (a Hessian through k nested entrywise functions has a run of k).  A
    run of more than _REASSOCIATE vectors is one ∘ chain in ``_rank`` order: the k terms of
    such a Hessian then share their chains, which in the order they came are k different
    permutations of the same factors (k² nodes)."""
    if "diag" not in _factor_ops(n):
        return None
    out: list = []          # factors, a run of diagonals as the list of its vectors
    for x in n.args:
        if _vector_diag(x) and out and isinstance(out[-1], list):
            out[-1].append(x.args[0])
        else:
            out.append([x.args[0]] if _vector_diag(x) else x)
    if len(out) == len(n.args):
        return None
    return A.matmul(*(A.fn("diag", _entrywise_chain(x)) if isinstance(x, list) else x
                      for x in out))


def _entrywise_chain(vectors: list) -> Node:
    """v₁ ∘ v₂ ∘ ⋯, in ``_rank`` order of the factors when there are many."""
    if len(vectors) > A._REASSOCIATE:
        vectors = sorted((f for v in vectors for f in _hadamard_factors(v)), key=_rank)
    out = vectors[0]
    for v in vectors[1:]:
        out = A.hadamard(out, v)
    return out


def _hadamard_factors(v: Node) -> list:
    out, stack = [], [v]
    while stack:
        x = stack.pop()
        if x.op == "hadamard":
            stack += x.args[::-1]
        else:
            out.append(x)
    return out


def _vector_diag(x: Node) -> bool:
    """x is diag(v) of a column vector v (with more than one entry: a square diagonal)."""
    return x.op == "diag" and x.args[0].shape[1].is_one and not x.args[0].shape[0].is_one


def _power_of(x: Node):
    """(base, k) with x = base^k, k a nonzero integer: X^k, X⁻¹ (k = -1), (X^k)⁻¹, X⁻ᵀ
    (the base Xᵀ), and any other square factor (k = 1)."""
    if x.op == "mpow":
        b, k = _power_of(x.args[0])
        return b, k * x.params[0]
    if x.op == "inv":
        b, k = _power_of(x.args[0])
        return b, -k
    if x.op == "transpose" and x.args[0].op in ("inv", "mpow"):
        b, k = _power_of(x.args[0])
        return A.transpose(b), k
    return x, 1


def _signed_power(b: Node, k: int) -> Node:
    return A.mpow(b, k) if k > 0 else A.inv(A.mpow(b, -k))


def _is_chol_pair(a: Node, b: Node) -> Node | None:
    """S for chol(S) chol(S)ᵀ, and S⁻¹ for chol(S)⁻ᵀ chol(S)⁻¹."""
    (ba, ka), (bb, kb) = _power_of(a), _power_of(b)
    if ka == kb == 1 and ba.op == "chol" and bb.op == "transpose" and bb.args[0] is ba:
        return ba.args[0]
    if ka == kb == -1 and bb.op == "chol" and ba.op == "transpose" and ba.args[0] is bb:
        return A.inv(bb.args[0])
    return None


def power_merge(n: Node) -> Node | None:
    """X X = X², X^a X^b = X^(a+b), X X⁻¹ = I, Xᵀ X⁻ᵀ = I (square factors of a product),
    and L Lᵀ = S, L⁻ᵀ L⁻¹ = S⁻¹ for L = chol(S).  One pass merges every run (X X X = X³,
    Y X X⁻¹ Y⁻¹ = I): pair by pair, a long product would be rebuilt once per pair."""
    out: list[tuple[Node, Node, int]] = []   # (factor, base, power)
    for x in n.args:
        b2, k2 = _power_of(x)
        if out:
            y, b1, k1 = out[-1]
            if b1 is b2 and not b1.is_scalar and b1.shape[0] == b1.shape[1] and \
                    abs(k1 + k2) <= 64:   # an inverse present means X is invertible
                out.pop()
                if k1 + k2:
                    p = _signed_power(b1, k1 + k2)
                    out.append((p, *_power_of(p)))
                continue
            S = _is_chol_pair(y, x) if {b1.op, b2.op} == {"chol", "transpose"} else None
            if S is not None:
                out[-1] = (S, *_power_of(S))
                continue
        out.append((x, b2, k2))
    if len(out) == len(n.args):   # every merge shortens the product
        return None
    return A.matmul(*(f for f, _, _ in out)) if out else A.eye(n.shape[0])


def _selection(x: Node):
    """k when x is the n²×n selection S = (I ⊗ 1) ∘ (1 ⊗ I) of the diagonal (column j is
    eⱼ ⊗ eⱼ: vec(diag(v)) = S v, diag(X) = Sᵀ vec X), else None."""
    if x.op != "hadamard" or len(x.args) != 2:
        return None
    a, b = x.args
    if a.op == "kron" and b.op == "kron":
        (i1, o1), (o2, i2) = a.args, b.args
        if i1.op == "eye" and i2.op == "eye" and i1 is i2 and o1.op == o2.op == "ones" and \
                o1 is o2 and o1.shape[0] == i1.shape[0] and \
                o1.shape[1].is_one:
            return i1.shape[0]
    return None


def diagonal_selection(n: Node) -> Node | None:
    """Products with the selection S of the diagonal, in plain matrix form: (rᵀ ⊗ L) S =
    L diag(r), Sᵀ (a ⊗ B) = diag(a) B, Sᵀ (R ⊗ L) S = R ∘ L, Sᵀ S = I (Magnus & Neudecker,
    Ch. 3: the column-wise Kronecker product)."""
    if not _factor_ops(n) & {"hadamard", "Thadamard"}:   # S or Sᵀ is a factor
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        a, b = f[i], f[i + 1]
        left = a.args[0] if a.op == "transpose" else None
        if left is not None and _selection(left) is not None:
            if _selection(b) is not None:                          # Sᵀ S = I
                return A.matmul(*f[:i], A.eye(b.shape[1]), *f[i + 2:])
            if b.op == "kron" and i + 2 < len(f) and _selection(f[i + 2]) is not None:
                P, Q = b.args                                      # Sᵀ (P ⊗ Q) S = P ∘ Q
                if P.shape == Q.shape and P.shape[0] == P.shape[1]:
                    return A.matmul(*f[:i], A.hadamard(P, Q), *f[i + 3:])
            if b.op == "kron":                                     # Sᵀ (a ⊗ B) = diag(a) B
                P, Q = b.args
                for vec, M in ((P, Q), (Q, P)):
                    if vec.shape[1].is_one and not vec.is_scalar and \
                            M.shape[0] == vec.shape[0]:
                        return A.matmul(*f[:i], A.fn("diag", vec), M, *f[i + 2:])
        if a.op == "kron" and _selection(b) is not None:           # (rᵀ ⊗ L) S = L diag(r)
            P, Q = a.args
            for row, M in ((P, Q), (Q, P)):
                if row.shape[0].is_one and not row.is_scalar and M.shape[1] == row.shape[1]:
                    return A.matmul(*f[:i], M, A.fn("diag", A.transpose(row)), *f[i + 2:])
    return None


def _simplex(x: Node) -> bool:
    return x.op == "var" and "simplex" in x.params[1]


def simplex_sums(n: Node) -> Node | None:
    """Y 1 = 1 for a matrix Y whose rows sum to 1, 1ᵀ y = 1 for a vector y on the simplex
    (and Yᵀ, 1ᵀ Yᵀ alike): the row sums of probabilities and one-hot labels."""
    if "ones" not in _factor_ops(n):
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        a, b = f[i], f[i + 1]
        if _simplex(a) and not a.shape[1].is_one and b.op == "ones":
            return A.matmul(*f[:i], A.ones((a.shape[0], b.shape[1])), *f[i + 2:])
        if a.op == "ones" and b.op == "transpose" and _simplex(b.args[0]) and \
                not b.shape[0].is_one:
            return A.matmul(*f[:i], A.ones((a.shape[0], b.shape[1])), *f[i + 2:])
        if a.op == "ones" and _simplex(b) and b.shape[1].is_one:
            return A.matmul(*f[:i], A.ones((a.shape[0], b.shape[1])), *f[i + 2:])
    return None


def simplex_sum(n: Node) -> Node | None:
    """sum(y) = 1 for y on the simplex; sum(Y, 2) = 1 and sum(Y) = m for rows that are."""
    x = n.args[0]
    if not _simplex(x):
        return None
    if n.op == "sum":
        return A.const(1) if x.shape[1].is_one else A.fn("tr", A.eye(x.shape[0]))
    if n.params[0] == 2 and not x.shape[1].is_one or n.params[0] == 1 and x.shape[1].is_one:
        return A.ones(n.shape)
    return None


def triangle_of_diagonal(n: Node) -> Node | None:
    """tril/triu of a diagonal matrix (I, diag(v)): itself on the main diagonal, 0 off it."""
    x, k = n.args[0], n.params[0]
    if x.op == "eye" or x.op == "diag" and x.args[0].shape[1].is_one and not x.is_scalar:
        keeps = k >= 0 if n.op == "tril" else k <= 0
        return x if keeps else A.zeros(x.shape)
    return None


def _entrywise_factors(n: Node, num: list, den: list) -> None:
    """The factors of an elementwise product/quotient tree: numerators and denominators."""
    if n.op == "hadamard":
        for a in n.args:
            _entrywise_factors(a, num, den)
    elif n.op == "hdiv":
        _entrywise_factors(n.args[0], num, den)
        _entrywise_factors(n.args[1], den, num)
    elif not (n.op == "ones" or n.op == "broadcast" and A.is_one(n.args[0])):
        num.append(n)


# --- elementwise polynomials --------------------------------------------------------------
MAX_MONOMIALS, MAX_EXPAND_DEPTH = 12, 6


class _TooBig(Exception):
    pass


def _denominators(n: Node, out: set, depth: int = 0, seen: dict | None = None) -> None:
    """The sums that divide entrywise somewhere in n (kept whole when expanding).  ``seen``:
    the least depth each node was looked at from (a DAG is walked once per depth, not once
    per path)."""
    if depth > MAX_EXPAND_DEPTH or n.is_scalar:
        return
    seen = {} if seen is None else seen
    if seen.get(n, MAX_EXPAND_DEPTH + 1) <= depth:
        return
    seen[n] = depth
    if n.op == "hdiv" and n.args[1].op == "add":
        out.add(n.args[1])
    if n.op in ("add", "neg", "hadamard", "hdiv", "smul", "div", "epow"):
        for a in n.args:
            _denominators(a, out, depth + 1, seen)


_CANCELLED = [0]


def _mono_mul(p, q):
    out = []
    for c1, f1 in p:
        for c2, f2 in q:
            f = dict(f1)
            for k, e in f2.items():
                f[k] = f.get(k, 0) + e
                if f[k] == 0 or abs(f[k]) < abs(f[k] - e):
                    _CANCELLED[0] += 1       # x ⊘ x, or x² ⊘ x
            out.append((c1 * c2, {k: e for k, e in f.items() if e}))
    if len(out) > MAX_MONOMIALS:
        raise _TooBig
    return out


def _expand(n: Node, keep: set, depth: int):
    """n (non-scalar, elementwise) as Σ c · Π factorᵉ: a list of (c, {factor: e})."""
    op = n.op
    atom = [(1.0, {n: 1})]
    if depth > MAX_EXPAND_DEPTH or n in keep:
        return atom
    if op == "ones":
        return [(1.0, {})]
    if op == "broadcast" and n.args[0].is_scalar:
        x = n.args[0]
        return [(float(x.params[0]), {})] if x.op == "const" else [(1.0, {x: 1})]
    if op == "add":
        out = [m for a in n.args for m in _expand(a, keep, depth + 1)]
        if len(out) > MAX_MONOMIALS:
            raise _TooBig
        return out
    if op == "neg":
        return [(-c, f) for c, f in _expand(n.args[0], keep, depth + 1)]
    if op == "smul":
        c, x = n.args
        try:
            coef, exps, _ = _split(c)
        except _Unfoldable:
            coef, exps = 1.0, {c: 1}
        return _mono_mul([(coef, dict(exps))], _expand(x, keep, depth + 1))
    if op == "div":                      # X / (c Π bᵉ): a monomial of scalar factors
        try:
            coef, exps, _ = _split(n.args[1])
        except _Unfoldable:
            return atom
        if coef == 0:
            return atom
        inv = [(1.0 / coef, {b: -e for b, e in exps.items()})]
        return _mono_mul(_expand(n.args[0], keep, depth + 1), inv)
    if op == "hadamard":
        out = [(1.0, {})]
        for a in n.args:
            out = _mono_mul(out, _expand(a, keep, depth + 1))
        return out
    if op == "hdiv":
        den = _expand(n.args[1], keep, depth + 1)
        if len(den) != 1 or den[0][0] == 0:
            den = [(1.0, {n.args[1]: 1})]
        (c, f), = den
        inv = [(1.0 / c, {k: -e for k, e in f.items()})]
        return _mono_mul(_expand(n.args[0], keep, depth + 1), inv)
    if op == "epow" and n.args[1].op == "const" and n.args[1].params[0] in (2, 3):
        base = _expand(n.args[0], keep, depth + 1)
        out = base
        for _ in range(n.args[1].params[0] - 1):
            out = _mono_mul(out, base)
        return out
    return atom


def _tree_size(n: Node, budget: list) -> int:
    budget[0] -= 1
    if budget[0] < 0:
        return 10 ** 6
    return 1 + sum(_tree_size(a, budget) for a in n.args)


def _rebuild_monomial(c: float, f: dict, shape) -> Node:
    scal = {k: e for k, e in f.items() if k.is_scalar}
    mat = {k: e for k, e in f.items() if not k.is_scalar}
    num = [k if e == 1 else A.epow(k, A.const(e)) for k, e in mat.items() if e > 0]
    den = [k if e == -1 else A.epow(k, A.const(-e)) for k, e in mat.items() if e < 0]
    top = None
    for x in num:
        top = x if top is None else A.hadamard(top, x)
    if den:
        bottom = den[0]
        for x in den[1:]:
            bottom = A.hadamard(bottom, x)
        top = A.hdiv(top if top is not None else A.ones(shape), bottom)
    scale = _build_scale(c, scal, None)
    if top is None:
        return A.broadcast(scale, shape)
    return A.smul(scale, top)


_RANKS: "weakref.WeakKeyDictionary[Node, tuple]" = weakref.WeakKeyDictionary()


def _rank(n: Node) -> tuple:
    """(depth, size) of n's tree (saturating), memoized: the order of the factors of a long
    ∘ chain (``diag_product``)."""
    stack = [n]            # children first, without recursion (nestings may be deep)
    while stack:
        m = stack[-1]
        if m in _RANKS:
            stack.pop()
            continue
        todo = [a for a in m.args if a not in _RANKS]
        if todo:
            stack += todo
            continue
        ranks = [_RANKS[a] for a in m.args]
        _RANKS[m] = (1 + max((r[0] for r in ranks), default=0),
                     min(1 + sum(r[1] for r in ranks), 10 ** 9))
        stack.pop()
    return _RANKS[n]


def _softmax_parts(f: dict):
    """(z, s) for each exp(z) (a vector z) whose sum(exp(z)) divides the monomial f."""
    for e, k in f.items():
        if e.op == "exp" and k == 1 and e.shape[1].is_one and not e.is_scalar:
            s = A.fn("sum", e)
            if f.get(s, 0) < 0:
                yield e, s


def _known_functions(f: dict) -> dict:
    """A monomial with the functions it spells recognized: exp(z) / sum(exp(z)) is
    softmax(z), and exp(z)ᵀ c / sum(exp(z)) is softmax(z)ᵀ c."""
    for e, s in list(_softmax_parts(f)):
        if f.get(s, 0) >= 0 or f.get(e, 0) != 1:
            continue
        f = dict(f)
        f.pop(e)
        f[s] += 1
        sm = A.fn("softmax", e.args[0])
        f[sm] = f.get(sm, 0) + 1
        _CANCELLED[0] += 1
        for m in [m for m, k in f.items() if k == 1 and m.op == "matmul" and m.is_scalar and
                  m.args[0].op == "transpose" and m.args[0].args[0] is e]:
            if f.get(s, 0) < 0:
                f.pop(m)
                f[s] += 1
                sc = A.matmul(A.transpose(sm), *m.args[1:])
                f[sc] = f.get(sc, 0) + 1
        f = {k: v for k, v in f.items() if v}
    return f


def entrywise_polynomial(n: Node) -> Node | None:
    """Sums and products of entrywise terms expanded, cancelled and collected, where that
    gives a shorter formula: ((1 − y) ⊘ (1 − s) − y ⊘ s) ∘ s ∘ (1 − s) = s − y."""
    if n.is_scalar or n.op == "add" and len(n.args) > MAX_MONOMIALS:
        return None   # each term gives a monomial at least: too many to expand
    keep: set = set()
    _denominators(n, keep)
    _CANCELLED[0] = 0
    try:
        monos = _expand(n, keep, 0)
    except _TooBig:
        return None
    monos = [(c, _known_functions(f)) for c, f in monos]
    coefs: dict = {}   # the monomial's factors (as first met: a frozenset's order is an
    for c, f in monos:  # accident of memory addresses) and its summed coefficient
        key = frozenset(f.items())
        first, total = coefs.get(key, (f, 0.0))
        coefs[key] = (first, total + c)
    kept = [(f, c) for f, c in coefs.values() if c != 0]
    if len(kept) == len(monos) and not _CANCELLED[0]:
        return None              # nothing cancels or collects: keep the factored form
    terms = [_rebuild_monomial(c, f, n.shape) for f, c in kept]
    out = A.add(*terms) if terms else A.zeros(n.shape)
    if out is n:
        return None
    old = _tree_size(n, [400])
    new = _tree_size(out, [400])
    return out if new < old else None


_QUOTIENT: "weakref.WeakKeyDictionary[Node, bool]" = weakref.WeakKeyDictionary()


def _has_quotient(n: Node) -> bool:
    """Whether an entrywise product has a quotient among its factors (memoized: each
    factor of a long product would otherwise walk all the factors before it)."""
    if n.op == "hdiv":
        return True
    if n.op != "hadamard":
        return False
    got = _QUOTIENT.get(n)
    if got is None:
        got = _QUOTIENT[n] = any(_has_quotient(a) for a in n.args)
    return got


def entrywise_cancel(n: Node) -> Node | None:
    """x ∘ (1 ⊘ x) = 1 and (a ⊘ x) ∘ x = a: a factor over itself cancels (entrywise)."""
    if not _has_quotient(n):
        return None
    num, den = [], []
    _entrywise_factors(n, num, den)
    common = [x for x in num if x in den]
    if not common:
        return None
    for x in common:
        if x in num and x in den:
            num.remove(x)
            den.remove(x)
    top = num[0] if num else A.ones(n.shape)
    for x in num[1:]:
        top = A.hadamard(top, x)
    if not den:
        return top
    bottom = den[0]
    for x in den[1:]:
        bottom = A.hadamard(bottom, x)
    return A.hdiv(top, bottom)


def _diag_vec(x: Node) -> Node | None:
    return x.args[0] if x.op == "diag" and x.args[0].shape[1].is_one and \
        not x.is_scalar else None


def diag_and_ones_products(n: Node) -> Node | None:
    """diag(a) diag(b) = diag(a ∘ b), 1ᵀ diag(v) = vᵀ, diag(v) 1 = v, and a product of ones
    folded: ones(p, n) ones(n, q) = n ones(p, q)."""
    if not _factor_ops(n) & {"diag", "ones"}:
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        a, b = f[i], f[i + 1]
        va, vb = _diag_vec(a), _diag_vec(b)
        if va is not None and vb is not None:
            out = A.fn("diag", A.hadamard(va, vb))
        elif a.op == "ones" and vb is not None:
            out = A.matmul(A.ones((a.shape[0], vb.shape[1])), A.transpose(vb))
        elif va is not None and b.op == "ones":
            out = A.matmul(va, A.ones((va.shape[1], b.shape[1])))
        elif a.op == "ones" and b.op == "ones":
            from matd.core.primitives import _dim_node
            out = A.smul(_dim_node(a.shape[1]), A.ones((a.shape[0], b.shape[1])))
        else:
            continue
        return A.matmul(*f[:i], out, *f[i + 2:])
    return None


def symmetric_pair_order(n: Node) -> Node | None:
    """A + Aᵀ, not Aᵀ + A: in a sum, a transpose comes right after the term it transposes."""
    terms = list(n.args)
    present = set(terms)
    of: dict[Node, list[Node]] = {}   # term -> its transposes in the sum, in order
    for u in terms:
        if u.op == "transpose" and u.args[0] in present:
            of.setdefault(u.args[0], []).append(u)
    if not of:
        return None
    order = []
    for t in terms:
        if t.op == "transpose" and t.args[0] in present:
            continue
        order.append(t)
        order.extend(of.get(t, ()))
    if len(order) != len(terms) or all(a is b for a, b in zip(order, terms)):
        return None
    return A.add(*order)


def common_scalar_factor(n: Node) -> Node | None:
    """c A + c B = c (A + B): a scalar factor every term of a sum shares comes out."""
    if n.is_scalar or len(n.args) < 2:
        return None
    parts = [_split_scale(t) for t in n.args]
    common = [b for b in parts[0][1] if all(p[1].get(b, 0) > 0 for p in parts)]   # in order
    if not common:
        return None
    powers = {b: min(p[1][b] for p in parts) for b in common}
    rests = []
    for coef, exps, core in parts:
        rest = {b: e - powers.get(b, 0) for b, e in exps.items() if e - powers.get(b, 0)}
        rests.append(_build_scale(coef, rest, core if core is not None else None))
    return A.smul(_build_scale(1, powers, None), A.add(*rests))


def _negative(t: Node) -> bool:
    return t.op == "neg" or (t.op == "smul" and t.args[0].op == "const"
                             and t.args[0].params[0] < 0)


def negated_sum(n: Node) -> Node | None:
    """-A − B = -(A + B): a sum whose every term is negative is the negation of a sum."""
    if len(n.args) < 2 or not all(_negative(t) for t in n.args):
        return None
    return A.neg(A.add(*(A.neg(t) for t in n.args)))


_MARKS: "weakref.WeakKeyDictionary[Node, int]" = weakref.WeakKeyDictionary()


def _marks(t: Node) -> int:
    """Transposes on the surface of t: what (·)ᵀ would add or remove (memoized: a
    product kept whole inside products is met again and again)."""
    while t.op in ("neg", "smul", "div"):
        t = t.args[1] if t.op == "smul" else t.args[0]
    if t.op == "transpose":
        return 1
    if t.op != "matmul":
        return 0
    got = _MARKS.get(t)
    if got is None:
        got = _MARKS[t] = sum(_marks(f) for f in t.args)
    return got


def transpose_of_sum(n: Node) -> Node | None:
    """(A + Bᵀ)ᵀ = Aᵀ + B: a transpose goes through a sum onto its terms where that
    does not add transposes (ties go to the terms: the standard place)."""
    s = n.args[0]
    if s.op != "add":
        return None
    terms = [A.transpose(t) for t in s.args]
    if sum(_marks(t) for t in terms) > 1 + sum(_marks(t) for t in s.args):
        return None
    return A.add(*terms)


def pinv_identities(n: Node) -> Node | None:
    """X⁺ X X⁺ = X⁺ and X X⁺ X = X (Moore–Penrose)."""
    if "pinv" not in _factor_ops(n):
        return None
    f = list(n.args)
    for i in range(len(f) - 2):
        a, b, c = f[i], f[i + 1], f[i + 2]
        if a is c and a.op == "pinv" and a.args[0] is b or \
                a is c and b.op == "pinv" and b.args[0] is a:
            return A.matmul(*f[:i], a, *f[i + 3:])
    return None


# --- Kronecker products and vec ----------------------------------------------------------
def trace_of_kron(n: Node) -> Node | None:
    """tr(A ⊗ B) = tr A · tr B (square A, B)."""
    x = n.args[0]
    if x.op == "kron" and all(a.shape[0] == a.shape[1] for a in x.args):
        return A.smul(A.tr(x.args[0]), A.tr(x.args[1]))
    return None


def norm_of_kron(n: Node) -> Node | None:
    """‖A ⊗ B‖ = ‖A‖ ‖B‖ (Frobenius)."""
    x = n.args[0]
    if x.op == "kron":
        return A.smul(A.fn("norm", x.args[0]), A.fn("norm", x.args[1]))
    return None


def kron_times_vec(n: Node) -> Node | None:
    """(P ⊗ Q) vec X = vec(Q X Pᵀ), (P ⊗ Q)ᵀ vec X = vec(Qᵀ X P) — so (xᵀ ⊗ I) vec M = M x."""
    if "vec" not in _factor_ops(n):
        return None
    f = list(n.args)
    for i in range(len(f) - 1):
        k, v = f[i], f[i + 1]
        trans = k.op == "transpose" and k.args[0].op == "kron"
        if (k.op == "kron" or trans) and v.op == "vec":
            P, Q = (k.args[0] if trans else k).args
            X = v.args[0]
            if trans:
                P, Q = A.transpose(P), A.transpose(Q)
            if Q.shape[1] == X.shape[0] and P.shape[1] == X.shape[1]:
                return A.matmul(*f[:i], A.fn("vec", A.matmul(Q, X, A.transpose(P))), *f[i + 2:])
    return None


# --- inverses and determinants ----------------------------------------------------------
def inverse_of_product(n: Node) -> Node | None:
    """(A B)⁻¹ = B⁻¹ A⁻¹ where every factor is square (so that factors may cancel)."""
    x = n.args[0]
    if x.op == "matmul" and all(a.shape[0] == a.shape[1] for a in x.args):
        return A.matmul(*(A.inv(a) for a in reversed(x.args)))
    return None


def det_rules(n: Node) -> Node | None:
    """det(Xᵀ) = det X; det(c X) = cⁿ det X; det(A B) = det A det B (square factors);
    det(I + u vᵀ) = 1 + vᵀ u (the matrix determinant lemma)."""
    x = n.args[0]
    op = n.op
    if x.op == "transpose":
        return A.fn(op, x.args[0])
    if x.op == "mpow":                   # det(Xᵏ) = (det X)ᵏ, logdet(Xᵏ) = k logdet X
        inner = A.fn(op, x.args[0])
        k = A.const(x.params[0])
        return A.smul(k, inner) if op == "logdet" else A.epow(inner, k)
    if x.op in ("smul", "neg") and op == "det":
        c = x.args[0] if x.op == "smul" else A.const(-1)
        k = x.shape[0]
        power = A.epow(c, A.const(k.coef) if k.is_const else A.fn("tr", A.eye(k)))
        return A.smul(power, A.fn("det", x.args[-1]))
    if x.op == "matmul" and all(a.shape[0] == a.shape[1] for a in x.args):
        parts = [A.fn(op, a) for a in x.args]
        out = parts[0]
        for p in parts[1:]:
            out = A.add(out, p) if op == "logdet" else A.smul(out, p)
        return out
    if op == "det" and x.op == "add" and len(x.args) == 2:
        eye = [a for a in x.args if a.op == "eye"]
        rest = [a for a in x.args if a.op != "eye"]
        if eye and rest and rest[0].op == "matmul" and len(rest[0].args) == 2:
            u, vt = rest[0].args
            if u.shape[1].is_one and vt.shape[0].is_one:
                return A.add(A.const(1), A.matmul(vt, u))
    return None


def trace_cyclic_merge(n: Node) -> Node | None:
    """tr(A ⋯ B): the product is a cycle under the trace, so its last and first factors
    merge where a product rule applies (tr(X⁻¹ Y dX X) = tr(Y dX)), and tr(Mᵀ) = tr(M)."""
    x = n.args[0]
    if x.op == "transpose":
        return A.tr(x.args[0])
    if x.op != "matmul" or len(x.args) < 2:
        return None
    f = list(x.args)
    pair = A.matmul(f[-1], f[0])
    merged = power_merge(pair) if pair.op == "matmul" else None
    if merged is None:
        return None
    return A.tr(A.matmul(merged, *f[1:-1]))


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
    Rule("linear-of-scaled", "f(c X) = c f(X) for linear f: tr(c X) = c tr(X), diag(-x) = "
         "-diag(x)", LINEAR_UNARY, linear_of_scaled,
         "X: n x n; c: scalar; tr(c X) + sum(diag(-2 X)) + sum(tril(c X, -1), 1) ones(n)"),
    Rule("inverse-of-transpose", "(Xᵀ)⁻¹ = (X⁻¹)ᵀ, printed X⁻ᵀ", ("inv",),
         inverse_of_transpose, "X: n x n; inv(X^T)"),
    Rule("diag-times-vector", "diag(a) b = a ∘ b", ("matmul",), diag_times_vector,
         "a, b: n; diag(a) b"),
    Rule("diag-product", "diag(a) diag(b) = diag(a ∘ b)", ("matmul",), diag_product,
         "a, b: n; B: n x n; B diag(a) diag(b) diag(exp(a))"),
    Rule("power-merge", "X X = X², X^a X^b = X^(a+b), X⁻ᵀ Xᵀ = I, L⁻ᵀ L⁻¹ = S⁻¹ (L = chol S)",
         ("matmul",), power_merge,
         "X, B: n x n; S: n x n spd; B X X X^2 X^T X^-T + inv(chol(S))^T inv(chol(S))"),
    Rule("triangle-of-diagonal", "tril(D) = D, tril(D, -1) = 0 for a diagonal D",
         ("tril", "triu"), triangle_of_diagonal, "v: n; tril(diag(v)) + triu(eye(n), 1)"),
    Rule("diagonal-selection", "(rᵀ ⊗ L) S = L diag(r), Sᵀ (P ⊗ Q) S = P ∘ Q, Sᵀ S = I "
         "(S: the selection of the diagonal, in vec-Jacobians through diag)", ("matmul",),
         diagonal_selection, "x: n; A: n x n; S = kron(eye(n), ones(n)) .* kron(ones(n), eye(n)); "
         "r = x^T A; kron(r, A) S ones(n) + S^T kron(A, A^T) S ones(n) + S^T S x"),
    Rule("simplex-row-sums", "Y 1 = 1 (rows of Y: simplex), 1ᵀ y = 1 (y: simplex)",
         ("matmul",), simplex_sums, "Y: m x k simplex; y: k simplex; a: m; a^T Y ones(k) + "
         "ones(1, k) y"),
    Rule("simplex-sum", "sum(y) = 1, sum(Y, 2) = 1, sum(Y) = m on the simplex",
         ("sum", "sum_axis"), simplex_sum,
         "Y: m x k simplex; y: k simplex; a: m; sum(y) + a^T sum(Y, 2) + sum(Y)"),
    Rule("diagonal-and-ones-products", "diag(a) diag(b) = diag(a ∘ b), 1ᵀ diag(v) = vᵀ, "
         "ones(p, n) ones(n, q) = n ones(p, q)", ("matmul",), diag_and_ones_products,
         "a, b, w: n; w^T diag(a) diag(b) w + ones(n)^T diag(a) w + ones(1, n) ones(n, n) w"),
    Rule("symmetric-pair-order", "Aᵀ + A is written A + Aᵀ", ("add",), symmetric_pair_order,
         "A: n x n; A^T + A"),
    Rule("common-scalar-factor", "c A + c B = c (A + B)", ("add",), common_scalar_factor,
         "A, B: n x n; c: scalar; c A + 2 c B"),
    Rule("pinv-identities", "X⁺ X X⁺ = X⁺, X X⁺ X = X", ("matmul",), pinv_identities,
         "X: m x n; C: n x m; sum(C .* (pinv(X) X pinv(X))) + sum(X .* (X pinv(X) X))"),
    Rule("trace-of-kron", "tr(A ⊗ B) = tr A tr B", ("tr",), trace_of_kron,
         "X, B: n x n; tr(kron(X, B))"),
    Rule("norm-of-kron", "‖A ⊗ B‖ = ‖A‖ ‖B‖", ("norm",), norm_of_kron,
         "A: p x q; X: m x n; norm(kron(A, X))"),
    Rule("kron-times-vec", "(P ⊗ Q) vec X = vec(Q X Pᵀ)", ("matmul",), kron_times_vec,
         "A: m x m; B: n x n; X: m x n; x: n; M: m x n; sum(kron(B, A) vec(X)) + "
         "sum(kron(x^T, eye(m)) vec(M))"),
    Rule("inverse-of-product", "(A B)⁻¹ = B⁻¹ A⁻¹ for square factors", ("inv",),
         inverse_of_product, "A, B: n x n; inv(A B)"),
    Rule("determinant-rules", "det Xᵀ = det X, det(c X) = cⁿ det X, det(A B) = det A det B, "
         "det(I + u vᵀ) = 1 + vᵀ u", ("det", "logdet"), det_rules,
         "X, B: n x n; u, v: n; c: scalar; det(X^T) + det(c X) + logdet(B X) + "
         "det(eye(n) + u v^T) + det(X^3)"),
    Rule("trace-cyclic-merge", "tr(B ⋯ A) with A B mergeable: tr(X⁻¹ Y X) = tr(Y); "
         "tr(Mᵀ) = tr M", ("tr",), trace_cyclic_merge,
         "X, Y: n x n; tr(inv(X) Y X) + tr(Y^T)"),
    Rule("entrywise-cancel", "x ∘ (1 ⊘ x) = 1, (a ⊘ x) ∘ x = a", ("hadamard", "hdiv"),
         entrywise_cancel, "X, Y: m x n; Y .* (1 ./ X) .* X"),
    Rule("entrywise-polynomial", "entrywise sums and products expanded and collected where "
         "shorter: (a ⊘ s − b) ∘ s = a − b ∘ s", ("add", "hadamard", "hdiv"),
         entrywise_polynomial, "s, y: n; ((1 - y) ./ (1 - s) - y ./ s) .* s .* (1 - s)"),
    Rule("negated-sum", "-A − B = -(A + B)", ("add",), negated_sum,
         "A, B: m x n; -A - 2 B"),
    Rule("transpose-of-sum", "(A + Bᵀ)ᵀ = Aᵀ + B where no transpose is added",
         ("transpose",), transpose_of_sum, "A, B, C: n x n; (A + B^T)^T + (C^T - A)^T"),
]

BY_OP: dict[str, list[Rule]] = {}
for _r in RULES:
    for _op in _r.ops:
        BY_OP.setdefault(_op, []).append(_r)
