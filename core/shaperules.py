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
    if a == b:   # equal as written (all of final IR): nothing to bind
        return
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


def r_axis(u, ss, p):
    """A reduction along MATLAB dimension k (params: (k,)): k = 1 sums down the columns
    (1×n), k = 2 across the rows (m×1)."""
    m, n = ss[0]
    return (ONE, n) if p[0] == 1 else (m, ONE)


def r_solve(u, ss, p):
    n = need_square(u, ss[0], "solve(A, B): A")
    _eq(u, n, ss[1][0], lambda: ShapeFail(
        f"solve(A, B): A is {_show(u, ss[0])} but B is {_show(u, ss[1])}", (0, 1),
        "B needs as many rows as A"))
    return (n, ss[1][1])


def r_eigvals(u, ss, p):
    n = need_square(u, ss[0], "the eigenvalues")
    return (n, ONE)


def r_columns_vector(u, ss, p):
    """One entry per column: the singular values of a tall (m ≥ n) matrix."""
    return (ss[0][1], ONE)


def r_columns_square(u, ss, p):
    """n×n for an m×n argument: V of a thin SVD, R of a thin QR."""
    return (ss[0][1], ss[0][1])


def r_gaps(u, ss, p):
    need_vector(u, ss[0], "gapinv")
    return (ss[0][0], ss[0][0])


def r_frechet(u, ss, p):
    n = need_square(u, ss[0], "expm_frechet(A, E): A")
    same_shape(u, ss[0], ss[1], "expm_frechet(A, E)")
    return (n, n)


def r_sylvester(u, ss, p):
    """sylvester(A, B, C): the Y (n×k) with A Y + Y B = C, A n×n, B k×k."""
    n = need_square(u, ss[0], "sylvester(A, B, C): A")
    k = need_square(u, ss[1], "sylvester(A, B, C): B", 1)
    same_shape(u, ss[2], (n, k), "sylvester(A, B, C): C", 2)
    return (n, k)


def r_softmax(u, ss, p):
    def fail():
        return ShapeFail(f"softmax of a {_show(u, ss[0])} matrix needs a dimension", (0,),
                         "softmax(Z, 2) normalizes each row (as in attention), softmax(Z, 1) "
                         "each column")
    _eq(u, ss[0][1], ONE, fail)
    return ss[0]


def r_frechet2(u, ss, p):
    n = need_square(u, ss[0], "expm_frechet2(A, E, F): A")
    same_shape(u, ss[0], ss[1], "expm_frechet2(A, E, F)")
    same_shape(u, ss[0], ss[2], "expm_frechet2(A, E, F)", 0, 2)
    return (n, n)
