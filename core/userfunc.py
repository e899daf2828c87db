"""User elementwise functions: their derivative, by sympy (imported only here).

``softplus2(t) = log(1 + exp(2 t))`` is a scalar body; applied to a matrix it
acts entrywise.  Its derivative is sympy's derivative of the body, turned back
into IR entrywise in the argument.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.printers import to_matd
>>> p = parse_program("sq(t) = t^3; X: m x n; sum(sq(X))")
>>> app = p.result.args[0]
>>> to_matd(derivative_at(app.params[0], app.args[0]))
'3 X.^2'
"""
from __future__ import annotations

from functools import lru_cache

import matd.core.algebra as A
from matd.core.expr import Node

_FUNCS = ("exp", "log", "sin", "cos", "tanh", "sqrt")


def _to_sympy(node: Node, env: dict):
    import sympy as sp
    op, a = node.op, node.args
    if op == "var":
        return env[node.params[0]]
    if op == "const":
        v = node.params[0]
        return sp.Integer(v) if isinstance(v, int) else sp.Float(v)
    args = [_to_sympy(x, env) for x in a]
    if op == "add":
        return sp.Add(*args)
    if op == "neg":
        return -args[0]
    if op in ("smul", "matmul", "hadamard"):
        return sp.Mul(*args)
    if op in ("div", "hdiv"):
        return args[0] / args[1]
    if op == "epow":
        return args[0] ** args[1]
    if op in ("broadcast", "transpose", "tr", "sum", "diag"):
        return args[0]
    if op in _FUNCS:
        return getattr(sp, op)(args[0])
    if op == "abs":
        return sp.Abs(args[0])
    if op == "sigmoid":
        return 1 / (1 + sp.exp(-args[0]))
    if op == "softplus":
        return sp.log(1 + sp.exp(args[0]))
    if op == "relu":
        return sp.Max(0, args[0])
    if op == "step":
        return sp.Heaviside(args[0], 0)
    if op == "sign":
        return sp.sign(args[0])
    if op == "ufunc":
        uf = node.params[0]
        return _to_sympy(uf.body, {uf.params[0]: args[0]})
    raise ValueError(f"{op} cannot appear in a user function's body")


def _from_sympy(e, x: Node) -> Node:
    """A sympy expression in the symbol ``t`` as IR applied entrywise to ``x``."""

    def num(v):
        v = int(v) if v.is_Integer else float(v)
        return A.lift(v, x)

    def go(e):
        if e.is_Symbol:
            return x
        if e.is_Number:
            return num(e)
        args = [go(a) for a in e.args]
        if e.is_Add:
            return A.add(*args)
        if e.is_Mul:
            tops = [a for a in e.args if not (a.is_Pow and a.args[1].is_Number and a.args[1] < 0)]
            den = [a.args[0] ** -a.args[1] for a in e.args if a not in tops]
            out = None
            for a in tops:
                out = go(a) if out is None else A.hadamard(out, go(a))
            if out is None:
                out = A.lift(1, x)
            for a in den:
                out = A.hdiv(out, go(a))
            return out
        if e.is_Pow:
            base, ex = e.args
            if ex.is_Number:
                return A.epow(go(base), A.const(int(ex) if ex.is_Integer else float(ex)))
            return A.epow(go(base), go(ex))
        name = type(e).__name__
        if name in ("exp", "log", "sin", "cos", "tanh"):
            return A.fn(name, args[0])
        if name == "Abs":
            return A.fn("abs", args[0])
        if name == "sign":
            return A.fn("sign", args[0])
        if name == "Heaviside":
            return A.fn("step", args[0])
        if name == "Max" and any(a == 0 for a in e.args):
            return A.fn("relu", go([a for a in e.args if a != 0][0]))
        raise ValueError(f"cannot express {e} in matd")

    return go(e)


@lru_cache(maxsize=None)
def _derivative_expr(uf):
    import sympy as sp
    t = sp.Symbol("t", real=True)
    body = _to_sympy(uf.body, {uf.params[0]: t})
    return sp.simplify(sp.diff(body, t)), t


def derivative_at(uf, x: Node) -> Node:
    """f'(x) entrywise, for the user function ``uf`` applied to ``x``."""
    expr, t = _derivative_expr(uf)
    return _from_sympy(expr.subs(t, t), x)
