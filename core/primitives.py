"""THE primitive table: one row per primitive, everything about it in one place.

A row names the IR op, its surface spellings (function names; operators are
spelled by the grammar), its arity, its shape rule, whether it is linear, and
how it prints (matd text, unicode, LaTeX).  Later columns (differential,
adjoint, numeric kernel) join the same rows.

Shape rules take a ``Unifier`` and the argument shapes (and the node's params)
and return the result shape, or raise ``ShapeFail`` naming the arguments at
fault.

>>> PRIMS["tr"].spellings, PRIMS["tr"].linear
(('tr',), True)
>>> FUNCTIONS["norm2"].op
'norm'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from matd.core.shapes import ONE, SCALAR, Clash, Dim, shape_str

# Precedence levels of DESIGN §1, low to high.
SUM, PROD, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5


class ShapeFail(Exception):
    """A shape rule's complaint; ``culprits`` are argument indices (for spans)."""

    def __init__(self, message: str, culprits=(0,), hint: str | None = None):
        super().__init__(message)
        self.message, self.culprits, self.hint = message, tuple(culprits), hint


# --- printing columns -------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """``name(args)``; ``uni`` and ``latex`` name it in those formats."""

    name: str
    uni: str | None = None
    latex: str | None = None


@dataclass(frozen=True)
class Infix:
    text: str
    uni: str
    latex: str
    prec: int


@dataclass(frozen=True)
class Prefix:
    text: str
    prec: int = UNARY


@dataclass(frozen=True)
class Postfix:
    text: str
    uni: str
    latex: str


@dataclass(frozen=True)
class Wrap:
    """``open args close``, e.g. ‖x‖ or ⟨x, y⟩."""

    open: str
    close: str


@dataclass(frozen=True)
class Leaf:
    """Printed by the printers' leaf handler (names, numbers, eye, ones, …)."""


@dataclass(frozen=True)
class Prim:
    op: str
    arity: int
    shape: Callable
    show: object
    spellings: tuple[str, ...] = ()
    linear: bool = False
    doc: str = ""
    domain: dict = field(default_factory=dict)  # argument index -> input kind (spd, pos, …)


# --- shape rules --------------------------------------------------------------
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
    return lambda u, ss, p: same_shape(u, ss[0], ss[1], what)


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


def r_matmul(u, ss, p):
    (m, n), (n2, q) = ss
    _eq(u, n, n2, lambda: ShapeFail(
        f"matrix product of {_show(u, ss[0])} and {_show(u, ss[1])}", (0, 1),
        f"the inner dimensions {u.resolve(n)} and {u.resolve(n2)} must agree"))
    return (m, q)


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


def _norm(name, sub):
    tail = f"_{sub}" if sub else ""
    ltail = f"_{{{sub}}}" if sub else ""
    return {"matd": Call(name), "unicode": Wrap("‖", "‖" + tail),
            "latex": Wrap(r"\left\|", r"\right\|" + ltail)}


# --- the table ------------------------------------------------------------------
def _elementwise(op, latex=None, uni=None, doc="", domain=None, spellings=None):
    return Prim(op, 1, r_same, Call(op, uni, latex), spellings or (op,), doc=doc,
                domain=domain or {})


_ROWS = [
    # leaves
    Prim("var", 0, r_leaf, Leaf(), doc="a variable"),
    Prim("const", 0, r_leaf, Leaf(), doc="a number"),
    Prim("dim", 0, r_leaf, Leaf(), doc="a dimension used as a scalar"),
    Prim("eye", 0, r_leaf, Leaf(), ("eye",), doc="the identity matrix I"),
    Prim("ones", 0, r_leaf, Leaf(), ("ones",), doc="a vector or matrix of ones"),
    Prim("zeros", 0, r_leaf, Leaf(), ("zeros",), doc="a matrix of zeros"),
    # operators
    Prim("add", 2, r_same2("sum"), Infix("+", "+", "+", SUM), linear=True, doc="A + B"),
    Prim("neg", 1, r_same, Prefix("-"), linear=True, doc="-A"),
    Prim("matmul", 2, r_matmul, Infix(" ", " ", r"\,", PROD), doc="matrix product A B"),
    Prim("smul", 2, r_smul, Infix(" ", " ", r"\,", PROD), doc="scalar times array, c A"),
    Prim("div", 2, r_div, Infix("/", "/", "/", PROD), doc="A / c, c a scalar"),
    Prim("hadamard", 2, r_same2("Hadamard product"), Infix(".*", "∘", r"\odot", PROD),
         doc="elementwise product"),
    Prim("hdiv", 2, r_same2("elementwise division"), Infix("./", "⊘", r"\oslash", PROD),
         doc="elementwise division"),
    Prim("kron", 2, r_kron, {"matd": Call("kron"), "unicode": Infix("⊗", "⊗", "⊗", PROD),
                             "latex": Infix("⊗", "⊗", r"\otimes", PROD)}, ("kron",),
         doc="Kronecker product"),
    Prim("transpose", 1, r_transpose, Postfix("^T", "ᵀ", r"^{\top}"), linear=True,
         doc="transpose"),
    Prim("inv", 1, r_square("inverse"), Postfix("^-1", "⁻¹", "^{-1}"), ("inv",),
         doc="matrix inverse"),
    Prim("mpow", 1, r_mpow, Postfix("^", "^", "^"), doc="matrix power X^k, integer k"),
    Prim("epow", 2, r_epow, Infix(".^", "^", "^", POSTFIX), doc="elementwise power"),
    Prim("broadcast", 1, r_leaf, Leaf(), linear=True,
         doc="a scalar, row or column repeated to a shape (implicit in +)"),
    Prim("ufunc", 1, r_same, Leaf(), doc="a user-defined elementwise function"),
    # linear functions
    Prim("tr", 1, r_square_scalar("tr"), Call("tr", latex=r"\operatorname{tr}"), ("tr",),
         linear=True, doc="trace"),
    Prim("diag", 1, r_diag, Call("diag", latex=r"\operatorname{diag}"), ("diag",),
         linear=True, doc="vector -> diagonal matrix; square matrix -> its diagonal"),
    Prim("vec", 1, r_vec, Call("vec", latex=r"\operatorname{vec}"), ("vec",), linear=True,
         doc="stack columns"),
    Prim("sum", 1, r_scalar, Call("sum", latex=r"\operatorname{sum}"), ("sum",), linear=True,
         doc="sum of all entries"),
    # matrix functions
    Prim("det", 1, r_square_scalar("det"), Call("det", latex=r"\det"), ("det",),
         doc="determinant"),
    Prim("logdet", 1, r_square_scalar("logdet"),
         {"matd": Call("logdet"), "unicode": Call("logdet"),
          "latex": Wrap(r"\log\left|\det\left(", r"\right)\right|")}, ("logdet",),
         doc="log |det X|"),
    Prim("pinv", 1, r_pinv, {"matd": Call("pinv"), "unicode": Postfix("⁺", "⁺", "⁺"),
                             "latex": Postfix("^{+}", "^{+}", "^{+}")}, ("pinv",),
         doc="pseudo-inverse"),
    Prim("adj", 1, r_square("adj"), Call("adj", latex=r"\operatorname{adj}"), ("adj",),
         doc="adjugate"),
    # elementwise functions
    _elementwise("exp", r"\exp"),
    _elementwise("log", r"\log"),
    _elementwise("sin", r"\sin"),
    _elementwise("cos", r"\cos"),
    _elementwise("tanh", r"\tanh"),
    _elementwise("sigmoid", r"\sigma", "σ"),
    _elementwise("softplus", r"\operatorname{softplus}"),
    _elementwise("relu", r"\operatorname{relu}"),
    Prim("sqrt", 1, r_same, {"matd": Call("sqrt"), "unicode": Call("√"),
                             "latex": Wrap(r"\sqrt{", "}")}, ("sqrt",)),
    Prim("abs", 1, r_same, {"matd": Call("abs"), "unicode": Wrap("|", "|"),
                            "latex": Wrap(r"\left|", r"\right|")}, ("abs",)),
    # reductions and norms
    Prim("norm", 1, r_scalar, _norm("norm", ""), ("norm", "norm2"),
         doc="2-norm of a vector, Frobenius norm of a matrix"),
    Prim("norm1", 1, r_scalar, _norm("norm1", "1"), ("norm1",),
         doc="sum of absolute entries"),
    Prim("specnorm", 1, r_scalar, _norm("specnorm", "2"), ("specnorm",),
         doc="largest singular value"),
    Prim("nuclear", 1, r_scalar, _norm("nuclear", "*"), ("nuclear",),
         doc="sum of singular values"),
    Prim("logsumexp", 1, r_scalar, Call("logsumexp", latex=r"\operatorname{logsumexp}"),
         ("logsumexp",), doc="log of the sum of exponentials of the entries"),
    Prim("softmax", 1, r_vector("softmax"), Call("softmax", latex=r"\operatorname{softmax}"),
         ("softmax",), doc="exp(x) / sum(exp(x)) of a vector"),
    Prim("dot", 2, r_dot, {"matd": Call("dot"), "unicode": Wrap("⟨", "⟩"),
                           "latex": Wrap(r"\left\langle ", r"\right\rangle")}, ("dot",),
         doc="inner product ⟨x, y⟩"),
    # spectral
    Prim("lambda_max", 1, r_square_scalar("lambda_max"),
         Call("lambda_max", "λmax", r"\lambda_{\max}"), ("lambda_max",),
         doc="largest eigenvalue of a symmetric matrix"),
    Prim("lambda_min", 1, r_square_scalar("lambda_min"),
         Call("lambda_min", "λmin", r"\lambda_{\min}"), ("lambda_min",),
         doc="smallest eigenvalue of a symmetric matrix"),
]

PRIMS: dict[str, Prim] = {p.op: p for p in _ROWS}
FUNCTIONS: dict[str, Prim] = {s: p for p in _ROWS for s in p.spellings}
ELEMENTWISE = frozenset(p.op for p in _ROWS if p.shape is r_same and p.arity == 1
                        and p.op not in ("neg", "ufunc"))  # exp, log, …, abs

assert len(PRIMS) == len(_ROWS), "duplicate op in the primitive table"
