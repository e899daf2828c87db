"""The typed IR: immutable, hash-consed expression nodes.

Every node is ``Node(op, args, params, shape)``: ``op`` names a row of the
primitive table (``matd.core.primitives``), ``args`` are child nodes,
``params`` are hashable constants (a variable's name, a number, a target
shape), ``shape`` is a pair of ``Dim``.  Nodes are interned: building the same
structure twice returns the same object, so equality and hashing are identity
(O(1)) and equal subtrees are shared (the IR is a DAG).

>>> from matd.core.shapes import Dim
>>> n = Dim.sym("n")
>>> x = Node.make("var", (), ("x",), (n, Dim.const(1)))
>>> x is Node.make("var", (), ("x",), (n, Dim.const(1)))
True
"""
from __future__ import annotations

import weakref


class Node:
    __slots__ = ("op", "args", "params", "shape", "is_scalar", "__weakref__")
    _table: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()

    def __init__(self, *a, **k):  # pragma: no cover - use Node.make
        raise TypeError("use Node.make(op, args, params, shape)")

    @classmethod
    def make(cls, op: str, args: tuple = (), params: tuple = (), shape=None) -> "Node":
        key = (op, args, params, shape)
        node = cls._table.get(key)
        if node is None:
            node = object.__new__(cls)
            object.__setattr__(node, "op", op)
            object.__setattr__(node, "args", args)
            object.__setattr__(node, "params", params)
            object.__setattr__(node, "shape", shape)
            # 1×1: asked of every node by every constructor and rule, so computed once
            object.__setattr__(node, "is_scalar", shape[0].is_one and shape[1].is_one)
            cls._table[key] = node
        return node

    def __setattr__(self, name, value):
        raise AttributeError("IR nodes are immutable")

    def __repr__(self) -> str:
        from matd.core.printers import to_matd
        return f"<{self.op} {to_matd(self)}>"

    def __reduce__(self):
        return (Node.make, (self.op, self.args, self.params, self.shape))

    @property
    def is_vector(self) -> bool:
        return self.shape[1].is_one and not self.shape[0].is_one

    @property
    def name(self) -> str:
        """The name of a ``var`` node."""
        return self.params[0]


def walk(root: Node):
    """Every distinct node of the DAG under ``root``, children before parents."""
    return walk_new(root, set(), [])


def walk_new(root: Node, seen: set, order: list) -> list:
    """Append to ``order`` the nodes under ``root`` whose ids are not in ``seen`` (and add
    them), children before parents; a seen node is not entered (its parts are seen too).
    Returns ``order``."""
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(node.args))
    return order


def free_vars(root: Node) -> list[Node]:
    """The ``var`` leaves of an expression, in order of first appearance."""
    return [n for n in walk(root) if n.op == "var"]
