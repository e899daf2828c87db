"""The one library call behind ``matd diff``: a program and the variables to
differentiate by -> differentials and derivatives, read off per DESIGN §2.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.printers import to_unicode
>>> d = derive(parse_program("X: n x n; logdet(X)"), ["X"])
>>> r = d.results[0]
>>> r.kind, to_unicode(r.differential), to_unicode(r.derivative)
('gradient', 'tr(X⁻¹ dX)', 'X⁻ᵀ')
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matd.core.algebra as A
from matd.core.differentiate import differential
from matd.core.errors import MatdError
from matd.core.expr import Node
from matd.core.primitives import PRIMS, NoClosedForm, NotDifferentiable
from matd.core.readoff import gradients, riemannian, structured, vec_jacobian
from matd.core.simplify import Simplifier, simplify


@dataclass
class Result:
    """What matd found for one variable."""

    wrt: str
    kind: str   # gradient | jacobian | vec-jacobian | derivative | hessian | vec-hessian
    differential: Node        # df (order 1) or d²f (order 2), simplified, in dX
    derivative: Node | None   # None where no closed matrix form exists
    gradient: Node | None = None   # order 2: the gradient the Hessian differentiates
    riemannian: Node | None = None  # orth variables
    note: str = ""
    gradient_raw: Node | None = None  # scalar f: the gradient before structure is imposed


@dataclass
class Derivation:
    f: Node
    order: int
    layout: str
    results: list[Result]
    steps: list = field(default_factory=list)
    names: dict = field(default_factory=dict)   # definitions: node -> name
    df: Node | None = None                      # the whole differential (scalar f)


def _subst_dvar(e: Node, name: str, value: Node, simp=None) -> Node:
    """e with the differential d<name> replaced by ``value`` (then simplified)."""
    from matd.core.expr import walk
    from matd.core.simplify import rebuild
    memo: dict[Node, Node] = {}
    for n in walk(e):
        if n.op == "dvar" and n.params[0] == name:
            memo[n] = value
        else:
            memo[n] = rebuild(n, [memo[a] for a in n.args]) if n.args else n
    return (simp or simplify)(memo[e])


def quadratic_form(dG: Node, x: Node, simp=None) -> Node:
    """d²f = ⟨dX, dG⟩ written tr(dXᵀ dG) (dxᵀ dG for a vector)."""
    return (simp or simplify)(A.inner(A.dvar(x), dG))


def projector(x: Node) -> Node | None:
    """The projection of vec(dX) onto x's structure: P = (I + K)/2 onto symmetric directions
    (sym/spd), D = diag(vec I) onto diagonal ones (diag); None for an unstructured x."""
    attrs = x.params[1]
    n = x.shape[0]
    if x.shape[1].is_one or x.shape[0] != x.shape[1]:
        return None
    if "sym" in attrs or "spd" in attrs:
        return A.smul(A.const(0.5), A.add(A.eye(n * n), A.commutation(n, n)))
    if "diag" in attrs:
        return A.fn("diag", A.fn("vec", A.eye(n)))
    return None


def within_structure(H: Node, x: Node, left: bool = True) -> Node:
    """A vec-Hessian (P H P) or vec-Jacobian (J P, ``left=False``) restricted to x's
    structure: the Hessian of f restricted to symmetric (diagonal) matrices as a symmetric
    operator on vec, whose quadratic form on symmetric dX is d²f; the Jacobian along the
    directions x can take (formulas that use Sᵀ = S hold only there)."""
    P = projector(x)
    if P is None:
        return H
    return A.matmul(P, H, P) if left else A.matmul(H, P)


def derive(prog, wrt: list[str] | None = None, order: int = 1, layout: str = "numerator",
           steps: bool = False) -> Derivation:
    """Differentiate the program's result by ``wrt`` (default: every free variable)."""
    f = prog.result
    if f is None:
        raise MatdError("nothing to differentiate: the program has no expression",
                        hint="end the program with an expression, e.g. `x: n; norm(x)^2`")
    names = {node: name for name, node in prog.definitions.items()}
    for node, name in list(names.items()):   # a definition keeps its name once simplified
        names.setdefault(simplify(node), name)
    from matd.core.expr import free_vars
    present = {v.params[0]: v for v in free_vars(f)}
    if not wrt:
        wrt = list(present)
        if not wrt:
            raise MatdError("the expression has no variables to differentiate by")
    xs = []
    for name in wrt:
        if name not in prog.variables:
            known = ", ".join(prog.variables) or "none"
            raise MatdError(f"--wrt {name}: no variable '{name}' in the program",
                            hint=f"variables: {known}")
        xs.append(prog.variables[name])
    if order == 2 and not f.is_scalar:
        raise MatdError("--order 2 needs a scalar expression (a Hessian of a scalar f)",
                        hint="differentiate a scalar, e.g. a norm or a trace")
    log: list = [] if steps else None
    shared = Simplifier()   # one memo: every variable's results share their DAG

    def simp(e):
        return simplify(e, using=shared)
    simp.shared = shared
    try:
        if f.is_scalar:
            results = _scalar(f, xs, order, log, names, simp)
        else:
            results = [_nonscalar(f, x, layout, log, names, simp) for x in xs]
    except NotDifferentiable as e:
        raise not_differentiable(e, prog, f, wrt) from None
    d = Derivation(f, order, layout, results, log or [], names)
    if f.is_scalar and order == 1:
        d.df = simp(A.add(*(A.inner_display(r.gradient_raw, A.dvar(prog.variables[r.wrt]))
                                for r in results)))
    return d


def not_differentiable(e: NotDifferentiable, prog, f: Node, wrt: list[str]) -> MatdError:
    """The user error for a function with no differential, at the call in the source: one
    the program wrote (no derivative at all: which differentiable functions use it), or one a
    first derivative brought in (no second derivative of the call it came from: the first
    derivative is there)."""
    from matd.core.expr import walk
    bad = getattr(e, "node", None)
    spans = getattr(prog, "spans", {})
    if bad is None:
        return MatdError(str(e))
    fn = _spelled(bad.op)
    if bad in set(walk(f)):   # written (or built while typing a call): the first derivative
        call = bad if spans.get(bad) else next(
            (n for n in walk(f) if spans.get(n) and bad in set(walk(n))), None)
        users = _differentiable_users(bad.op)
        if len(users) == 1:
            alt = f"{users[0]} is differentiable (its derivative uses {fn})"
        elif users:
            alt = f"{_join(users)} are differentiable (their derivatives use {fn})"
        else:
            alt = f"differentiate by a variable that {fn}'s argument does not depend on"
        doc = PRIMS[bad.op].doc.partition(":")[0]
        return MatdError(f"{fn} has no closed-form differential in matd", _span(call, spans),
                         f"matd has no derivative of {fn}{' — ' + doc if doc else ''}; {alt}")
    origin = None   # the call whose first derivative brought ``bad`` in
    for same in (lambda m: m is bad, lambda m: m.op == bad.op):
        origin = next((n for n in walk(f) if spans.get(n) and n.args and
                       any(same(m) for m in walk(differential(n, wrt)))), None)
        if origin is not None:
            break
    what = _spelled(origin.op) if origin is not None else "the expression"
    return MatdError(f"{what} has no second derivative in matd: its first derivative uses "
                     f"{fn}, which has no closed-form differential", _span(origin, spans),
                     "first derivatives are available: without --order 2, matd gives "
                     + _join([f"∂f/∂{x}" for x in wrt]))


def _spelled(op: str) -> str:
    spellings = PRIMS[op].spellings if op in PRIMS else ()
    return spellings[0] if spellings else op


def _span(node, spans):
    got = spans.get(node) if node is not None else None
    return got[0] if got else None


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _differentiable_users(fn: str) -> list[str]:
    """The functions of the table (of one matrix) whose differential uses ``fn``, probed on
    a square matrix X: where ``fn`` has none, what matd can differentiate instead.

    >>> _differentiable_users("svd_u1")
    ['specnorm']
    """
    from matd.core.expr import walk
    from matd.core.shapes import Dim, Unifier
    X = A.var("X", (Dim.sym("n"), Dim.sym("n")), ("sym",))
    out = []
    for p in PRIMS.values():
        if p.arity != 1 or p.linear or p.d is None or p.op == fn or not p.spellings:
            continue
        try:
            node = Node.make(p.op, (X,), (), p.shape(Unifier(), [X.shape], ()))
            d = p.d(node, (X,), (A.dvar(X),))
        except Exception:   # noqa: BLE001 - a row that takes parameters, or has no d
            continue
        if any(m.op == fn for m in walk(d)):
            out.append(p.spellings[0])
    return out


def _scalar(f, xs, order, log, names, simp):
    grads = gradients(f, xs, log, names, raw=True, simplifier=simp.shared)
    out = []
    for x in xs:
        name = x.params[0]
        G = grads[name]
        if order == 1:
            shown = structured(G, x)
            shown = shown if shown is G else simp(shown)
            # df written the textbook way, tr(Gᵀ dX) (trace cyclicity puts dX last); this
            # variable's part of it: the whole df is Derivation.df
            r = Result(name, "gradient", simp(A.inner_display(G, A.dvar(x))), shown)
            r.gradient_raw = G
            if "orth" in x.params[1]:
                r.riemannian = simp(riemannian(G, x))
            out.append(r)
            continue
        dG = simp(differential(G, [name]))
        try:
            H = simp(within_structure(vec_jacobian(A.fn("vec", dG), x), x))
        except NoClosedForm as e:
            H, note = None, f"no closed Kronecker form: {e}"
        else:
            note = ""
        kind = "hessian" if x.shape[1].is_one else "vec-hessian"
        shown = structured(G, x)
        out.append(Result(name, kind, quadratic_form(dG, x, simp), H, gradient=simp(shown),
                          note=note))
    return out


def _nonscalar(f, x, layout, log, names, simp):
    name = x.params[0]
    df = simp(differential(f, [name], log, names))
    if x.is_scalar:  # dF = M dt: the derivative is M, shaped like F
        return Result(name, "derivative", df, _subst_dvar(df, name, A.const(1), simp))
    try:
        J = simp(within_structure(vec_jacobian(A.fn("vec", df), x), x, left=False))
    except NoClosedForm as e:
        return Result(name, "vec-jacobian", df, None, note=f"no closed Kronecker form: {e}")
    kind = "jacobian" if f.shape[1].is_one and x.shape[1].is_one else "vec-jacobian"
    if layout == "denominator":
        J = simp(A.transpose(J))
    return Result(name, kind, df, J)
