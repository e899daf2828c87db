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


# --- the names --steps gives each adjoint and vec form (reverse pass, Kronecker read-off) ---
ADJOINT_RULES = {
    "add": "linearity: ⟨G, A + B⟩ = ⟨G, A⟩ + ⟨G, B⟩",
    "neg": "⟨G, −M⟩ = ⟨−G, M⟩",
    "matmul": "trace cyclicity: ⟨G, L dY R⟩ = tr(R Gᵀ L dY) = ⟨Lᵀ G Rᵀ, dY⟩",
    "smul": "adjoint of scaling: ⟨G, c dY⟩ = ⟨c G, dY⟩, ⟨G, dc M⟩ = dc ⟨M, G⟩",
    "div": "adjoint of a quotient by a scalar: ⟨G, dY / c⟩ = ⟨G / c, dY⟩",
    "hadamard": "adjoint of a Hadamard product: ⟨G, A ∘ dY⟩ = ⟨G ∘ A, dY⟩",
    "hdiv": "adjoint of an elementwise quotient: ⟨G, dY ⊘ B⟩ = ⟨G ⊘ B, dY⟩",
    "kron": "adjoint of a Kronecker product: ⟨G, A ⊗ dY⟩ = ⟨unvec(Mᵀ vec G), dY⟩ with "
            "vec(A ⊗ dY) = M vec(dY)",  # Magnus & Neudecker, Thm 3.10
    "transpose": "adjoint of the transpose: ⟨G, Mᵀ⟩ = ⟨Gᵀ, M⟩",
    "tr": "adjoint of the trace: g tr(M) = ⟨g I, M⟩",
    "sum": "adjoint of sum: g sum(M) = ⟨g 1, M⟩ (1: all ones)",
    "mean": "adjoint of mean: g mean(M) = ⟨g 1 / (m n), M⟩",
    "diag": "adjoint of diag: ⟨G, diag(dv)⟩ = ⟨diag(G), dv⟩, ⟨g, diag(dM)⟩ = ⟨diag(g), dM⟩",
    "vec": "adjoint of vec: ⟨g, vec(dY)⟩ = ⟨unvec(g), dY⟩",
    "unvec": "adjoint of unvec: ⟨G, unvec(dy)⟩ = ⟨vec(G), dy⟩",
    "broadcast": "adjoint of broadcasting: a repeated scalar, row or column collects the sum "
                 "of its cotangent (g = sum(G), 1ᵀ G, G 1)",
    "dot": "adjoint of the inner product: g ⟨A, dY⟩ = ⟨g A, dY⟩",
    "sum_axis": "adjoint of sum(·, k): the cotangent spread back along dimension k",
    "mean_axis": "adjoint of mean(·, k): the cotangent spread back along dimension k, "
                 "divided by the count",
    "tril": "adjoint of tril: ⟨G, tril(dY)⟩ = ⟨tril(G), dY⟩",
    "triu": "adjoint of triu: ⟨G, triu(dY)⟩ = ⟨triu(G), dY⟩",
}
SCALAR_TRANSPOSE = "scalar transpose: a 1×1 equals its transpose, (dxᵀ A y)ᵀ = yᵀ Aᵀ dx"
ACCUMULATE = "cotangents add: ⟨G₁, dY⟩ + ⟨G₂, dY⟩ = ⟨G₁ + G₂, dY⟩ (dY used twice)"
VEC_RULES = {
    "add": "vec(dA + dB) = vec(dA) + vec(dB)",
    "neg": "vec(−dA) = −vec(dA)",
    "matmul": "vec of a product: vec(L dY R) = (Rᵀ ⊗ L) vec(dY)",  # Magnus & Neudecker
    "smul": "vec of scaling: vec(c dY) = c vec(dY), vec(dc M) = vec(M) dc",
    "div": "vec(dY / c) = vec(dY) / c",
    "hadamard": "vec of a Hadamard product: vec(A ∘ dY) = diag(vec A) vec(dY)",
    "hdiv": "vec of an elementwise quotient: vec(dY ⊘ B) = diag(vec(1 ⊘ B)) vec(dY)",
    "kron": "vec of a Kronecker product: vec(A ⊗ dY) = (I ⊗ K ⊗ I)(vec A ⊗ I) vec(dY)",
    # Magnus & Neudecker, Thm 3.10
    "transpose": "vec of a transpose: vec(dYᵀ) = K vec(dY) (K: the commutation matrix)",
    "tr": "vec of the trace: tr(dY) = vec(I)ᵀ vec(dY)",
    "sum": "vec of sum: sum(dY) = 1ᵀ vec(dY)",
    "diag": "vec of diag: the selection of the diagonal, S = (I ⊗ 1) ∘ (1 ⊗ I)",
    "broadcast": "vec of broadcasting: a repeated scalar, row or column is a Kronecker "
                 "product with ones",
}


def adjoint_rule(op: str) -> str:
    if op in ADJOINT_RULES:
        return ADJOINT_RULES[op]
    return f"adjoint of {PRIMS[op].doc or op}"


def vec_rule(op: str) -> str:
    if op in VEC_RULES:
        return VEC_RULES[op]
    return f"vec form of {PRIMS[op].doc or op}"


def paired(G: Node, n: Node) -> Node:
    """⟨G, n⟩ for a step of the reverse pass (g n for a scalar g; n for g = 1)."""
    if G.op == "const" and G.params[0] == 1:
        return n
    if n.is_scalar:
        return A.smul(G, n)
    return A.fn("dot", G, n)


class _Shown:
    """The steps of a read-off (reverse pass or Kronecker forms), for ``--steps``: every
    coefficient shown simplified by ``show`` (a display-only Simplifier: the computation
    itself is not touched), the rules that fired in it named in the step."""

    def __init__(self, steps: list, show):
        from matd.core.simplify import Simplifier
        self.steps = steps
        self.show = show or Simplifier()
        self.absorbed: dict[Node, int] = {}

    def simp(self, e: Node, fired: list) -> Node:
        before = self.show.fired
        self.show.fired = fired
        try:
            return self.show(e)
        finally:
            self.show.fired = before

    def add(self, rule: str, frm: Node, to: Node, fired=()) -> None:
        from matd.core.differentiate import Step
        if frm is to:
            return
        names = list(dict.fromkeys(fired))
        if names:
            rule += "; then " + ", ".join(names)
        self.steps.append(Step(rule, frm, to, "="))

    def adjoint(self, n: Node, G: Node, adjs, rule: str | None = None) -> None:
        fired: list = []
        g = self.simp(G, fired)
        to = A.add(*(paired(self.simp(a, fired), n.args[i]) for i, a in adjs))
        self.add(rule or adjoint_rule(n.op), paired(g, n), to, fired)

    def scalar_transpose(self, n: Node, i: int, G: Node) -> bool:
        """Show ⟨g, dyᵀ M⟩ = ⟨g, Mᵀ dy⟩ (a 1×1 equals its transpose) and the product's
        adjoint on the flipped form, instead of a product's and a transpose's adjoint."""
        t = n.args[i]
        flipped = A.matmul(*(A.transpose(a) for a in reversed(n.args)))
        if flipped.op != "matmul" or t.args[0] not in flipped.args:
            return False
        j = flipped.args.index(t.args[0])
        fired: list = []
        g = self.simp(G, fired)
        self.add(SCALAR_TRANSPOSE, paired(g, n), paired(g, flipped))
        self.adjoint(flipped, G, [(j, PRIMS["matmul"].adjoint(flipped, j, G))])
        self.absorbed[t] = self.absorbed.get(t, 0) + 1
        return True

    def accumulate(self, n: Node, parts: list) -> None:
        fired: list = []
        shown = [self.simp(p, fired) for p in parts]
        self.add(ACCUMULATE, A.add(*(paired(p, n) for p in shown)),
                 paired(self.simp(A.add(*parts), fired), n), fired)


def transpose_linear(L: Node, seed: Node, steps: list | None = None,
                     show=None) -> dict[str, Node]:
    """Σ-accumulated cotangents of the dvar leaves of the linear map L, given L's cotangent.
    With ``steps``, each adjoint applied is recorded as a named step (``show`` simplifies
    what the steps show)."""
    memo: dict = {}
    order = [n for n in walk(L) if has_dvar(n, memo)]
    cot: dict[Node, list[Node]] = {L: [seed]}
    out: dict[str, Node] = {}
    rec = _Shown(steps, show) if steps is not None else None
    for n in reversed(order):
        parts = cot.pop(n, None)
        if not parts:
            continue
        G = A.add(*parts)
        quiet = rec is None or rec.absorbed.get(n, 0) >= len(parts)
        if not quiet and len(parts) > 1:
            rec.accumulate(n, parts)
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
        adjs = [(i, prim.adjoint(n, i, G)) for i in lin]
        if not quiet and not (n.op == "add" and G.op == "const" and G.params[0] == 1):
            if n.op == "matmul" and n.is_scalar and len(lin) == 1 and \
                    n.args[lin[0]].op == "transpose" and rec.scalar_transpose(n, lin[0], G):
                pass
            else:
                rule = SCALAR_TRANSPOSE if n.op == "transpose" and n.is_scalar else None
                rec.adjoint(n, G, adjs, rule)
        for i, g in adjs:
            cot.setdefault(n.args[i], []).append(g)
    return out


def vec_jacobian(L: Node, x: Node, steps: list | None = None, show=None) -> Node:
    """M with vec(L) = M vec(dX): Kronecker form through the vjac column.  With ``steps``,
    each vec form used is recorded as a named step vec(node) = Σ Mᵢ vec(argᵢ)."""
    memo: dict = {}
    J: dict[Node, Node] = {}
    size = x.shape[0] * x.shape[1]
    rec = _Shown(steps, show) if steps is not None else None
    for n in walk(L):
        if not has_dvar(n, memo):
            continue
        if n.op == "dvar":
            J[n] = A.eye(size) if n.params[0] == x.params[0] else None
            continue
        prim = PRIMS[n.op]
        if prim.vjac is None:
            raise NoClosedForm(f"no Kronecker form for {n.op}")
        lin = [i for i, a in enumerate(n.args) if has_dvar(a, memo) and J.get(a) is not None]
        terms = [A.matmul(prim.vjac(n, i), J[n.args[i]]) for i in lin]
        J[n] = A.add(*terms) if terms else None
        if rec is not None and lin and n.op != "vec":
            fired: list = []
            to = A.add(*(A.matmul(rec.simp(prim.vjac(n, i), fired), A.fn("vec", n.args[i]))
                         for i in lin))
            rec.add(vec_rule(n.op), A.fn("vec", n), to, fired)
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


def structure_rule(x: Node) -> str | None:
    """The name of the step that imposes x's structure on its gradient (None: none)."""
    attrs = x.params[1] if x.op == "var" else ()
    name = x.params[0]
    if "diag" in attrs:
        return (f"diagonal part ({name} diag): d{name} is diagonal, so ⟨G, d{name}⟩ = "
                f"⟨diag(diag(G)), d{name}⟩")
    if "sym" in attrs or "spd" in attrs:
        return (f"symmetrization ({name} {'spd' if 'spd' in attrs else 'sym'}): d{name} is "
                f"symmetric, so ⟨G, d{name}⟩ = ⟨(G + Gᵀ)/2, d{name}⟩")
    return None


def gradient_steps(steps: list, x: Node, G: Node, shown: Node, differential: Node | None = None,
                   label: str = "df") -> None:
    """The read-off of ∂f/∂X from df = ⟨G, dX⟩ (written tr(Gᵀ dX) as ``differential``) and
    the projection onto x's structure, as steps."""
    from matd.core.differentiate import Step
    name = x.params[0]
    dx = A.dvar(x)
    inner = paired(G, dx) if not x.is_scalar else A.make("smul", G, dx)
    if A.is_zero(G):
        steps.append(Step(f"read-off: df has no d{name} term ⇒ ∂f/∂{name} = 0",
                          inner, G, "read-off", f"∂f/∂{name}", name))
        return
    if differential is not None and differential is not inner:
        form = "⟨g, dx⟩ = gᵀ dx" if x.shape[1].is_one and not x.is_scalar else \
            "⟨G, dX⟩ = tr(Gᵀ dX)"
        steps.append(Step(f"written as the textbooks do: {form}", inner,
                          differential, "=", label, name))
    structure = structure_rule(x) if shown is not G else None
    steps.append(Step(f"read-off: df = ⟨G, d{name}⟩ ⇒ ∂f/∂{name} = G",
                      differential if differential is not None else inner, G, "read-off",
                      f"∂f/∂{name}" if structure is None else "G", name))
    if structure is not None:
        steps.append(Step(structure, G, shown, "projection", f"∂f/∂{name}", name))


def gradients(f: Node, xs: list[Node], steps: list | None = None, names=None,
              raw: bool = False, simplifier=None, show=None) -> dict[str, Node]:
    """∂f/∂X for each variable X in xs (f scalar), simplified and shape-checked.  With
    ``steps``, the derivation is recorded: d of each node, the simplification of df, each
    adjoint of the reverse pass (``show`` simplifies what they show), and (unless ``raw``)
    the read-off and the structure."""
    assert f.is_scalar, "gradients need a scalar f"
    from matd.core.differentiate import simplified
    from matd.core.simplify import Simplifier
    df = differential(f, [x.params[0] for x in xs], steps, names)
    s = simplifier or Simplifier()
    # read off the simplified differential: what cancels or collapses in df (A⁻¹ A, tr of a
    # Kronecker product, x ∘ (1 ⊘ x)) never reaches the gradient
    df = simplified(df, lambda e: simplify(e, using=s), s, steps)
    cots = transpose_linear(df, A.const(1), steps, show)
    out = {}
    for x in xs:
        G = cots.get(x.params[0])
        G = A.zeros(x.shape) if G is None else G
        G = simplify(G, using=s)
        assert G.shape == x.shape, (G.shape, x.shape)
        if not raw:
            S = structured(G, x)
            S = G if S is G else simplify(S, using=s)
            if steps is not None:
                gradient_steps(steps, x, G, S)
            G = S
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
