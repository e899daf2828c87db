"""Simplification to a canonical form: rebuild bottom-up through the algebra's
constructors, then apply the rules of ``matd.core.rules`` at each node until
none applies (each node at most ``MAX_PASSES`` times).  Memoized on the DAG, so
shared subexpressions are simplified once and stay shared.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.printers import to_matd
>>> to_matd(simplify(parse_program("X: m x n; A: m x n; (A^T X)^T + 2 X^T A").result))
'3 X^T A'
"""
from __future__ import annotations

import matd.core.algebra as A
from matd.core.expr import Node
from matd.core.rules import BY_OP

MAX_PASSES = 8
MAX_DEPTH = 4   # levels of new nodes that rewrites make, simplified in turn

_BUILD = {
    "add": lambda n, a: A.add(*a),
    "neg": lambda n, a: A.neg(a[0]),
    "matmul": lambda n, a: A.matmul(*a),
    "smul": lambda n, a: A.smul(*a),
    "div": lambda n, a: A.div(*a),
    "hadamard": lambda n, a: A.hadamard(*a),
    "hdiv": lambda n, a: A.hdiv(*a),
    "kron": lambda n, a: A.kron(*a),
    "transpose": lambda n, a: A.transpose(a[0]),
    "inv": lambda n, a: A.inv(a[0]),
    "mpow": lambda n, a: A.mpow(a[0], n.params[0]),
    "epow": lambda n, a: A.epow(*a),
    "broadcast": lambda n, a: A.broadcast(a[0], n.shape),
    "unvec": lambda n, a: A.unvec(a[0], n.params[0]),
}


def rebuild(n: Node, args) -> Node:
    """The node with new children, through the constructor that canonicalizes it."""
    if not n.args:
        return n
    if n.op in _BUILD:
        return _BUILD[n.op](n, list(args))
    if n.op == "ufunc":
        return Node.make("ufunc", tuple(args), n.params, args[0].shape)
    return A.fn(n.op, *args, params=n.params)


class Simplifier:
    def __init__(self, fired: list | None = None):
        self.memo: dict[Node, Node] = {}
        self.fired = fired
        self.cut = 0   # how often the depth limit stopped simplifying (see deep)

    def __call__(self, root: Node) -> Node:
        memo = self.memo
        stack = [(root, False)]
        while stack:  # children first; what is memoized already is not walked again
            n, ready = stack.pop()
            if n in memo:
                continue
            if not ready:
                stack.append((n, True))
                stack.extend((a, False) for a in n.args if a not in memo)
                continue
            # rebuilding may make new children (a product loses a factor, a scalar moves
            # out): those are simplified too, not taken as canonical
            r = self.deep(rebuild(n, [memo[a] for a in n.args]), 0)
            memo[n] = r
            memo.setdefault(r, r)   # canonical forms are fixed points
        return memo[root]

    def node(self, n: Node, depth: int = 0) -> Node:
        """Apply rules at n (children already simple) until none fires."""
        for _ in range(MAX_PASSES):
            for rule in BY_OP.get(n.op, ()):
                out = rule.rewrite(n)
                if out is not None and out is not n:
                    if self.fired is not None:
                        self.fired.append(rule.name)
                    # the rewrite builds new nodes from simple parts: simplify them too
                    n = self.deep(out, depth + 1)
                    if self.memo.get(n) is n:   # simplified all through: no rule applies
                        return n
                    break
            else:
                return n
        return n

    def deep(self, n: Node, depth: int) -> Node:
        """n simplified, new children first, rules applied to at most MAX_DEPTH levels of
        nodes that rewrites make.  What is simplified without reaching that depth is
        memoized: rewrites make the same new nodes again and again."""
        memo = self.memo
        if n in memo:
            return memo[n]
        if depth > MAX_DEPTH:
            self.cut += 1
            return n
        cut = self.cut
        args = [memo[a] if a in memo else self.deep(a, depth + 1) for a in n.args]
        out = self.node(rebuild(n, args), depth)
        if self.cut == cut:   # complete: a canonical form
            memo[n] = out
            memo.setdefault(out, out)
        return out


def simplify(root: Node, fired: list | None = None, using: Simplifier | None = None) -> Node:
    """The canonical form of ``root`` (idempotent; terminates on every input).

    ``using`` shares one memo across calls, so simplifying many derivatives of one
    expression (every variable's gradient) costs the size of their DAG, not the sum."""
    s = using or Simplifier(fired)
    out = s(root)
    if out is not root:
        out = s(out)
        s.memo[out] = out
    return out
