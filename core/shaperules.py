"""Shape rules of the primitives: argument shapes -> result shape.

Each rule takes a ``Unifier`` (inference binds unknown dims through it; on
final IR it only compares), the argument shapes and the node's params, and
returns the result shape or raises ``ShapeFail`` naming the arguments at fault.

>>> from matd.core.shapes import Unifier, Dim, ONE
>>> m, n = Dim.sym("m"), Dim.sym("n")
>>> r = r_matmul(Unifier(), [(m, n), (n, ONE)], ())
>>> str(r[0]), str(r[1])
('m', '1')
"""
from __future__ import annotations

from typing import Callable

from matd.core.shapes import ONE, SCALAR, Clash, Dim, shape_str


class ShapeFail(Exception):
    """A shape rule's complaint; ``culprits`` are argument indices (for spans)."""

    def __init__(self, message: str, culprits=(0,), hint: str | None = None):
        super().__init__(message)
        self.message, self.culprits, self.hint = message, tuple(culprits), hint


def _show(u, s) -> str:
    return shape_str(u.resolve_shape(s))


def _eq(u, a: Dim, b: Dim, fail: Callable[[], ShapeFail]) -> None:
    try:
        u.unify(a, b)
    except Clash:
        raise fail() from None


def need_square(u, s, what: str, i: int = 0) -> Dim:
    _eq(u, s[0], s[1], lambda: ShapeFail(
        f"{what} needs a square matrix, got {_show(u, s)}", (i,),
        "rows and columns must agree"))
    return s[0]


def same_shape(u, s, t, what: str, i: int = 0, j: int = 1):
    def fail():
        return ShapeFail(f"{what}: shapes {_show(u, s)} and {_show(u, t)} differ", (i, j),
                         "both operands must have the same shape")
    _eq(u, s[0], t[0], fail)
    _eq(u, s[1], t[1], fail)
    return s


def need_scalar(u, s, what: str, i: int = 0):
    def fail():
        return ShapeFail(f"{what} needs a scalar, got {_show(u, s)}", (i,))
    _eq(u, s[0], ONE, fail)
    _eq(u, s[1], ONE, fail)


def need_vector(u, s, what: str, i: int = 0):
    _eq(u, s[1], ONE, lambda: ShapeFail(f"{what} needs a vector, got {_show(u, s)}", (i,)))


def r_same(u, ss, p):
    return ss[0]


def r_same2(what):
    def rule(u, ss, p):  # n-ary after simplification
        for i in range(1, len(ss)):
            same_shape(u, ss[0], ss[i], what, 0, i)
        return ss[0]
    return rule


def r_scalar(u, ss, p):
    return SCALAR


def r_square(what):
    def rule(u, ss, p):
        n = need_square(u, ss[0], what)
        return (n, n)
    return rule


def r_square_scalar(what):
    def rule(u, ss, p):
        need_square(u, ss[0], what)
        return SCALAR
    return rule


def r_transpose(u, ss, p):
    return (ss[0][1], ss[0][0])


def r_matmul(u, ss, p):  # a chain: binary from the parser, n-ary after simplification
    for i in range(1, len(ss)):
        (_, n), (n2, _) = ss[i - 1], ss[i]
        _eq(u, n, n2, lambda: ShapeFail(
            f"matrix product of {_show(u, ss[i - 1])} and {_show(u, ss[i])}", (i - 1, i),
            f"the inner dimensions {u.resolve(n)} and {u.resolve(n2)} must agree"))
    return (ss[0][0], ss[-1][1])


def r_smul(u, ss, p):
    need_scalar(u, ss[0], "scaling")
    return ss[1]


def r_div(u, ss, p):
    need_scalar(u, ss[1], "division", 1)
    return ss[0]


def r_epow(u, ss, p):
    need_scalar(u, ss[1], "the exponent of a power", 1)
    return ss[0]


def r_kron(u, ss, p):
    (m, n), (r, c) = ss
    return (u.resolve(m) * u.resolve(r), u.resolve(n) * u.resolve(c))


def r_vec(u, ss, p):
    m, n = ss[0]
    return (u.resolve(m) * u.resolve(n), ONE)


def r_diag(u, ss, p):
    s = u.resolve_shape(ss[0])
    if s[1].is_one:           # a vector (or a scalar) -> a diagonal matrix
        return (s[0], s[0])
    n = need_square(u, s, "diag of a matrix")
    return (n, ONE)


def r_pinv(u, ss, p):
    return (ss[0][1], ss[0][0])


def r_vector(what):
    def rule(u, ss, p):
        need_vector(u, ss[0], what)
        return ss[0]
    return rule


def r_dot(u, ss, p):
    same_shape(u, ss[0], ss[1], "dot")
    return SCALAR


def r_mpow(u, ss, p):
    n = need_square(u, ss[0], "a matrix power")
    return (n, n)


def r_leaf(u, ss, p):  # leaves carry their shape
    raise AssertionError("leaf shapes are given, not computed")


def r_unvec(u, ss, p):
    """unvec(v, m): an (m·n)-vector as an m×n matrix (params: (m,))."""
    m = p[0]
    rows = u.resolve(ss[0][0])
    n = rows.divide(m)
    if n is None:
        raise ShapeFail(f"unvec: {rows} rows are not a multiple of {m}", (0,))
    return (m, n)


def r_vector_of_square(u, ss, p):
    n = need_square(u, ss[0], "an eigenvector")
    return (n, ONE)


def r_left_vector(u, ss, p):
    return (ss[0][0], ONE)


def r_right_vector(u, ss, p):
    return (ss[0][1], ONE)
