"""THE primitive table: one row per primitive, everything about it in one place.

A row holds: the IR op and its surface spellings (function names; operators
are spelled by the grammar), arity, shape rule (``matd.core.shaperules``),
printing (matd text, unicode, LaTeX), and the calculus and numbers:

- ``d(n, a, da)``: the differential of node ``n`` with arguments ``a`` and
  their differentials ``da``, written with IR operators (``matd.core.algebra``).
  Linear primitives say ``linear=True`` instead: d f(X) = f(dX).
- ``adjoint(n, i, G)``: for a primitive linear in argument i (with the others
  fixed), the cotangent of argument i given the cotangent G of ``n``:
  ⟨G, L(dY)⟩ = ⟨L*(G), dY⟩.  Reading off gradients transposes differentials
  with it (reverse mode on the IR).
- ``vjac(n, i)``: the matrix M with vec(L(dY)) = M vec(dY) (Kronecker form),
  for Jacobians, vec-Jacobians and Hessians.
- ``kernel(xp, n, *arrays)``: the numeric value through the array API
  namespace ``xp`` (numpy or CuPy); arrays are 2-D (vectors n×1, scalars 1×1);
  ``n.params`` are the node's params and ``n.shape`` its concrete shape.
- ``sample``: a matd program using the primitive and the input kinds its
  variables need; the tests walk the table and check every ``d`` against
  central finite differences on it.  Adding a primitive is adding a row.

>>> PRIMS["tr"].spellings, PRIMS["tr"].linear
(('tr',), True)
>>> FUNCTIONS["norm2"].op
'norm'
"""
from __future__ import annotations

from typing import NamedTuple
from typing import Callable

from matd.core.shapes import ONE
from matd.core.shaperules import (ShapeFail, r_dot, r_diag, r_div, r_epow, r_kron, r_leaf,
                                  r_matmul, r_mpow, r_pinv, r_same, r_same2, r_scalar, r_smul,
                                  r_square, r_square_scalar, r_transpose, r_vec, r_vector,
                                  r_vector_of_square, r_left_vector, r_right_vector,
                                  r_unvec)

__all__ = ["PRIMS", "FUNCTIONS", "Prim", "ShapeFail", "NotDifferentiable", "NoClosedForm"]

# Precedence levels of DESIGN §1, low to high.
SUM, PROD, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5


# --- printing columns -------------------------------------------------------
class Call(NamedTuple):
    """``name(args)``; ``uni`` and ``latex`` name it in those formats."""

    name: str
    uni: str | None = None
    latex: str | None = None


class Infix(NamedTuple):
    text: str
    uni: str
    latex: str
    prec: int


class Prefix(NamedTuple):
    text: str
    prec: int = UNARY


class Postfix(NamedTuple):
    text: str
    uni: str
    latex: str


class Wrap(NamedTuple):
    """``open args close``, e.g. ‖x‖ or ⟨x, y⟩."""

    open: str
    close: str


class Leaf(NamedTuple):
    """Printed by the printers' leaf handler (names, numbers, eye, ones, …)."""

    leaf: bool = True


class NotDifferentiable(Exception):
    """No closed-form differential (e.g. of an eigenvector primitive)."""


class NoClosedForm(Exception):
    """A read-off (adjoint, Kronecker form) with no closed matrix expression."""


class Prim(NamedTuple):
    op: str
    arity: int
    shape: Callable
    show: object
    spellings: tuple[str, ...] = ()
    linear: bool = False
    doc: str = ""
    d: Callable | None = None
    adjoint: Callable | None = None
    vjac: Callable | None = None
    kernel: Callable | None = None
    py: str | None = None         # numpy source template ({0}, {1}: arguments; n-ary
                                  # add and matmul join theirs with + and @ into {0})
    py_helper: str = ""           # source of a helper function the template calls
    sample: tuple[str, dict] | None = None


def _norm(name, sub):
    tail = f"_{sub}" if sub else ""
    ltail = f"_{{{sub}}}" if sub else ""
    return {"matd": Call(name), "unicode": Wrap("‖", "‖" + tail),
            "latex": Wrap(r"\left\|", r"\right\|" + ltail)}


_SIGMOID_SRC = """def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)"""
_DIV_SRC = """def _div(x, s):
    with np.errstate(invalid="ignore", divide="ignore"):
        q = x / s
    return np.where((s == 0) & (x == 0), 0.0, q)"""
_LSE_SRC = """def _logsumexp(x):
    m = np.max(x)
    return (m + np.log(np.sum(np.exp(x - m)))).reshape(1, 1)"""
_DIAG_SRC = """def _diag(x):
    if x.shape[1] == 1 and x.shape[0] > 1:
        return np.diag(x[:, 0])
    return np.diagonal(x).reshape(-1, 1)"""
_POLAR_SRC = """def _polar(x):
    u, _, vh = np.linalg.svd(x, full_matrices=False)
    return u @ vh"""


# --- helpers the columns share ---------------------------------------------------------
def _s(xp, x):
    """A 0-d or 1-element result as a 1×1 array."""
    return xp.reshape(x, (1, 1))


def _chain_adjoint(n, i, G):
    """A₁…Aᵢ₋₁ dY Aᵢ₊₁…Aₖ  ↦  (A₁…Aᵢ₋₁)ᵀ G (Aᵢ₊₁…Aₖ)ᵀ."""
    f = n.args
    left = [A.transpose(x) for x in reversed(f[:i])]
    right = [A.transpose(x) for x in reversed(f[i + 1:])]
    return A.matmul(*left, G, *right)


def _chain_vjac(n, i):
    """vec(L dY R) = (Rᵀ ⊗ L) vec(dY)."""
    f = n.args
    y = f[i]
    L = A.matmul(*f[:i]) if i else A.eye(y.shape[0])
    R = A.matmul(*f[i + 1:]) if i + 1 < len(f) else A.eye(y.shape[1])
    return A.kron(A.transpose(R), L)


def _size(shape):
    return shape[0] * shape[1]


def _other(n, i):
    return n.args[1 - i]


def _kron_vjac(n, i):
    """vec(A ⊗ B) = (Iₙ ⊗ K(q,m) ⊗ Iₚ)(vec A ⊗ vec B)  # Magnus & Neudecker, Thm 3.10"""
    a, b = n.args
    (m, k), (p, q) = a.shape, b.shape
    M = A.kron(A.kron(A.eye(k), A.commutation(q, m)), A.eye(p))
    if i == 0:
        return A.matmul(M, A.kron(A.eye(m * k), A.fn("vec", b)))
    return A.matmul(M, A.kron(A.fn("vec", a), A.eye(p * q)))


def _adjoint_from_vjac(n, i, G):
    """L*(G) = unvec(Mᵀ vec(G)) for vec(L(dY)) = M vec(dY)."""
    y = n.args[i]
    return A.unvec(A.matmul(A.transpose(PRIMS[n.op].vjac(n, i)), A.fn("vec", G)), y.shape[0])


MAX_POWER_TERMS = 64   # the differential of X^k has k terms; matd writes them out up to this


def _mpow_d(n, a, da):
    """d Xᵏ = Σᵢ Xⁱ dX Xᵏ⁻¹⁻ⁱ (k terms, so k is bounded: a clear error above the bound)."""
    k = n.params[0]
    if k > MAX_POWER_TERMS:
        from matd.core.errors import MatdError
        raise MatdError(f"the differential of a matrix power X^{k} has {k} terms; matd "
                        f"differentiates matrix powers up to X^{MAX_POWER_TERMS}",
                        hint="for a symmetric or diagonalizable X, write the power through its "
                        "eigendecomposition or as a product of named powers (Y = X^8; Y^8)")
    return A.add(*(A.matmul(A.mpow(a[0], i), da[0], A.mpow(a[0], k - 1 - i)) for i in range(k)))


def _diag_vjac(n, i):
    """vec(diag(dv)) = S dv and diag(dX) = Sᵀ vec(dX), S = (I ⊗ 1) ∘ (1 ⊗ I), whose column j
    is eⱼ ⊗ eⱼ (the n²×n selection of the diagonal; Magnus & Neudecker, Ch. 3)."""
    k = n.shape[0] if n.args[0].shape[1].is_one else n.args[0].shape[0]
    I, one = A.eye(k), A.ones((k, ONE))
    S = A.hadamard(A.kron(I, one), A.kron(one, I))
    return S if n.args[0].shape[1].is_one else A.transpose(S)


def _broadcast_adjoint(n, i, G):
    x = n.args[0]
    m, k = n.shape
    if x.is_scalar:
        return A.fn("sum", G)
    if x.shape[0].is_one:      # a row repeated over m rows: onesᵀ G
        return A.matmul(A.transpose(A.ones((m, ONE))), G)
    return A.matmul(G, A.ones((k, ONE)))  # a column repeated over k columns


def _broadcast_vjac(n, i):
    x = n.args[0]
    m, k = n.shape
    if x.is_scalar:
        return A.ones((m * k, ONE))
    if x.shape[0].is_one:
        return A.kron(A.eye(k), A.ones((m, ONE)))
    return A.kron(A.ones((k, ONE)), A.eye(m))


def _elementwise(op, deriv, kernel, latex=None, uni=None, doc="", sample=None, spell=None,
                 py=None, py_helper=""):
    """An elementwise function: d f(X) = f'(X) ∘ dX."""
    return Prim(op, 1, r_same, Call(op, uni, latex), spell or (op,), doc=doc or f"elementwise {op}",
                py=py or f"np.{op}({{0}})", py_helper=py_helper,
                d=lambda n, a, da: A.hadamard(deriv(n, a[0]), da[0]),
                kernel=kernel, sample=sample or (f"X: m x n; sum({op}(X))", {}))


def _div(xp, x, s):
    """x / s with 0/0 = 0: the subgradient convention at the kink of a norm (x/‖x‖ at 0)."""
    q = x / s
    if bool(xp.any(s == 0)):
        q = xp.where((s == 0) & (x == 0), xp.zeros_like(q), q)
    return q


def _sigmoid(xp, x):
    return 0.5 + 0.5 * xp.tanh(0.5 * x)  # = 1/(1 + e^-x), without overflow


def _top_eig(xp, x, which):
    w, v = xp.linalg.eigh(x)
    return v[:, :1] if which == 0 else v[:, -1:]


def _no_d(what):
    def d(n, a, da):
        raise NotDifferentiable(f"{what} has no closed-form differential in matd")
    return d


def _no_form(what):
    def f(*args):
        raise NoClosedForm(what)
    return f


def _logsumexp(xp, x):
    m = xp.max(x)
    return _s(xp, m + xp.log(xp.sum(xp.exp(x - m))))


def _commutation(xp, m, n, dtype):
    """K(m,n): row i·n + j picks vec-entry j·m + i (so K vec(X) = vec(Xᵀ))."""
    perm = xp.asarray([j * m + i for i in range(m) for j in range(n)])
    return xp.take(xp.eye(m * n, dtype=dtype), perm, axis=0)


def _kron(xp, a, b):
    """A ⊗ B with array-API calls only."""
    (m, n), (p, q) = a.shape, b.shape
    out = xp.reshape(a, (m, 1, n, 1)) * xp.reshape(b, (1, p, 1, q))
    return xp.reshape(out, (m * p, n * q))


# --- the table ----------------------------------------------------------------------------
_ROWS = [
    # leaves (the evaluator and the differentiator know them)
    Prim("var", 0, r_leaf, Leaf(), doc="a variable"),
    Prim("dvar", 0, r_leaf, Leaf(), doc="the differential dX of a variable"),
    Prim("const", 0, r_leaf, Leaf(), doc="a number"),
    Prim("dim", 0, r_leaf, Leaf(), doc="a dimension used as a scalar",
         sample=("X: n x n; n tr(X)", {})),
    Prim("eye", 0, r_leaf, Leaf(), ("eye",), doc="the identity matrix I",
         sample=("X: n x n; tr(X + I)", {})),
    Prim("ones", 0, r_leaf, Leaf(), ("ones",), doc="a vector or matrix of ones",
         sample=("x: n; ones(n)^T x", {})),
    Prim("zeros", 0, r_leaf, Leaf(), ("zeros",), doc="a matrix of zeros",
         sample=("X: m x n; sum(X + zeros(m, n))", {})),
    Prim("commutation", 0, r_leaf, Leaf(), ("commutation",),
         doc="the commutation matrix K(m,n): K vec(X) = vec(Xᵀ)"),
    # operators
    Prim("add", 2, r_same2("sum"), Infix("+", "+", "+", SUM), linear=True, py="({0})", doc="A + B",
         adjoint=lambda n, i, G: G, vjac=lambda n, i: A.eye(_size(n.shape)),
         kernel=lambda xp, n, *a: sum(a[1:], a[0]), sample=("X, Y: m x n; sum(X + Y)", {})),
    Prim("neg", 1, r_same, Prefix("-"), linear=True, py="(-{0})", doc="-A",
         adjoint=lambda n, i, G: A.neg(G), vjac=lambda n, i: A.neg(A.eye(_size(n.shape))),
         kernel=lambda xp, n, a: -a, sample=("X: m x n; sum(-X)", {})),
    Prim("matmul", 2, r_matmul, Infix(" ", " ", r"\,", PROD), py="({0})", doc="product rule (A B)",
         d=lambda n, a, da: A.add(*(A.matmul(*a[:i], da[i], *a[i + 1:]) for i in range(len(a)))),
         adjoint=_chain_adjoint, vjac=_chain_vjac,
         kernel=lambda xp, n, *a: _reduce(xp.matmul, a),
         sample=("A: m x n; B: n x p; C: p x m; tr(A B C)", {})),
    Prim("smul", 2, r_smul, Infix(" ", " ", r"\,", PROD),
         py="({0} * {1})", doc="product rule (c A)",
         d=lambda n, a, da: A.add(A.smul(da[0], a[1]), A.smul(a[0], da[1])),
         adjoint=lambda n, i, G: A.smul(n.args[0], G) if i else A.inner(n.args[1], G),
         vjac=lambda n, i: A.smul(n.args[0], A.eye(_size(n.shape))) if i
         else A.fn("vec", n.args[1]),
         kernel=lambda xp, n, s, x: s * x, sample=("c: scalar; X: m x n; sum(c X)", {})),
    Prim("div", 2, r_div, Infix("/", "/", "/", PROD),
         py="_div({0}, {1})", py_helper=_DIV_SRC,
         doc="quotient rule (A / c); 0/0 is 0 (so ∂‖x‖ = x/‖x‖ is 0 at x = 0)",
         d=lambda n, a, da: A.sub(A.div(da[0], a[1]), A.smul(A.div(da[1], a[1]), n)),
         adjoint=lambda n, i, G: A.div(G, n.args[1]),
         vjac=lambda n, i: A.div(A.eye(_size(n.shape)), n.args[1]),
         kernel=lambda xp, n, x, s: _div(xp, x, s),
         sample=("c: scalar; X: m x n; sum(X / c)", {"c": "pos"})),
    Prim("hadamard", 2, r_same2("Hadamard product"), Infix(".*", "∘", r"\odot", PROD),
         py="({0} * {1})", doc="product rule (A ∘ B)",
         d=lambda n, a, da: A.add(A.hadamard(da[0], a[1]), A.hadamard(a[0], da[1])),
         adjoint=lambda n, i, G: A.hadamard(G, _other(n, i)),
         vjac=lambda n, i: A.fn("diag", A.fn("vec", _other(n, i))),
         kernel=lambda xp, n, a, b: a * b, sample=("X, Y: m x n; sum(X .* Y)", {})),
    Prim("hdiv", 2, r_same2("elementwise division"), Infix("./", "⊘", r"\oslash", PROD),
         py="({0} / {1})", doc="quotient rule (A ./ B)",
         d=lambda n, a, da: A.sub(A.hdiv(da[0], a[1]), A.hadamard(A.hdiv(n, a[1]), da[1])),
         adjoint=lambda n, i, G: A.hdiv(G, n.args[1]),
         vjac=lambda n, i: A.fn("diag", A.fn("vec", A.hdiv(1, n.args[1]))),
         kernel=lambda xp, n, a, b: a / b,
         sample=("X, Y: m x n; sum(X ./ Y)", {"Y": "pos"})),
    Prim("kron", 2, r_kron, {"matd": Call("kron"), "unicode": Infix("⊗", "⊗", "⊗", PROD),
                             "latex": Infix("⊗", "⊗", r"\otimes", PROD)}, ("kron",),
         py="np.kron({0}, {1})", doc="product rule (A ⊗ B)",
         d=lambda n, a, da: A.add(A.kron(da[0], a[1]), A.kron(a[0], da[1])),
         adjoint=_adjoint_from_vjac, vjac=_kron_vjac,
         kernel=lambda xp, n, a, b: _kron(xp, a, b),
         sample=("A: m x n; B: p x q; sum(exp(kron(A, B)))", {})),
    Prim("transpose", 1, r_transpose, Postfix("^T", "ᵀ", r"^{\top}"), linear=True,
         py="{0}.T", doc="transpose", adjoint=lambda n, i, G: A.transpose(G),
         vjac=lambda n, i: A.commutation(*n.args[0].shape),
         kernel=lambda xp, n, a: a.T, sample=("A: m x n; B: n x m; tr(A^T B^T)", {})),
    Prim("inv", 1, r_square("inverse"), Postfix("^-1", "⁻¹", "^{-1}"), ("inv",),
         py="np.linalg.inv({0})", doc="inverse: d X⁻¹ = −X⁻¹ dX X⁻¹",  # Cookbook (59)
         d=lambda n, a, da: A.neg(A.matmul(n, da[0], n)),
         kernel=lambda xp, n, a: xp.linalg.inv(a),
         sample=("X, B: n x n; tr(B inv(X))", {"X": "wellcond"})),
    Prim("mpow", 1, r_mpow, Postfix("^", "^", "^"),
         py="np.linalg.matrix_power({0}, {k})", doc="matrix power: Σ Xⁱ dX Xᵏ⁻¹⁻ⁱ",
         d=lambda n, a, da: _mpow_d(n, a, da),
         kernel=lambda xp, n, a: xp.linalg.matrix_power(a, n.params[0]),
         sample=("X, B: n x n; tr(B X^3)", {})),
    Prim("epow", 2, r_epow, Infix(".^", "^", "^", POSTFIX),
         py="({0} ** {1})", doc="power rule (X.^p)",
         d=lambda n, a, da: A.add(
             A.hadamard(A.smul(a[1], A.epow(a[0], A.sub(a[1], 1))), da[0]),
             A.smul(da[1], A.hadamard(n, A.fn("log", a[0])))),
         kernel=lambda xp, n, x, p: x ** p,
         sample=("X: m x n; p: scalar; sum(X.^p)", {"X": "pos", "p": "pos"})),
    Prim("broadcast", 1, r_leaf, Leaf(), linear=True,
         py="np.broadcast_to({0}, {shape})",
         doc="a scalar, row or column repeated to a shape (implicit in +)",
         adjoint=_broadcast_adjoint, vjac=_broadcast_vjac,
         kernel=lambda xp, n, a: xp.broadcast_to(a, n.shape),
         sample=("X: m x n; b: n; c: scalar; x: m; sum(exp(X + b^T + x + c))", {})),
    Prim("ufunc", 1, r_same, Leaf(), doc="a user-defined elementwise function (chain rule)",
         d=lambda n, a, da: A.hadamard(A.ufunc_derivative(n), da[0]),
         sample=("sp2(t) = log(1 + exp(2 t)); X: m x n; sum(sp2(X))", {})),
    # linear functions
    Prim("tr", 1, r_square_scalar("tr"), Call("tr", latex=r"\operatorname{tr}"), ("tr",),
         linear=True,
         py="np.trace({0}).reshape(1, 1)",
         doc="trace", adjoint=lambda n, i, G: A.smul(G, A.eye(n.args[0].shape[0])),
         vjac=lambda n, i: A.transpose(A.fn("vec", A.eye(n.args[0].shape[0]))),
         kernel=lambda xp, n, a: _s(xp, xp.sum(xp.linalg.diagonal(a))),
         sample=("X: n x n; tr(X)", {})),
    Prim("diag", 1, r_diag, Call("diag", latex=r"\operatorname{diag}"), ("diag",),
         linear=True,
         py="_diag({0})", py_helper=_DIAG_SRC,
         doc="vector -> diagonal matrix; square matrix -> its diagonal",
         adjoint=lambda n, i, G: A.fn("diag", G), vjac=_diag_vjac,
         kernel=lambda xp, n, a: xp.eye(a.shape[0], dtype=a.dtype) * xp.reshape(a, (1, -1))
         if a.shape[1] == 1 and a.shape[0] > 1 else xp.reshape(xp.linalg.diagonal(a), (-1, 1)),
         sample=("X: n x n; x: n; sum(exp(diag(X))) + sum(exp(diag(x)))", {})),
    Prim("vec", 1, r_vec, Call("vec", latex=r"\operatorname{vec}"), ("vec",), linear=True,
         py="{0}.reshape(-1, 1, order='F')",
         doc="stack columns", adjoint=lambda n, i, G: A.unvec(G, n.args[0].shape[0]),
         vjac=lambda n, i: A.eye(n.shape[0]),
         kernel=lambda xp, n, a: xp.reshape(a.T, (-1, 1)),
         sample=("X: m x n; sum(exp(vec(X)))", {})),
    Prim("unvec", 1, r_unvec, Leaf(), ("unvec",), linear=True,
         doc="an (m·n)-vector as an m×n matrix, column by column (vec⁻¹)",
         adjoint=lambda n, i, G: A.fn("vec", G), vjac=lambda n, i: A.eye(n.args[0].shape[0]),
         kernel=lambda xp, n, a: xp.reshape(a, (n.shape[1], n.shape[0])).T,
         py="{0}.reshape({shape}, order='F')",
         sample=("x: m*n; C: m x n; sum(exp(unvec(x, m)) .* C)", {})),
    Prim("sum", 1, r_scalar, Call("sum", latex=r"\operatorname{sum}"), ("sum",), linear=True,
         py="np.sum({0}).reshape(1, 1)",
         doc="sum of all entries", adjoint=lambda n, i, G: A.smul(G, A.ones(n.args[0].shape)),
         vjac=lambda n, i: A.transpose(A.ones((_size(n.args[0].shape), ONE))),
         kernel=lambda xp, n, a: _s(xp, xp.sum(a)), sample=("X: m x n; sum(X)", {})),
    # matrix functions
    Prim("det", 1, r_square_scalar("det"), Call("det", latex=r"\det"), ("det",),
         py="np.linalg.det({0}).reshape(1, 1)",
         doc="Jacobi's formula: d det X = det X tr(X⁻¹ dX)",  # Magnus & Neudecker
         d=lambda n, a, da: A.smul(n, A.tr(A.matmul(A.inv(a[0]), da[0]))),
         kernel=lambda xp, n, a: _s(xp, xp.linalg.det(a)),
         sample=("X: n x n; det(X)", {"X": "wellcond"})),
    Prim("logdet", 1, r_square_scalar("logdet"),
         {"matd": Call("logdet"), "unicode": Call("logdet"),
          "latex": Wrap(r"\log\left|\det\left(", r"\right)\right|")}, ("logdet",),
         py="np.linalg.slogdet({0})[1].reshape(1, 1)",
         doc="d log|det X| = tr(X⁻¹ dX)",  # Cookbook (43)
         d=lambda n, a, da: A.tr(A.matmul(A.inv(a[0]), da[0])),
         kernel=lambda xp, n, a: _s(xp, xp.linalg.slogdet(a)[1]),
         sample=("X: n x n; logdet(X)", {"X": "wellcond"})),
    Prim("pinv", 1, r_pinv, {"matd": Call("pinv"), "unicode": Postfix("⁺", "⁺", "⁺"),
                             "latex": Postfix("^{+}", "^{+}", "^{+}")}, ("pinv",),
         py="np.linalg.pinv({0})", doc="pseudo-inverse (constant rank; Golub & Pereyra 1973)",
         d=lambda n, a, da: A.add(
             A.neg(A.matmul(n, da[0], n)),
             A.matmul(n, A.transpose(n), A.transpose(da[0]),
                      A.sub(A.eye(a[0].shape[0]), A.matmul(a[0], n))),
             A.matmul(A.sub(A.eye(a[0].shape[1]), A.matmul(n, a[0])),
                      A.transpose(da[0]), A.transpose(n), n)),
         kernel=lambda xp, n, a: xp.linalg.pinv(a),
         sample=("X: m x n; B: m x n; tr(B pinv(X))", {})),
    Prim("adj", 1, r_square("adj"), Call("adj", latex=r"\operatorname{adj}"), ("adj",),
         py="(np.linalg.det({0}) * np.linalg.inv({0}))",
         doc="adjugate: adj X = det X X⁻¹ (invertible X)",
         d=lambda n, a, da: A.sub(A.smul(A.tr(A.matmul(A.inv(a[0]), da[0])), n),
                                  A.matmul(n, da[0], A.inv(a[0]))),
         kernel=lambda xp, n, a: xp.linalg.det(a) * xp.linalg.inv(a),
         sample=("X, B: n x n; tr(B adj(X))", {"X": "wellcond"})),
    # elementwise functions
    _elementwise("exp", lambda n, x: n, lambda xp, n, a: xp.exp(a), r"\exp"),
    _elementwise("log", lambda n, x: A.hdiv(1, x), lambda xp, n, a: xp.log(a), r"\log",
                 sample=("X: m x n; sum(log(X))", {"X": "pos"})),
    _elementwise("sin", lambda n, x: A.fn("cos", x), lambda xp, n, a: xp.sin(a), r"\sin"),
    _elementwise("cos", lambda n, x: A.neg(A.fn("sin", x)), lambda xp, n, a: xp.cos(a), r"\cos"),
    _elementwise("tanh", lambda n, x: A.sub(1, A.epow(n, 2)), lambda xp, n, a: xp.tanh(a),
                 r"\tanh"),
    _elementwise("sigmoid", lambda n, x: A.hadamard(n, A.sub(1, n)),
                 lambda xp, n, a: _sigmoid(xp, a), r"\sigma", "σ", py="_sigmoid({0})",
                 py_helper=_SIGMOID_SRC),
    _elementwise("softplus", lambda n, x: A.fn("sigmoid", x),
                 lambda xp, n, a: xp.logaddexp(xp.zeros_like(a), a),
                 r"\operatorname{softplus}", py="np.logaddexp(0, {0})"),
    _elementwise("relu", lambda n, x: A.fn("step", x), lambda xp, n, a: xp.maximum(a, 0 * a),
                 r"\operatorname{relu}", doc="max(x, 0); derivative step(x), 0 at 0",
                 py="np.maximum({0}, 0)",
                 sample=("X: m x n; sum(relu(X))", {"X": "nonzero"})),
    Prim("sqrt", 1, r_same, {"matd": Call("sqrt"), "unicode": Call("√"),
                             "latex": Wrap(r"\sqrt{", "}")}, ("sqrt",),
                             py="np.sqrt({0})", doc="elementwise sqrt",
         d=lambda n, a, da: A.hdiv(da[0], A.smul(A.const(2), n)),
         kernel=lambda xp, n, a: xp.sqrt(a), sample=("X: m x n; sum(sqrt(X))", {"X": "pos"})),
    Prim("abs", 1, r_same, {"matd": Call("abs"), "unicode": Wrap("|", "|"),
                            "latex": Wrap(r"\left|", r"\right|")}, ("abs",),
         py="np.abs({0})", doc="elementwise |x|; derivative sign(x), 0 at 0",
         d=lambda n, a, da: A.hadamard(A.fn("sign", a[0]), da[0]),
         kernel=lambda xp, n, a: xp.abs(a), sample=("X: m x n; sum(abs(X))", {"X": "nonzero"})),
    Prim("step", 1, r_same, Call("step", latex=r"\operatorname{step}"), ("step",),
         py="({0} > 0).astype(float)",
         doc="elementwise Heaviside step (1 where x > 0, else 0); derivative 0",
         d=lambda n, a, da: A.zeros(n.shape),
         kernel=lambda xp, n, a: xp.astype(a > 0, a.dtype),
         sample=("X: m x n; sum(step(X))", {"X": "nonzero"})),
    Prim("sign", 1, r_same, Call("sign", latex=r"\operatorname{sign}"), ("sign",),
         py="np.sign({0})", doc="elementwise sign (0 at 0); derivative 0",
         d=lambda n, a, da: A.zeros(n.shape), kernel=lambda xp, n, a: xp.sign(a),
         sample=("X: m x n; sum(sign(X))", {"X": "nonzero"})),
    # reductions and norms
    Prim("norm", 1, r_scalar, _norm("norm", ""), ("norm", "norm2"),
         py="np.sqrt(np.sum({0} ** 2)).reshape(1, 1)",
         doc="2-norm of a vector, Frobenius norm of a matrix: d‖X‖ = ⟨X, dX⟩/‖X‖",
         d=lambda n, a, da: A.div(A.inner(a[0], da[0]), n),
         kernel=lambda xp, n, a: _s(xp, xp.sqrt(xp.sum(a * a))),
         sample=("X: m x n; norm(X)", {})),
    Prim("norm1", 1, r_scalar, _norm("norm1", "1"), ("norm1",),
         py="np.sum(np.abs({0})).reshape(1, 1)",
         doc="sum of absolute entries: d‖X‖₁ = ⟨sign X, dX⟩",
         d=lambda n, a, da: A.inner(A.fn("sign", a[0]), da[0]),
         kernel=lambda xp, n, a: _s(xp, xp.sum(xp.abs(a))),
         sample=("X: m x n; norm1(X)", {})),
    Prim("specnorm", 1, r_scalar, _norm("specnorm", "2"), ("specnorm",),
         py="np.linalg.norm({0}, 2).reshape(1, 1)",
         doc="largest singular value: dσ = uᵀ dX v",  # top singular pair
         d=lambda n, a, da: A.matmul(A.transpose(A.fn("svd_u1", a[0])), da[0],
                                     A.fn("svd_v1", a[0])),
         kernel=lambda xp, n, a: _s(xp, xp.linalg.svdvals(a)[0]),
         sample=("X: m x n; specnorm(X)", {})),
    Prim("nuclear", 1, r_scalar, _norm("nuclear", "*"), ("nuclear",),
         py="np.linalg.norm({0}, 'nuc').reshape(1, 1)",
         doc="sum of singular values: d‖X‖* = ⟨U Vᵀ, dX⟩ (full rank)",
         d=lambda n, a, da: A.inner(A.fn("polar", a[0]), da[0]),
         kernel=lambda xp, n, a: _s(xp, xp.sum(xp.linalg.svdvals(a))),
         sample=("X: m x n; nuclear(X)", {})),
    Prim("logsumexp", 1, r_scalar, Call("logsumexp", latex=r"\operatorname{logsumexp}"),
         ("logsumexp",),
         py="_logsumexp({0})", py_helper=_LSE_SRC, doc="log Σ exp(xᵢ): d = ⟨exp(X − lse), dX⟩",
         d=lambda n, a, da: A.inner(A.fn("exp", A.sub(a[0], n)), da[0]),
         kernel=lambda xp, n, a: _logsumexp(xp, a), sample=("X: m x n; logsumexp(X)", {})),
    Prim("softmax", 1, r_vector("softmax"), Call("softmax", latex=r"\operatorname{softmax}"),
         ("softmax",),
         py="np.exp({0} - _logsumexp({0}))", py_helper=_LSE_SRC,
         doc="exp(x)/Σexp(x): ds = s ∘ dx − s (sᵀ dx)",
         d=lambda n, a, da: A.sub(A.hadamard(n, da[0]), A.matmul(n, A.transpose(n), da[0])),
         kernel=lambda xp, n, a: xp.exp(a - _logsumexp(xp, a)),
         sample=("x, c: n; c^T softmax(x)", {})),
    Prim("dot", 2, r_dot, {"matd": Call("dot"), "unicode": Wrap("⟨", "⟩"),
                           "latex": Wrap(r"\left\langle ", r"\right\rangle")}, ("dot",),
         py="np.sum({0} * {1}).reshape(1, 1)", doc="inner product ⟨X, Y⟩ = tr(Xᵀ Y)",
         d=lambda n, a, da: A.add(A.fn("dot", da[0], a[1]), A.fn("dot", a[0], da[1])),
         adjoint=lambda n, i, G: A.smul(G, _other(n, i)),
         vjac=lambda n, i: A.transpose(A.fn("vec", _other(n, i))),
         kernel=lambda xp, n, a, b: _s(xp, xp.sum(a * b)),
         sample=("X, Y: m x n; dot(X, Y)", {})),
    # spectral
    Prim("lambda_max", 1, r_square_scalar("lambda_max"),
         Call("lambda_max", "λmax", r"\lambda_{\max}"), ("lambda_max",),
         py="np.linalg.eigvalsh({0})[-1:].reshape(1, 1)",
         doc="largest eigenvalue of a symmetric matrix: dλ = vᵀ dS v",
         d=lambda n, a, da: A.matmul(A.transpose(A.fn("eigvec_max", a[0])), da[0],
                                     A.fn("eigvec_max", a[0])),
         kernel=lambda xp, n, a: _s(xp, xp.linalg.eigvalsh(a)[-1]),
         sample=("S: n x n sym; lambda_max(S)", {"S": "sym"})),
    Prim("lambda_min", 1, r_square_scalar("lambda_min"),
         Call("lambda_min", "λmin", r"\lambda_{\min}"), ("lambda_min",),
         py="np.linalg.eigvalsh({0})[:1].reshape(1, 1)",
         doc="smallest eigenvalue of a symmetric matrix: dλ = vᵀ dS v",
         d=lambda n, a, da: A.matmul(A.transpose(A.fn("eigvec_min", a[0])), da[0],
                                     A.fn("eigvec_min", a[0])),
         kernel=lambda xp, n, a: _s(xp, xp.linalg.eigvalsh(a)[0]),
         sample=("S: n x n sym; lambda_min(S)", {"S": "sym"})),
    Prim("eigvec_max", 1, r_vector_of_square, Call("eigvec_max", "v_max", r"v_{\max}"),
         ("eigvec_max",),
         py="np.linalg.eigh({0})[1][:, -1:]",
         doc="unit eigenvector of the largest eigenvalue (sign arbitrary)",
         d=_no_d("eigvec_max"), kernel=lambda xp, n, a: _top_eig(xp, a, -1)),
    Prim("eigvec_min", 1, r_vector_of_square, Call("eigvec_min", "v_min", r"v_{\min}"),
         ("eigvec_min",),
         py="np.linalg.eigh({0})[1][:, :1]",
         doc="unit eigenvector of the smallest eigenvalue (sign arbitrary)",
         d=_no_d("eigvec_min"), kernel=lambda xp, n, a: _top_eig(xp, a, 0)),
    Prim("svd_u1", 1, r_left_vector, Call("svd_u1", "u₁", r"u_{1}"), ("svd_u1",),
         py="np.linalg.svd({0}, full_matrices=False)[0][:, :1]",
         doc="top left singular vector", d=_no_d("svd_u1"),
         kernel=lambda xp, n, a: xp.linalg.svd(a, full_matrices=False)[0][:, :1]),
    Prim("svd_v1", 1, r_right_vector, Call("svd_v1", "v₁", r"v_{1}"), ("svd_v1",),
         py="np.linalg.svd({0}, full_matrices=False)[2][:1, :].T",
         doc="top right singular vector", d=_no_d("svd_v1"),
         kernel=lambda xp, n, a: xp.linalg.svd(a, full_matrices=False)[2][:1, :].T),
    Prim("polar", 1, r_same, Call("polar", latex=r"\operatorname{polar}"), ("polar",),
         py="_polar({0})", py_helper=_POLAR_SRC,
         doc="orthogonal polar factor U Vᵀ of X = U Σ Vᵀ", d=_no_d("polar"),
         kernel=lambda xp, n, a: _polar(xp, a)),
]


def _reduce(f, xs):
    out = xs[0]
    for x in xs[1:]:
        out = f(out, x)
    return out


def _polar(xp, a):
    u, _, vh = xp.linalg.svd(a, full_matrices=False)
    return u @ vh


PRIMS: dict[str, Prim] = {p.op: p for p in _ROWS}
FUNCTIONS: dict[str, Prim] = {s: p for p in _ROWS for s in p.spellings}
assert len(PRIMS) == len(_ROWS), "duplicate op in the primitive table"

class _Algebra:
    """``A``: matd.core.algebra, imported when a column first needs it (so that
    parsing and checking never load it)."""

    def __getattr__(self, name):
        import matd.core.algebra as algebra
        globals()["A"] = algebra
        return getattr(algebra, name)


A = _Algebra()
