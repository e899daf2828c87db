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

from dataclasses import dataclass, field, replace

import matd.core.algebra as A
from matd.core.differentiate import Step, differential, simplified
from matd.core.errors import MatdError
from matd.core.expr import Node
from matd.core.primitives import PRIMS, NoClosedForm, NotDifferentiable
from matd.core.readoff import (gradient_steps, gradients, paired, riemannian, structured,
                               vec_jacobian)
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
    defs = Simplifier()   # one memo for all: a definition is made of the earlier ones
    for node, name in list(names.items()):   # a definition keeps its name once simplified
        names.setdefault(simplify(node, using=defs), name)
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
    show = Simplifier() if log is not None else None   # what the steps show, apart
    grads = gradients(f, xs, log, names, raw=True, simplifier=simp.shared, show=show)
    out = []
    for x in xs:
        name = x.params[0]
        G = grads[name]
        shown = structured(G, x)
        if order == 1:
            shown = shown if shown is G else simp(shown)
            # df written the textbook way, tr(Gᵀ dX) (trace cyclicity puts dX last); this
            # variable's part of it: the whole df is Derivation.df
            r = Result(name, "gradient", simp(A.inner_display(G, A.dvar(x))), shown)
            r.gradient_raw = G
            if "orth" in x.params[1]:
                r.riemannian = simp(riemannian(G, x))
            if log is not None:
                gradient_steps(log, x, G, shown, r.differential,
                               "df" if len(xs) == 1 else f"df (in d{name})")
                if r.riemannian is not None:
                    log.append(Step(riemannian_rule(x), G, r.riemannian, "projection",
                                    f"grad_R f ({name} orth)", name))
            out.append(r)
            continue
        first = len(log) if log is not None else 0
        dG = simplified(differential(G, [name], log, names), simp, simp.shared, log)
        vec_log = [] if log is not None else None
        kind = "hessian" if x.shape[1].is_one else "vec-hessian"
        try:
            J = vec_jacobian(A.fn("vec", dG), x, vec_log, show)
            H = simp(within_structure(J, x))
        except NoClosedForm as e:
            H, note = None, f"no closed Kronecker form: {e}"
        else:
            note = ""
        # (the shared simplifier is called in the order it is without --steps)
        d2f = quadratic_form(dG, x, simp)
        gradient = simp(shown)
        if log is not None:
            read: list = []
            gradient_steps(read, x, G, gradient if shown is not G else G)
            log[first:first] = read
            first += len(read)
            log.append(Step(f"second differential: d²f = ⟨d{name}, d(∂f/∂{name})⟩ (d{name} "
                            "is a constant: earlier differentials are constants)",
                            paired(dG, A.dvar(x)) if not x.is_scalar else
                            A.make("smul", A.dvar(x), dG), d2f, "=", "d²f"))
            log.extend(vec_log)
            if H is not None:
                _hessian_steps(log, x, dG, J, H, LABELS2[kind].format(x=name), show)
            log[first:] = [replace(st, wrt=name, order=2) for st in log[first:]]
        out.append(Result(name, kind, d2f, H, gradient=gradient, note=note))
    return out


LABELS2 = {"hessian": "∂²f/∂{x}²", "vec-hessian": "∂²f/∂vec {x}²"}


def riemannian_rule(x: Node) -> str:
    name = x.params[0]
    form = "(G − Q Gᵀ Q)/2" if x.shape[0] == x.shape[1] else "G − Q sym(Qᵀ G)"
    return (f"Riemannian gradient ({name} orth): the projection of G onto the tangent space "
            f"at {name}, {form.replace('Q', name)}")


def _hessian_steps(log, x, dG, J, H, label, show):
    """The read-off of a Hessian (or a Jacobian) from vec(dG) = H vec(dX), and the
    restriction to x's structure, as steps."""
    name = x.params[0]
    P = projector(x)
    plain = show(J) if P is not None else H
    what = "d²f = vec(d{x})ᵀ H vec(d{x}): vec(dG) = H vec(d{x})" if label.startswith("∂²") \
        else "vec(dF) = J vec(d{x})"
    log.append(Step(f"read-off: {what.format(x=name)} ⇒ {label.split(' (')[0]} = "
                    f"{'H' if label.startswith('∂²') else 'J'}", A.fn("vec", dG), plain,
                    "read-off", label if P is None else
                    ("H" if label.startswith("∂²") else "J") + " (unrestricted)",
                    name))
    if P is not None:
        which = "diagonal" if "diag" in x.params[1] else "symmetric"
        form = "P H P" if label.startswith("∂²") else "J P"
        what = ("P = (I + K)/2" if which == "symmetric" else "P = diag(vec I)")
        log.append(Step(f"restricted to {which} directions ({name} {which[:3]}): {form}, "
                        f"{what}", plain, H, "projection", label, name))


def _nonscalar(f, x, layout, log, names, simp):
    name = x.params[0]
    first = len(log) if log is not None else 0
    df = simplified(differential(f, [name], log, names), simp, simp.shared, log)
    try:
        if x.is_scalar:  # dF = M dt: the derivative is M, shaped like F
            M = _subst_dvar(df, name, A.const(1), simp)
            if log is not None:
                log.append(Step(f"read-off: dF = M d{name} ⇒ df/d{name} = M", df, M,
                                "read-off", f"df/d{name}"))
            return Result(name, "derivative", df, M)
        kind = "jacobian" if f.shape[1].is_one and x.shape[1].is_one else "vec-jacobian"
        label = f"∂f/∂{name}" if kind == "jacobian" else f"∂vec F/∂vec {name}"
        show = Simplifier() if log is not None else None
        try:
            V = vec_jacobian(A.fn("vec", df), x, log, show)
            J = simp(within_structure(V, x, left=False))
        except NoClosedForm as e:
            return Result(name, "vec-jacobian", df, None, note=f"no closed Kronecker form: {e}")
        if log is not None:
            _hessian_steps(log, x, df, V, J, label, show)
        if layout == "denominator":
            Jn, J = J, simp(A.transpose(J))
            if log is not None:
                log.append(Step("denominator layout: the transpose of the numerator-layout "
                                "Jacobian", Jn, J, "layout", label + " (denominator layout)"))
        return Result(name, kind, df, J)
    finally:
        if log is not None:
            log[first:] = [replace(st, wrt=name) for st in log[first:]]
