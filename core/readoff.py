"""Reading derivatives off differentials.

- Gradient of a scalar f: df is a linear map of the dX's; transposing it
  symbolically (the adjoint column of the primitive table, applied in reverse
  over the DAG from the seed 1) gives G with df = Σ ⟨G_X, dX⟩, so ∂f/∂X = G_X.
- Jacobians and vec-Jacobians: vec(dF) = J vec(dX), built from the vjac column
  (Kronecker forms); for a vector f and a vector x, J is the m×n Jacobian.
- Hessians: the Jacobian of the gradient, read off the same way.
- Structured variables (DESIGN §2): sym/spd → (G + Gᵀ)/2, diag → diag part,
  orth → also the Riemannian gradient G − Q sym(QᵀG) ((G − Q Gᵀ Q)/2 for a square Q).

>>> from matd.grammar.parse import parse_program
>>> from matd.core.printers import to_matd
>>> p = parse_program("A: m x n; X: m x p; B: p x n; tr(A^T X B)")
>>> to_matd(gradients(p.result, [p.variables["X"]])["X"])
'A B^T'
"""
from __future__ import annotations

import matd.core.algebra as A
from matd.core.differentiate import differential, has_dvar
from matd.core.expr import Node, walk
from matd.core.primitives import PRIMS, NoClosedForm
from matd.core.simplify import simplify


def transpose_linear(L: Node, seed: Node) -> dict[str, Node]:
    """Σ-accumulated cotangents of the dvar leaves of the linear map L, given L's cotangent."""
    memo: dict = {}
    order = [n for n in walk(L) if has_dvar(n, memo)]
    cot: dict[Node, list[Node]] = {L: [seed]}
    out: dict[str, Node] = {}
    for n in reversed(order):
        parts = cot.pop(n, None)
        if not parts:
            continue
        G = A.add(*parts)
        if n.op == "dvar":
            name = n.params[0]
            out[name] = A.add(out[name], G) if name in out else G
            continue
        prim = PRIMS[n.op]
        if prim.adjoint is None:
            raise NoClosedForm(f"{n.op} is not linear in its differential")
        lin = [i for i, a in enumerate(n.args) if has_dvar(a, memo)]
        if len(lin) > 1 and n.op not in ("add",):
            raise NoClosedForm(f"{n.op} is not linear in the differentials")
        for i in lin:
            cot.setdefault(n.args[i], []).append(prim.adjoint(n, i, G))
    return out


def vec_jacobian(L: Node, x: Node) -> Node:
    """M with vec(L) = M vec(dX): Kronecker form through the vjac column."""
    memo: dict = {}
    J: dict[Node, Node] = {}
    size = x.shape[0] * x.shape[1]
    for n in walk(L):
        if not has_dvar(n, memo):
            continue
        if n.op == "dvar":
            J[n] = A.eye(size) if n.params[0] == x.params[0] else None
            continue
        prim = PRIMS[n.op]
        if prim.vjac is None:
            raise NoClosedForm(f"no Kronecker form for {n.op}")
        terms = [A.matmul(prim.vjac(n, i), J[a]) for i, a in enumerate(n.args)
                 if has_dvar(a, memo) and J.get(a) is not None]
        J[n] = A.add(*terms) if terms else None
    out = J.get(L)
    if out is None:
        return A.zeros((L.shape[0] * L.shape[1], size))
    return out


def structured(G: Node, x: Node) -> Node:
    """The gradient restricted to x's structure (sym/spd symmetrized, diag diagonal)."""
    attrs = x.params[1] if x.op == "var" else ()
    if "diag" in attrs:
        return A.fn("diag", A.fn("diag", G))
    if ("sym" in attrs or "spd" in attrs) and not A.is_sym(G):
        terms = G.args if G.op == "add" else (G,)
        return A.add(*(t if A.is_sym(t) else A.smul(A.const(0.5), A.add(t, A.transpose(t)))
                       for t in terms))
    return G


def riemannian(G: Node, Q: Node) -> Node:
    """Projection onto the tangent space at Q of the Stiefel manifold {Q : QᵀQ = I}:
    G − Q sym(QᵀG), sym(M) = (M + Mᵀ)/2; for a square Q (the orthogonal group, QQᵀ = I
    too) that is (G − Q Gᵀ Q)/2, the form printed there.

    >>> from matd.grammar.parse import parse_program
    >>> from matd.core.printers import to_matd
    >>> p = parse_program("Q: n x p orth; A: n x p; tr(A^T Q)")
    >>> to_matd(simplify(riemannian(p.variables["A"], p.variables["Q"])))
    'A - 0.5 Q (Q^T A + A^T Q)'
    """
    if Q.shape[0] == Q.shape[1]:
        return A.smul(A.const(0.5), A.sub(G, A.matmul(Q, A.transpose(G), Q)))
    QtG = A.matmul(A.transpose(Q), G)
    return A.sub(G, A.matmul(Q, A.smul(A.const(0.5), A.add(QtG, A.transpose(QtG)))))


def gradients(f: Node, xs: list[Node], steps: list | None = None, names=None,
              raw: bool = False, simplifier=None) -> dict[str, Node]:
    """∂f/∂X for each variable X in xs (f scalar), simplified and shape-checked."""
    assert f.is_scalar, "gradients need a scalar f"
    from matd.core.simplify import Simplifier
    df = differential(f, [x.params[0] for x in xs], steps, names)
    cots = transpose_linear(df, A.const(1))
    out = {}
    s = simplifier or Simplifier()
    for x in xs:
        G = cots.get(x.params[0])
        G = A.zeros(x.shape) if G is None else G
        G = simplify(G, using=s)
        assert G.shape == x.shape, (G.shape, x.shape)
        if not raw:
            S = structured(G, x)
            G = G if S is G else simplify(S, using=s)
        out[x.params[0]] = G
    return out


def jacobian(f: Node, x: Node, steps: list | None = None, names=None) -> Node:
    """vec-Jacobian ∂vec f/∂vec x (for vectors: the m×n Jacobian), simplified."""
    df = differential(f, [x.params[0]], steps, names)
    return simplify(vec_jacobian(A.fn("vec", simplify(df)), x))


def hessian(f: Node, x: Node, G: Node | None = None) -> Node:
    """∂²f/∂x∂xᵀ (n×n) for a vector x, the mn×mn vec-Hessian for a matrix X."""
    if G is None:
        G = gradients(f, [x], raw=True)[x.params[0]]
    return jacobian(G, x)
