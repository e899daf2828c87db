"""User elementwise functions: a scalar body applied entrywise, and its derivative.

``softplus2(t) = log(1 + exp(2 t))`` is a scalar body; applied to a matrix it
acts entrywise.  ``entrywise(uf, X)`` is that meaning as IR of built-in
primitives (every scalar operation becomes its entrywise counterpart), which is
what matd evaluates; ``derivative_at(uf, X)`` is f'(X) entrywise, found by
matd's own rules: the differential of the body (the same algorithm and table as
every other expression, so every body matd can write has a derivative), with
dt = 1, applied entrywise.

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
from matd.core.errors import MatdError
from matd.core.expr import Node, walk

# operations of a scalar argument that are already entrywise
_SAME = frozenset(("exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "relu", "sqrt",
                   "abs", "step", "sign"))
# functions of a matrix that, of a 1×1 argument, are the argument itself
_IDENTITY = frozenset(("transpose", "tr", "sum", "diag", "vec", "det", "lambda_max",
                       "lambda_min", "logsumexp"))
# ... or its absolute value
_ABS = frozenset(("norm", "norm1", "specnorm", "nuclear"))


class NotEntrywise(MatdError):
    """A user function's body uses something with no entrywise meaning."""


def _lift(n: Node, args: list[Node], shape, uf) -> Node:
    """One node of a scalar body, entrywise over ``shape`` (args already lifted)."""
    op = n.op

    def full(x: Node) -> Node:
        return x if not x.is_scalar else A.broadcast(x, shape)

    if op == "add":
        return A.add(*(full(a) for a in args))
    if op == "neg":
        return A.neg(args[0])
    if op in ("smul", "matmul", "hadamard", "kron", "dot"):
        out = args[0]
        for b in args[1:]:
            out = A.hadamard(out, b)
        return out
    if op in ("div", "hdiv"):
        return A.div(args[0], args[1]) if args[1].is_scalar else A.hdiv(full(args[0]), args[1])
    if op == "epow":
        if not args[1].is_scalar:   # b^e with e varying: exp(e log b), for b > 0
            return A.fn("exp", A.hadamard(args[1], A.fn("log", args[0])))
        return A.epow(args[0], args[1])
    if op == "mpow":
        return A.epow(args[0], A.const(n.params[0]))
    if op == "inv":
        return A.epow(args[0], A.const(-1))
    if op in _SAME:
        return A.fn(op, args[0])
    if op in _IDENTITY:
        return args[0]
    if op in _ABS:
        return A.fn("abs", args[0])
    if op == "logdet":
        return A.fn("log", A.fn("abs", args[0]))
    if op in ("adj", "softmax"):   # of a 1×1 argument: 1
        return A.broadcast(A.const(1), shape)
    if op == "ufunc":
        return Node.make("ufunc", (full(args[0]),), n.params, shape)
    raise NotEntrywise(f"{uf.name}: {op} has no entrywise meaning in a user function's body",
                       hint="a user function's body is a scalar expression of its parameter "
                       "built from numbers, + - * / ^ and elementwise functions")


def entrywise(uf, x: Node, body: Node | None = None) -> Node:
    """``body`` (default: the function's body), a scalar expression of the parameter,
    with the parameter replaced by ``x`` and every operation entrywise."""
    body = uf.body if body is None else body
    param = uf.params[0]
    memo: dict[Node, Node] = {}
    depends: set[Node] = set()
    for n in walk(body):
        if n.op == "var" and n.params[0] == param:
            memo[n] = x
            depends.add(n)
        elif not any(a in depends for a in n.args):
            memo[n] = n           # a constant part of the body stays as it is
        else:
            depends.add(n)
            memo[n] = _lift(n, [memo[a] for a in n.args], x.shape, uf)
    out = memo[body]
    return out if not out.is_scalar or x.is_scalar else A.broadcast(out, x.shape)


@lru_cache(maxsize=None)
def scalar_derivative(uf) -> Node:
    """f'(t) as a scalar expression of the parameter: the body's differential at dt = 1."""
    from matd.core.differentiate import differential
    from matd.core.primitives import NotDifferentiable
    from matd.core.simplify import rebuild, simplify
    param = uf.params[0]
    try:
        d = differential(uf.body, {param})
    except NotDifferentiable as e:
        raise MatdError(f"{uf.name}: {e}") from None
    memo: dict[Node, Node] = {}
    for n in walk(d):
        if n.op == "dvar" and n.params[0] == param:
            memo[n] = A.const(1)
        else:
            memo[n] = rebuild(n, [memo[a] for a in n.args]) if n.args else n
    return simplify(memo[d])


def check_entrywise(uf) -> None:
    """Raise ``NotEntrywise`` (a user error) when the body or its derivative has no
    entrywise meaning; called when the function is defined."""
    from matd.core.shapes import Dim
    probe = A.var("_t", (Dim.sym("_m"), Dim.sym("_n")))
    entrywise(uf, probe)
    entrywise(uf, probe, scalar_derivative(uf))


def derivative_at(uf, x: Node) -> Node:
    """f'(x) entrywise, for the user function ``uf`` applied to ``x``."""
    return entrywise(uf, x, scalar_derivative(uf))
