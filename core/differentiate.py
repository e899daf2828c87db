"""Differentials: d(expr) by the product and chain rules over the primitive table.

``differential(f, wrt)`` returns df as IR, linear in the ``dvar`` leaves (dX)
of the variables in ``wrt``; every other variable, and every earlier
differential, is a constant (so applying it to df gives the second
differential).  The DAG is walked once, children first, so shared
subexpressions are differentiated once and the result stays a DAG.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.printers import to_matd
>>> f = parse_program("X: n x n; A: n x n; tr(inv(X) A)").result
>>> to_matd(differential(f, {"X"}))
'tr(-X^-1 dX X^-1 A)'
"""
from __future__ import annotations

from dataclasses import dataclass

import matd.core.algebra as A
from matd.core.expr import Node, walk
from matd.core.primitives import PRIMS, NotDifferentiable

_LINEAR = {
    "add": lambda n, da: A.add(*da),
    "neg": lambda n, da: A.neg(da[0]),
    "transpose": lambda n, da: A.transpose(da[0]),
    "broadcast": lambda n, da: A.broadcast(da[0], n.shape),
    "unvec": lambda n, da: A.unvec(da[0], n.params[0]),
}
_LINEAR_RULE = {   # what --steps calls d of the ops above
    "add": "sum rule: d(A + B) = dA + dB",
    "neg": "d(−A) = −dA",
    "transpose": "transpose: d(Aᵀ) = (dA)ᵀ",
    "broadcast": "linearity of broadcasting (a scalar, row or column repeated)",
    "unvec": "linearity of unvec",
}


class NotDifferentiableAt(NotDifferentiable):
    """NotDifferentiable, raised by ``differential`` with the node whose differential does
    not exist (so that a message can point at it)."""

    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.node = node


@dataclass(frozen=True)
class Step:
    """One named rule application of a derivation (what ``matd diff --steps`` shows):
    ``node`` becomes ``result`` by ``rule``.  ``kind`` says how the two relate:

    - ``"d"``: result = d(node), the differential (linear in the dX's);
    - ``"="``: the same numbers for every value of the variables and of the dX's (a
      rewrite, an adjoint ⟨G, L(dY)⟩ = ⟨L*(G), dY⟩, a vec form);
    - ``"read-off"``: result is the derivative ``label`` read off the differential node:
      node = ⟨result, dX⟩ (a gradient), vec(node) = result vec(dX) (a Jacobian, a Hessian
      from d(∂f/∂X)), or node = result dt (df/dt);
    - ``"projection"``: result is node restricted to the variable's structure (equal on
      the directions it allows: ⟨node, dS⟩ = ⟨result, dS⟩ for symmetric dS);
    - ``"layout"``: result = nodeᵀ (the denominator layout).

    ``wrt`` is the variable the step belongs to (None: shared by all), ``order`` 2 for the
    steps of the second derivative."""

    rule: str
    node: Node
    result: Node
    kind: str = "d"
    label: str = ""
    wrt: str | None = None
    order: int = 1


def simplified(e: Node, simp, simplifier, steps: list | None, label: str = "") -> Node:
    """``simp(e)``; with ``steps``, also the step e = simp(e) naming the rewrite rules that
    fired (read from ``simplifier.fired``, the Simplifier ``simp`` uses)."""
    if steps is None or simplifier is None:
        return simp(e)
    fired: list = []
    before = simplifier.fired
    simplifier.fired = fired
    try:
        out = simp(e)
    finally:
        simplifier.fired = before
        if before is not None:
            before.extend(fired)
    if out is not e:
        steps.append(Step(simplification_rule(fired), e, out, "=", label))
    return out


def simplification_rule(fired) -> str:
    """The name of a simplification step: the rules that fired, with what each does."""
    from matd.core.rules import RULES
    docs = {r.name: r.doc for r in RULES}
    names = list(dict.fromkeys(fired))
    if not names:
        return ("simplification (the algebra's canonical form: zeros and identities "
                "dropped, transposes pushed down, sums and products flattened)")
    return "simplification: " + "; ".join(f"{n} ({docs[n]})" if n in docs else n
                                          for n in names)


def zero_like(n: Node) -> Node:
    return A.const(0) if n.is_scalar else A.zeros(n.shape)


def differential(f: Node, wrt, steps: list | None = None, names: dict | None = None) -> Node:
    """df with respect to the variables named in ``wrt`` (others are constants)."""
    wrt = set(wrt)
    memo: dict[Node, Node] = {}
    for node in walk(f):
        op = node.op
        if op == "var":
            d = A.dvar(node) if node.params[0] in wrt else zero_like(node)
        elif not node.args:
            d = zero_like(node)
        else:
            da = [memo[a] for a in node.args]
            if all(A.is_zero(x) for x in da):
                d = zero_like(node)
            else:
                prim = PRIMS[op]
                if prim.linear:
                    d = _LINEAR[op](node, da) if op in _LINEAR else \
                        A.fn(op, *da, params=node.params)
                    rule = _LINEAR_RULE.get(op) or f"linearity of {prim.doc}"
                else:
                    try:
                        d = prim.d(node, node.args, da)
                    except NotDifferentiableAt:
                        raise
                    except NotDifferentiable as e:
                        raise NotDifferentiableAt(str(e), node) from None
                    rule = prim.doc
                if steps is not None:
                    if names and node in names:
                        rule = f"chain rule through {names[node]}: {rule}"
                    steps.append(Step(rule, node, d))
        memo[node] = d
    return memo[f]


def has_dvar(n: Node, memo: dict) -> bool:
    got = memo.get(n)
    if got is None:
        got = n.op == "dvar" or any(has_dvar(a, memo) for a in n.args)
        memo[n] = got
    return got
