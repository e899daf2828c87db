"""Numeric evaluation of IR through the array-API namespace (numpy by default).

Inside, every value is a 2-D array: vectors are n×1 and scalars 1×1
(DESIGN §2 shapes apply at the boundary, in ``to_user``).  Each shared
subexpression is computed once.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("A: 2 x 2; x: 2; x^T A x")
>>> float(evaluate(p.result, {"A": np.eye(2), "x": np.array([[1.], [2.]])}, {})[0, 0])
5.0
"""
from __future__ import annotations

from matd.core.expr import Node, walk
from matd.core.primitives import PRIMS
from matd.core.shapes import Dim


class _At:
    """What a kernel sees of its node: params and the concrete shape."""

    __slots__ = ("params", "shape", "node")

    def __init__(self, node, shape):
        self.node, self.params, self.shape = node, node.params, shape


def size(d: Dim, sizes: dict) -> int:
    out = d.coef
    for f in d.factors:
        out *= sizes[f]
    return out


def evaluate(root: Node, env: dict, sizes: dict, xp=None, denv: dict | None = None,
             dtype=None):
    """The value of ``root`` given variables ``env`` (2-D arrays) and dim ``sizes``.

    ``denv`` gives the arrays for differentials (``dX`` leaves), by variable name.
    """
    if xp is None:
        import numpy as xp
    dtype = dtype or xp.float64
    memo: dict[Node, object] = {}
    for n in walk(root):
        op = n.op
        shape = (size(n.shape[0], sizes), size(n.shape[1], sizes))
        if op == "var":
            v = env[n.params[0]]
        elif op == "dvar":
            v = (denv or {})[n.params[0]]
        elif op == "const":
            v = xp.full((1, 1), n.params[0], dtype=dtype)
        elif op == "dim":
            v = xp.full((1, 1), size(n.params[0], sizes), dtype=dtype)
        elif op == "eye":
            v = xp.eye(shape[0], dtype=dtype)
        elif op == "ones":
            v = xp.ones(shape, dtype=dtype)
        elif op == "zeros":
            v = xp.zeros(shape, dtype=dtype)
        elif op == "commutation":
            from matd.core.primitives import _commutation
            v = _commutation(xp, size(n.params[0], sizes), size(n.params[1], sizes), dtype)
        elif op == "ufunc":
            uf = n.params[0]
            v = evaluate(uf.body, {uf.params[0]: memo[n.args[0]]}, {}, xp, dtype=dtype)
            v = xp.broadcast_to(v, shape) if v.shape != shape else v
        else:
            v = PRIMS[op].kernel(xp, _At(n, shape), *(memo[a] for a in n.args))
        memo[n] = v
    return memo[root]
