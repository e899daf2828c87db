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
  namespace ``xp`` (numpy, CuPy, or dask, ``matd.core.dasknp``); arrays are 2-D (vectors
  n×1, scalars 1×1); ``n.params`` are the node's params and ``n.shape`` its concrete shape.
  A kernel checks its argument's domain with ``matd.core.deferred.require`` (at once on
  an eager namespace; on dask with the results) and never asks a lazy array for a
  number (``bool``, ``float``): on dask a kernel only builds a graph.
- ``blocks``: how the kernel meets row blocks (the dask backend's one-pass path,
  ``matd.core.blocked``): ``"entries"`` when each entry of the value depends only on the
  same entries of the arguments (scalars and rows broadcast), so the value of a block is
  the kernel of the blocks; ``"sums"`` when the value of the whole is the sum of the
  kernels of the blocks (a sum, an inner product); empty otherwise (the default: such a
  kernel runs on the chunked arrays themselves).  The tests walk the table and hold each
  claim to a split of a random sample.
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

from matd.core.deferred import is_lazy, require
from matd.core.shapes import ONE
from matd.core.shaperules import (ShapeFail, r_dot, r_diag, r_div, r_epow, r_kron, r_leaf,
                                  r_matmul, r_mpow, r_pinv, r_same, r_same2, r_scalar, r_smul,
                                  r_square, r_square_scalar, r_transpose, r_vec, r_vector,
                                  r_vector_of_square, r_left_vector, r_right_vector,
                                  r_unvec, r_axis, r_solve, r_eigvals, r_columns_vector,
                                  r_columns_square, r_gaps, r_frechet, r_frechet2, r_sylvester,
                                  r_softmax)

__all__ = ["PRIMS", "FUNCTIONS", "Prim", "ShapeFail", "NotDifferentiable", "NoClosedForm",
           "DomainError"]

# Precedence levels of DESIGN §1, low to high.
SUM, PROD, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5


# --- printing columns -------------------------------------------------------
class Call(NamedTuple):
    """``name(args)``; ``uni`` and ``latex`` name it in those formats.  ``params``: how
    the node's params are written after the arguments: "" (not at all), "axis"
    (``sum(X, 2)``) or "offset" (``tril(M, -1)``, and ``tril(M)`` for offset 0)."""

    name: str
    uni: str | None = None
    latex: str | None = None
    params: str = ""


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


class DomainError(ValueError):
    """A kernel's input outside the function's domain (not positive definite, repeated
    eigenvalues, a wide matrix for a thin factor): said plainly, with a hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


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
    blocks: str = ""              # "entries" | "sums" | "" (see the module)


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

_SIGNED_SRC = """def _signed(v, ref=None):
    r = v if ref is None else ref
    pick = r[np.argmax(np.abs(r), axis=0), np.arange(r.shape[1])]
    return v * np.where(pick < 0, -1.0, 1.0)"""
_EIGVECS_SRC = """def _eigvecs(x):
    return _signed(np.linalg.eigh((x + x.T) / 2)[1])

""" + _SIGNED_SRC
_SVD_U_SRC = """def _svd_u(x):
    return _signed(np.linalg.svd(x, full_matrices=False)[0])

""" + _SIGNED_SRC
_SVD_V_SRC = """def _svd_v(x):
    u, _, vh = np.linalg.svd(x, full_matrices=False)
    return _signed(vh.T, u)

""" + _SIGNED_SRC
_QR_Q_SRC = """def _qr_q(x):
    q, r = np.linalg.qr(x)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)"""
_QR_R_SRC = """def _qr_r(x):
    q, r = np.linalg.qr(x)
    return r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]"""
_GAPINV_SRC = """def _gapinv(v):
    g = v.reshape(1, -1) - v.reshape(-1, 1)
    off = 1 - np.eye(len(g))
    return off / (g + np.eye(len(g)))"""
_SQRTM_SRC = """def _sqrtm(x):
    w, v = np.linalg.eigh((x + x.T) / 2)
    return (v * np.sqrt(w)) @ v.T"""
_CHOL_SRC = """def _chol(x):
    return np.linalg.cholesky((x + x.T) / 2)"""
_EXPM_SRC = """def _expm(x):
    from scipy.linalg import expm
    return expm(x)"""
_FRECHET_SRC = """def _expm_frechet(a, e):
    from scipy.linalg import expm_frechet
    return expm_frechet(a, e, compute_expm=False)"""
_FRECHET2_SRC = """def _expm_frechet2(a, e, f):
    from scipy.linalg import expm_frechet
    n, z = len(a), np.zeros_like(a)
    big = np.block([[a, e], [z, a]])
    return expm_frechet(big, np.block([[f, z], [z, f]]), compute_expm=False)[:n, n:]"""
_SYLVESTER_SRC = """def _sylvester(a, b, c):
    from scipy.linalg import solve_sylvester
    return solve_sylvester(a, b, c)"""
_LSE_AXIS_SRC = """def _logsumexp_axis(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))"""
_SOFTMAX_AXIS_SRC = """def _softmax_axis(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)"""


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
                kernel=kernel, sample=sample or (f"X: m x n; sum({op}(X))", {}), blocks="entries")


def _div(xp, x, s):
    """x / s with 0/0 = 0: the subgradient convention at the kink of a norm (x/‖x‖ at 0).
    (On a lazy namespace the zeros are always looked for: asking whether s has one would
    compute it.)"""
    q = x / s
    if is_lazy(xp) or bool(xp.any(s == 0)):
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


# --- batches, axes and matrix functions (DESIGN §1) -------------------------------------
def _dim_node(d):
    """A dimension as a scalar node (a number where it is one)."""
    from matd.core.expr import Node
    from matd.core.shapes import SCALAR
    from matd.core.shapes import Dim
    if d.is_const:
        return A.const(d.coef)
    out = None                     # a product of dims as a product of scalars: m n, 2 n
    for f in d.factors:
        one = Node.make("dim", (), (Dim.sym(f),), SCALAR)
        out = one if out is None else A.smul(out, one)
    return out if d.coef == 1 else A.smul(A.const(d.coef), out)


def _axis_count(n):
    """How many entries an axis reduction of n's argument adds up (rows for k = 1)."""
    m, k = n.args[0].shape
    return m if n.params[0] == 1 else k


def _spread(n, G):
    """G (the shape of an axis reduction) repeated back over the argument's shape."""
    return A.broadcast(G, n.args[0].shape)


def _axis_vjac(n, i):
    """vec(1ᵀ X) = (Iₙ ⊗ 1ₘᵀ) vec X; vec(X 1) = (1ₙᵀ ⊗ Iₘ) vec X."""
    m, k = n.args[0].shape
    if n.params[0] == 1:
        return A.kron(A.eye(k), A.transpose(A.ones((m, ONE))))
    return A.kron(A.transpose(A.ones((k, ONE))), A.eye(m))


def _axis_sum(x, k):
    return A.fn("sum_axis", x, params=(k,))


def _softmax_axis_d(n, a, da):
    """dS = S ∘ (dZ − sum(S ∘ dZ, k)), the sum broadcast back over the rows or columns."""
    k = n.params[0]
    return A.hadamard(n, A.sub(da[0], A.broadcast(_axis_sum(A.hadamard(n, da[0]), k),
                                                  n.shape)))


def _extreme_d(sign):
    """d max(A, B) = step(A − B) ∘ dA + step(B − A) ∘ dB, d min(A, B) with the steps
    swapped; at a tie both steps are 0, the convention of relu at 0."""
    def d(n, a, da):
        up, down = A.fn("step", A.sub(a[0], a[1])), A.fn("step", A.sub(a[1], a[0]))
        if sign < 0:
            up, down = down, up
        return A.add(A.hadamard(up, da[0]), A.hadamard(down, da[1]))
    return d


def _sym_d(x, dx):
    """The direction of a function that reads its argument as symmetric: dS itself where S
    is known symmetric, else its symmetric part (dS + dSᵀ)/2."""
    if A.is_sym(x) or A.is_zero(dx):
        return dx
    return A.smul(A.const(0.5), A.add(dx, A.transpose(dx)))


def _chol_d(n, a, da):
    """dL = L Φ(L⁻¹ dS L⁻ᵀ), Φ(M) = tril(M, -1) + diag(diag(M))/2 (Murray 2016, eq. 8)."""
    Linv = A.inv(n)
    M = A.matmul(Linv, _sym_d(a[0], da[0]), A.transpose(Linv))
    phi = A.add(A.fn("tril", M, params=(-1,)),
                A.smul(A.const(0.5), A.fn("diag", A.fn("diag", M))))
    return A.matmul(n, phi)


def _frechet(a, e):
    """L(A, E), with what needs no linear map taken out: scalars (L(A, c E) = c L(A, E)),
    and directions that commute with A (L(c E, E) = E e^(c E))."""
    if e.op in ("smul", "neg") and not e.is_scalar:
        inner = _frechet(a, e.args[-1])
        return A.neg(inner) if e.op == "neg" else A.smul(e.args[0], inner)
    if a is e or a.op == "smul" and a.args[1] is e or e.op == "eye":
        return A.matmul(e, A.fn("expm", a))
    return A.fn("expm_frechet", a, e)


def _frechet_d(n, a, da):
    """d L(A, E) = L(A, dE) + L₂(A; E, dA), L₂ the second Fréchet derivative."""
    return A.add(_frechet(a[0], da[1]),
                 A.fn("expm_frechet2", a[0], a[1], da[0]) if not A.is_zero(da[0]) else None)


def _frechet2_d(n, a, da):
    if not A.is_zero(da[0]):
        raise NotDifferentiable("expm_frechet2 (the second derivative of expm) has no "
                                "closed-form differential in A in matd: expm has first and "
                                "second derivatives")
    return A.add(A.fn("expm_frechet2", a[0], da[1], a[2]) if not A.is_zero(da[1]) else None,
                 A.fn("expm_frechet2", a[0], a[1], da[2]) if not A.is_zero(da[2]) else None)


def _frechet2_adjoint(n, i, G):
    """⟨G, L₂(A; E, F)⟩ = ⟨L₂(Aᵀ; Eᵀ, G), F⟩ (L₂ is symmetric in E and F)."""
    a, e, f = n.args
    other = f if i == 1 else e
    return A.fn("expm_frechet2", A.transpose(a), A.transpose(other), G)


def _sylvester_d(n, a, da):
    """A Y + Y B = C  ⇒  A dY + dY B = dC − dA Y − Y dB."""
    rhs = A.sub(da[2], A.add(A.matmul(da[0], n), A.matmul(n, da[1])))
    return A.fn("sylvester", a[0], a[1], rhs)


def _solve_d(n, a, da):
    """d A⁻¹B = A⁻¹ (dB − dA A⁻¹B)."""
    return A.fn("solve", a[0], A.sub(da[1], A.matmul(da[0], n)))


def _eigvals_d(n, a, da):
    """dλᵢ = vᵢᵀ dS vᵢ: dλ = diag(Vᵀ dS V) (Magnus & Neudecker, Thm 8.9)."""
    V = A.fn("eigvecs", a[0])
    return A.fn("diag", A.matmul(A.transpose(V), _sym_d(a[0], da[0]), V))


def _eigvecs_d(n, a, da):
    """dV = V (F ∘ Vᵀ dS V), F = gapinv(λ): Fᵢⱼ = 1/(λⱼ − λᵢ), 0 on the diagonal."""
    lam = A.fn("eigvals", a[0])
    F = A.fn("gapinv", lam)
    return A.matmul(n, A.hadamard(F, A.matmul(A.transpose(n), _sym_d(a[0], da[0]), n)))


def _gapinv_d(n, a, da):
    """dFᵢⱼ = −Fᵢⱼ² (dλⱼ − dλᵢ)."""
    k = n.shape[0]
    dl = da[0]
    spread = A.sub(A.broadcast(A.transpose(dl), (k, k)), A.broadcast(dl, (k, k)))
    return A.neg(A.hadamard(A.hadamard(n, n), spread))


def _svd_parts(X):
    s = A.fn("svdvals", X)
    return A.fn("svd_u", X), s, A.fn("svd_v", X)


def _svdvals_d(n, a, da):
    """dσᵢ = uᵢᵀ dX vᵢ: dσ = diag(Uᵀ dX V)."""
    U, _, V = _svd_parts(a[0])
    return A.fn("diag", A.matmul(A.transpose(U), da[0], V))


def _svd_terms(X, dX):
    U, s, V = _svd_parts(X)
    F = A.fn("gapinv", A.hadamard(s, s))
    P = A.matmul(A.transpose(U), dX, V)          # Uᵀ dX V
    Sg, Si = A.fn("diag", s), A.fn("diag", A.hdiv(1, s))
    return U, V, F, P, Sg, Si


def _svd_u_d(n, a, da):
    """dU = U (F ∘ (P Σ + Σ Pᵀ)) + (I − U Uᵀ) dX V Σ⁻¹, P = Uᵀ dX V, Fᵢⱼ = 1/(σⱼ² − σᵢ²)
    (Townsend 2016)."""
    U, V, F, P, Sg, Si = _svd_terms(a[0], da[0])
    inner = A.hadamard(F, A.add(A.matmul(P, Sg), A.matmul(Sg, A.transpose(P))))
    m = a[0].shape[0]
    out = A.sub(A.eye(m), A.matmul(U, A.transpose(U)))
    return A.add(A.matmul(U, inner), A.matmul(out, da[0], V, Si))


def _svd_v_d(n, a, da):
    """dV = V (F ∘ (Σ P + Pᵀ Σ)) + (I − V Vᵀ) dXᵀ U Σ⁻¹ (Townsend 2016)."""
    U, V, F, P, Sg, Si = _svd_terms(a[0], da[0])
    inner = A.hadamard(F, A.add(A.matmul(Sg, P), A.matmul(A.transpose(P), Sg)))
    k = a[0].shape[1]
    out = A.sub(A.eye(k), A.matmul(V, A.transpose(V)))
    return A.add(A.matmul(V, inner), A.matmul(out, A.transpose(da[0]), U, Si))


def _qr_omega(X, dX):
    """(Q, R, Ω): M = Qᵀ dX R⁻¹ and Ω = tril(M, -1) − tril(M, -1)ᵀ, the skew part that
    keeps Q's columns orthonormal (Walter & Lehmann 2018)."""
    Q, R = A.fn("qr_q", X), A.fn("qr_r", X)
    M = A.matmul(A.transpose(Q), dX, A.inv(R))
    low = A.fn("tril", M, params=(-1,))
    return Q, R, A.sub(low, A.transpose(low))


def _qr_q_d(n, a, da):
    """dQ = Q Ω + (I − Q Qᵀ) dX R⁻¹."""
    Q, R, Om = _qr_omega(a[0], da[0])
    out = A.sub(A.eye(a[0].shape[0]), A.matmul(Q, A.transpose(Q)))
    return A.add(A.matmul(Q, Om), A.matmul(out, da[0], A.inv(R)))


def _qr_r_d(n, a, da):
    """dR = Qᵀ dX − Ω R."""
    Q, R, Om = _qr_omega(a[0], da[0])
    return A.sub(A.matmul(A.transpose(Q), da[0]), A.matmul(Om, R))


def _tri_mask(xp, shape, k, lower, dtype):
    m, n = shape
    i = xp.reshape(xp.arange(m), (m, 1))
    j = xp.reshape(xp.arange(n), (1, n))
    keep = (j - i <= k) if lower else (j - i >= k)
    return xp.astype(keep, dtype)


def _tri(xp, a, k, lower):
    return a * _tri_mask(xp, a.shape, k, lower, a.dtype)


def _tri_vjac(lower):
    def vjac(n, i):
        m, k = n.shape
        mask = A.fn("tril" if lower else "triu", A.ones((m, k)), params=n.params)
        return A.fn("diag", A.fn("vec", mask))
    return vjac


def _namespace(xp) -> str:
    return getattr(xp, "__name__", "")


def _linalg_library(xp):
    """SciPy's linalg on the CPU, cupyx.scipy's on the GPU, imported when first needed."""
    if "cupy" in _namespace(xp):
        import cupyx.scipy.linalg as sl
        return sl
    try:
        import scipy.linalg as sl
    except ImportError:
        from matd.core.errors import MatdError
        raise MatdError("this formula needs SciPy (the matrix exponential and Sylvester "
                        "solves come from scipy.linalg)",
                        hint="install it: pip install 'matd[scipy]'") from None
    return sl


def _library_call(xp, f, *arrays):
    """f (a SciPy function whose result has the shape of its last argument: expm,
    expm_frechet, solve_sylvester) on arrays of namespace xp: directly on numpy and CuPy;
    on dask lazily, on the (small) matrices in one piece; through numpy for the other
    array-API namespaces (array_api_strict)."""
    name = _namespace(xp)
    dtype = arrays[0].dtype
    if "numpy" in name or "cupy" in name:
        out = f(*arrays)
        return out if out.dtype == dtype else xp.astype(out, dtype)   # float32 stays float32
    if is_lazy(xp):
        from matd.core.dasknp import whole
        return whole(f, *arrays, shape=arrays[-1].shape, dtype=dtype)
    import numpy as np
    out = f(*(np.asarray(a) for a in arrays))
    return xp.asarray(out, dtype=dtype)


def _expm(xp, a):
    sl = _linalg_library(xp)
    return _library_call(xp, sl.expm, a)


def _expm_frechet(xp, a, e):
    """L(A, E), the Fréchet derivative of expm at A along E: SciPy's expm_frechet, or the
    block-triangular identity expm([[A, E], [0, A]]) = [[e^A, L(A, E)], [0, e^A]]."""
    sl = _linalg_library(xp)
    if hasattr(sl, "expm_frechet") and "cupy" not in _namespace(xp):
        return _library_call(xp, lambda x, y: sl.expm_frechet(x, y, compute_expm=False), a, e)
    n = a.shape[0]
    top = xp.concat([a, e], axis=1)
    bottom = xp.concat([xp.zeros_like(a), a], axis=1)
    big = _library_call(xp, sl.expm, xp.concat([top, bottom], axis=0))
    return big[:n, n:]


def _expm_frechet2(xp, a, e, f):
    """L₂(A; E, F) = d/dt L(A + tF, E): the top-right n×n block of L(B, diag(F, F)) with
    B = [[A, E], [0, A]] (the block identity once more)."""
    n = a.shape[0]
    z = xp.zeros_like(a)
    B = xp.concat([xp.concat([a, e], axis=1), xp.concat([z, a], axis=1)], axis=0)
    D = xp.concat([xp.concat([f, z], axis=1), xp.concat([z, f], axis=1)], axis=0)
    return _expm_frechet(xp, B, D)[:n, n:]


def _symmetric(a):
    return (a + a.T) / 2


def _sqrtm(xp, a):
    """The principal square root of a symmetric positive definite matrix, by eigh."""
    w, v = xp.linalg.eigh(_symmetric(a))
    value = "≤ 0" if is_lazy(xp) else f"{float(xp.min(w)):.3g}"   # a number would compute
    require(xp, xp.any(w <= 0),
            DomainError(f"sqrtm needs a positive definite matrix; this one has an eigenvalue "
                        f"{value}", "give a symmetric positive definite argument"))
    return _symmetric((v * xp.reshape(xp.sqrt(w), (1, -1))) @ v.T)


def _sylvester(xp, a, b, c):
    """The Y with A Y + Y B = C: by the eigendecompositions where A and B are symmetric
    (as for sqrtm's derivative), else SciPy's solve_sylvester (Bartels–Stewart).  On a
    lazy namespace always the latter, which solves symmetric ones too: telling them apart
    would compute A and B."""
    if not is_lazy(xp) and bool(xp.all(a == a.T)) and bool(xp.all(b == b.T)):
        wa, va = xp.linalg.eigh(a)
        wb, vb = xp.linalg.eigh(b)
        den = xp.reshape(wa, (-1, 1)) + xp.reshape(wb, (1, -1))
        require(xp, xp.any(den == 0),
                DomainError("the Sylvester equation A Y + Y B = C has no unique solution "
                            "(A and -B share an eigenvalue)"))
        return va @ ((va.T @ c @ vb) / den) @ vb.T
    sl = _linalg_library(xp)
    if hasattr(sl, "solve_sylvester"):
        return _library_call(xp, sl.solve_sylvester, a, b, c)
    n, k = c.shape            # cupyx.scipy has none: vec(Y) = (I ⊗ A + Bᵀ ⊗ I)⁻¹ vec(C)
    M = _kron(xp, xp.eye(k, dtype=a.dtype), a) + _kron(xp, b.T, xp.eye(n, dtype=a.dtype))
    y = xp.linalg.solve(M, xp.reshape(c.T, (-1, 1)))
    return xp.reshape(y, (k, n)).T


def _chol(xp, a):
    try:
        L = xp.linalg.cholesky(_symmetric(a))
    except Exception:  # noqa: BLE001 - numpy's LinAlgError, said plainly
        raise DomainError("chol needs a positive definite matrix",
                          "give a symmetric positive definite argument") from None
    require(xp, xp.logical_not(xp.all(xp.isfinite(L))),   # CuPy returns NaN, not raising
            DomainError("chol needs a positive definite matrix",
                        "give a symmetric positive definite argument"))
    return L


def _signed_columns(xp, v, ref=None):
    """Columns flipped so that the entry of largest magnitude of each column of ``ref``
    (default: v itself) is positive: the sign convention of eigvecs, svd_u and svd_v."""
    r = v if ref is None else ref
    idx = xp.argmax(xp.abs(r), axis=0)
    rows = xp.reshape(xp.arange(r.shape[0]), (-1, 1))
    picked = xp.sum(xp.where(rows == xp.reshape(idx, (1, -1)), r, xp.zeros_like(r)), axis=0)
    sign = xp.where(picked < 0, -xp.ones_like(picked), xp.ones_like(picked))
    return v * xp.reshape(sign, (1, -1))


def _number(xp, x):
    """A 0-d array x for a threshold: a Python float on an eager namespace (so the checks
    compare as they always have), x itself on a lazy one, where float(x) would compute."""
    return x if is_lazy(xp) else float(x)


def _at_least(xp, x, floor: float):
    """max(x, floor) for x from ``_number`` (a float, or a lazy 0-d array)."""
    return max(x, floor) if isinstance(x, float) else xp.maximum(x, floor)


def _close_pair(xp, w):
    """Whether two of the sorted values w (nearly) coincide, relative to the largest: a
    0-d boolean (lazy on a lazy namespace), for ``require``."""
    if w.shape[0] < 2:
        return xp.asarray(False)
    scale = _number(xp, xp.max(xp.abs(w)))
    return xp.any(xp.abs(w[1:] - w[:-1]) <= 1e-10 * _at_least(xp, scale, 1e-300))


def _eigh(xp, a):
    w, v = xp.linalg.eigh(_symmetric(a))
    require(xp, _close_pair(xp, w),
            DomainError("eigvecs needs distinct eigenvalues; two of them coincide here, "
                        "so the eigenvectors are not determined",
                        "eigenvectors (and the derivatives of eigvals) assume distinct "
                        "eigenvalues; evaluate at a point where they are distinct"))
    return w, _signed_columns(xp, v)


def _svd(xp, a, factors=True):
    m, n = a.shape
    if m < n:
        raise DomainError(f"svdvals, svd_u and svd_v need at least as many rows as columns "
                          f"(this is {m} x {n})", "transpose the argument: the SVD of Xᵀ "
                          "swaps U and V")
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    if factors:
        bad = _close_pair(xp, s)
        if m > n and n:   # a tall matrix: its smallest singular value nonzero too
            bad = bad | (_number(xp, s[-1]) <= 1e-12 * max(m, n) * _number(xp, s[0]))
        require(xp, bad,
                DomainError("svd_u and svd_v need distinct singular values"
                            + (", and nonzero ones for a tall matrix" if m > n else "")
                            + "; here they are not, so the singular vectors are not "
                            "determined", "singular vectors (and the derivatives of svdvals) "
                            "assume distinct, nonzero singular values"))
    return _signed_columns(xp, u), s, _signed_columns(xp, vh.T, u)


def _qr(xp, a):
    m, n = a.shape
    if m < n:
        raise DomainError(f"the thin QR needs at least as many rows as columns "
                          f"(this is {m} x {n})", "qr_q and qr_r factor a tall matrix")
    q, r = xp.linalg.qr(a)
    d = xp.linalg.diagonal(r)
    big = _number(xp, xp.max(xp.abs(d))) if n else 0.0
    require(xp, xp.any(xp.abs(d) <= 1e-12 * max(m, n) * big) | (big == 0),
            DomainError("qr_q and qr_r need a matrix of full column rank; this one is "
                        "(numerically) rank-deficient", "the QR factors are not "
                        "differentiable where the columns are linearly dependent"))
    sign = xp.where(d < 0, -xp.ones_like(d), xp.ones_like(d))
    return q * xp.reshape(sign, (1, -1)), r * xp.reshape(sign, (-1, 1))


def _gapinv(xp, v):
    """Fᵢⱼ = 1/(vⱼ − vᵢ) off the diagonal, 0 on it; an error where two values coincide."""
    gaps = xp.reshape(v, (1, -1)) - xp.reshape(v, (-1, 1))
    k = gaps.shape[0]
    off = 1 - xp.eye(k, dtype=v.dtype)
    scale = _number(xp, xp.max(xp.abs(v))) if k else 0.0
    tiny = (xp.abs(gaps) <= 1e-10 * _at_least(xp, scale, 1e-300)) & (off > 0)
    require(xp, xp.any(tiny),
            DomainError("two eigenvalues (or two singular values) coincide, where "
                        "eigvecs (svd_u, svd_v) have no derivative",
                        "their derivatives assume distinct values; evaluate at a point "
                        "where they are distinct"))
    return off / (gaps + (1 - off))


def _lse_axis(xp, a, k):
    ax = k - 1
    m = xp.max(a, axis=ax, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return m + xp.log(xp.sum(xp.exp(a - m), axis=ax, keepdims=True))


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
         kernel=lambda xp, n, *a: sum(a[1:], a[0]), sample=("X, Y: m x n; sum(X + Y)", {}),
         blocks="entries"),
    Prim("neg", 1, r_same, Prefix("-"), linear=True, py="(-{0})", doc="-A",
         adjoint=lambda n, i, G: A.neg(G), vjac=lambda n, i: A.neg(A.eye(_size(n.shape))),
         kernel=lambda xp, n, a: -a, sample=("X: m x n; sum(-X)", {}), blocks="entries"),
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
         kernel=lambda xp, n, s, x: s * x, sample=("c: scalar; X: m x n; sum(c X)", {}),
         blocks="entries"),
    Prim("div", 2, r_div, Infix("/", "/", "/", PROD),
         py="_div({0}, {1})", py_helper=_DIV_SRC,
         doc="quotient rule (A / c); 0/0 is 0 (so ∂‖x‖ = x/‖x‖ is 0 at x = 0)",
         d=lambda n, a, da: A.sub(A.div(da[0], a[1]), A.smul(A.div(da[1], a[1]), n)),
         adjoint=lambda n, i, G: A.div(G, n.args[1]),
         vjac=lambda n, i: A.div(A.eye(_size(n.shape)), n.args[1]),
         kernel=lambda xp, n, x, s: _div(xp, x, s),
         sample=("c: scalar; X: m x n; sum(X / c)", {"c": "pos"}), blocks="entries"),
    Prim("hadamard", 2, r_same2("Hadamard product"), Infix(".*", "∘", r"\odot", PROD),
         py="({0} * {1})", doc="product rule (A ∘ B)",
         d=lambda n, a, da: A.add(A.hadamard(da[0], a[1]), A.hadamard(a[0], da[1])),
         adjoint=lambda n, i, G: A.hadamard(G, _other(n, i)),
         vjac=lambda n, i: A.fn("diag", A.fn("vec", _other(n, i))),
         kernel=lambda xp, n, a, b: a * b, sample=("X, Y: m x n; sum(X .* Y)", {}),
         blocks="entries"),
    Prim("hdiv", 2, r_same2("elementwise division"), Infix("./", "⊘", r"\oslash", PROD),
         py="({0} / {1})", doc="quotient rule (A ./ B)",
         d=lambda n, a, da: A.sub(A.hdiv(da[0], a[1]), A.hadamard(A.hdiv(n, a[1]), da[1])),
         adjoint=lambda n, i, G: A.hdiv(G, n.args[1]),
         vjac=lambda n, i: A.fn("diag", A.fn("vec", A.hdiv(1, n.args[1]))),
         kernel=lambda xp, n, a, b: a / b,
         sample=("X, Y: m x n; sum(X ./ Y)", {"Y": "pos"}), blocks="entries"),
    Prim("kron", 2, r_kron, {"matd": Call("kron"), "unicode": Infix("⊗", "⊗", "⊗", PROD),
                             "latex": Infix("⊗", "⊗", r"\otimes", PROD)}, ("kron",),
         py="np.kron({0}, {1})", doc="product rule (A ⊗ B)",
         d=lambda n, a, da: A.add(A.kron(da[0], a[1]), A.kron(a[0], da[1])),
         adjoint=_adjoint_from_vjac, vjac=_kron_vjac,
         kernel=lambda xp, n, a, b: _kron(xp, a, b),
         sample=("A: m x n; B: p x q; sum(exp(kron(A, B)))", {})),
    Prim("transpose", 1, r_transpose, Postfix("^T", "ᵀ", r"^{\top}"), ("transpose",), linear=True,
         py="{0}.T", doc="transpose", adjoint=lambda n, i, G: A.transpose(G),
         vjac=lambda n, i: A.commutation(*n.args[0].shape),
         kernel=lambda xp, n, a: a.T, sample=("A: m x n; B: n x m; tr(A^T B^T)", {})),
    Prim("inv", 1, r_square("inverse"), Postfix("^-1", "⁻¹", "^{-1}"), ("inv", "inverse"),
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
         sample=("X: m x n; p: scalar; sum(X.^p)", {"X": "pos", "p": "pos"}), blocks="entries"),
    Prim("broadcast", 1, r_leaf, Leaf(), linear=True,
         py="np.broadcast_to({0}, {shape})",
         doc="a scalar, row or column repeated to a shape (implicit in +)",
         adjoint=_broadcast_adjoint, vjac=_broadcast_vjac,
         kernel=lambda xp, n, a: xp.broadcast_to(a, n.shape),
         sample=("X: m x n; b: n; c: scalar; x: m; sum(exp(X + b^T + x + c))", {}),
         blocks="entries"),
    Prim("ufunc", 1, r_same, Leaf(), doc="a user-defined elementwise function (chain rule)",
         d=lambda n, a, da: A.hadamard(A.ufunc_derivative(n), da[0]),
         sample=("sp2(t) = log(1 + exp(2 t)); X: m x n; sum(sp2(X))", {})),
    # linear functions
    Prim("tr", 1, r_square_scalar("tr"), Call("tr", latex=r"\operatorname{tr}"), ("tr", "trace"),
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
         kernel=lambda xp, n, a: _s(xp, xp.sum(a)), sample=("X: m x n; sum(X)", {}),
         blocks="sums"),
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
         kernel=lambda xp, n, a: xp.sqrt(a), sample=("X: m x n; sum(sqrt(X))", {"X": "pos"}),
         blocks="entries"),
    Prim("abs", 1, r_same, {"matd": Call("abs"), "unicode": Wrap("|", "|"),
                            "latex": Wrap(r"\left|", r"\right|")}, ("abs",),
         py="np.abs({0})", doc="elementwise |x|; derivative sign(x), 0 at 0",
         d=lambda n, a, da: A.hadamard(A.fn("sign", a[0]), da[0]),
         kernel=lambda xp, n, a: xp.abs(a), sample=("X: m x n; sum(abs(X))", {"X": "nonzero"}),
         blocks="entries"),
    Prim("step", 1, r_same, Call("step", latex=r"\operatorname{step}"), ("step",),
         py="np.heaviside({0}, 0.0)",
         doc="elementwise Heaviside step (1 where x > 0, else 0); derivative 0",
         d=lambda n, a, da: A.zeros(n.shape),
         kernel=lambda xp, n, a: xp.astype(a > 0, a.dtype),
         sample=("X: m x n; sum(step(X))", {"X": "nonzero"}), blocks="entries"),
    Prim("sign", 1, r_same, Call("sign", latex=r"\operatorname{sign}"), ("sign",),
         py="np.sign({0})", doc="elementwise sign (0 at 0); derivative 0",
         d=lambda n, a, da: A.zeros(n.shape), kernel=lambda xp, n, a: xp.sign(a),
         sample=("X: m x n; sum(sign(X))", {"X": "nonzero"}), blocks="entries"),
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
         sample=("X: m x n; norm1(X)", {}), blocks="sums"),
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
    Prim("softmax", 1, r_softmax, Call("softmax", latex=r"\operatorname{softmax}"),
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
         sample=("X, Y: m x n; dot(X, Y)", {}), blocks="sums"),
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
    # batches: reductions along a dimension (MATLAB numbering: 1 down the columns, 2 across)
    Prim("sum_axis", 1, r_axis, Call("sum", params="axis"), linear=True,
         py="np.sum({0}, axis={axis}, keepdims=True)",
         doc="sum along dimension k (k = 1 sums each column into a 1×n row, k = 2 each row "
             "into an m×1 column)",
         adjoint=lambda n, i, G: _spread(n, G), vjac=_axis_vjac,
         kernel=lambda xp, n, a: xp.sum(a, axis=n.params[0] - 1, keepdims=True),
         sample=("X: m x n; a: n; b: m; sum(X, 1) a + b^T sum(X .* X, 2)", {})),
    Prim("mean", 1, r_scalar, Call("mean"), ("mean",),
         linear=True, py="np.mean({0}).reshape(1, 1)",
         doc="mean of all entries (mean(X, k) along dimension k)",
         adjoint=lambda n, i, G: A.div(A.smul(G, A.ones(n.args[0].shape)),
                                       A.smul(_dim_node(n.args[0].shape[0]),
                                              _dim_node(n.args[0].shape[1]))),
         vjac=lambda n, i: A.div(A.transpose(A.ones((_size(n.args[0].shape), ONE))),
                                 _dim_node(_size(n.args[0].shape))),
         kernel=lambda xp, n, a: _s(xp, xp.mean(a)), sample=("X: m x n; mean(X .* X)", {})),
    Prim("mean_axis", 1, r_axis, Call("mean", params="axis"),
         linear=True, py="np.mean({0}, axis={axis}, keepdims=True)",
         doc="mean along dimension k (k = 1 of each column, a 1×n row; k = 2 of each row, an "
             "m×1 column)",
         adjoint=lambda n, i, G: A.div(_spread(n, G), _dim_node(_axis_count(n))),
         vjac=lambda n, i: A.div(_axis_vjac(n, i), _dim_node(_axis_count(n))),
         kernel=lambda xp, n, a: xp.mean(a, axis=n.params[0] - 1, keepdims=True),
         sample=("X: m x n; a: n; b: m; mean(X, 1) a + b^T mean(X .* X, 2)", {})),
    Prim("logsumexp_axis", 1, r_axis,
         Call("logsumexp", params="axis"),
         py="_logsumexp_axis({0}, {axis})", py_helper=_LSE_AXIS_SRC,
         doc="log Σ exp along dimension k: d = sum(softmax(Z, k) ∘ dZ, k)",
         d=lambda n, a, da: _axis_sum(A.hadamard(A.fn("softmax_axis", a[0], params=n.params),
                                                 da[0]), n.params[0]),
         kernel=lambda xp, n, a: _lse_axis(xp, a, n.params[0]),
         sample=("Z: m x n; a: n; b: m; logsumexp(Z, 1) a + b^T logsumexp(Z, 2)", {})),
    Prim("softmax_axis", 1, r_same,
         Call("softmax", params="axis"),
         py="_softmax_axis({0}, {axis})", py_helper=_SOFTMAX_AXIS_SRC,
         doc="softmax along dimension k (k = 2 normalizes each row, as in attention): "
             "dS = S ∘ (dZ − sum(S ∘ dZ, k))",
         d=_softmax_axis_d,
         kernel=lambda xp, n, a: xp.exp(a - _lse_axis(xp, a, n.params[0])),
         sample=("Z, C: m x n; sum(C .* softmax(Z, 2)) + sum(C .* softmax(Z, 1))", {})),
    # elementwise extremes (either argument may be a scalar, a row or a column)
    Prim("max", 2, r_same2("max"), Call("max"), ("max",),
         py="np.maximum({0}, {1})",
         doc="elementwise maximum (a tie counts 0, as relu at 0): "
             "d = step(A − B) ∘ dA + step(B − A) ∘ dB",
         d=_extreme_d(1), kernel=lambda xp, n, a, b: xp.maximum(a, b),
         sample=("X, Y: m x n; sum(max(X, Y) .* max(X, Y))", {}), blocks="entries"),
    Prim("min", 2, r_same2("min"), Call("min"), ("min",),
         py="np.minimum({0}, {1})",
         doc="elementwise minimum (a tie counts 0): d = step(B − A) ∘ dA + step(A − B) ∘ dB",
         d=_extreme_d(-1), kernel=lambda xp, n, a, b: xp.minimum(a, b),
         sample=("X, Y: m x n; sum(min(X, Y) .* min(X, Y))", {}), blocks="entries"),
    # triangular parts and the Cholesky factor
    Prim("tril", 1, r_same, Call("tril", params="offset"),
         ("tril",), linear=True, py="np.tril({0}, {k})",
         doc="lower triangle (tril(M, k) keeps the k-th diagonal and below, tril(M, -1) is "
             "strictly lower)",
         adjoint=lambda n, i, G: A.fn("tril", G, params=n.params), vjac=_tri_vjac(True),
         kernel=lambda xp, n, a: _tri(xp, a, n.params[0], True),
         sample=("X: m x n; sum(exp(tril(X))) + sum(exp(tril(X, -1)))", {})),
    Prim("triu", 1, r_same, Call("triu", params="offset"),
         ("triu",), linear=True, py="np.triu({0}, {k})",
         doc="upper triangle (triu(M, k) keeps the k-th diagonal and above, triu(M, 1) is "
             "strictly upper)",
         adjoint=lambda n, i, G: A.fn("triu", G, params=n.params), vjac=_tri_vjac(False),
         kernel=lambda xp, n, a: _tri(xp, a, n.params[0], False),
         sample=("X: m x n; sum(exp(triu(X))) + sum(exp(triu(X, 1)))", {})),
    Prim("chol", 1, r_square("chol"), Call("chol"), ("chol",),
         py="_chol({0})", py_helper=_CHOL_SRC,
         doc="Cholesky factor (lower-triangular L with S = L Lᵀ; S spd, read as symmetric): "
             "dL = L Φ(L⁻¹ dS L⁻ᵀ), Φ(M) = tril(M, -1) + diag(diag(M))/2",
         d=_chol_d, kernel=lambda xp, n, a: _chol(xp, a),
         sample=("S: n x n spd; C: n x n; sum(C .* chol(S)) + logdet(chol(S))", {"S": "spd"})),
    # matrix functions whose derivatives are linear maps of their own
    Prim("expm", 1, r_square("expm"), Call("expm"), ("expm",),
         py="_expm({0})", py_helper=_EXPM_SRC,
         doc="matrix exponential e^A: d expm(A) = expm_frechet(A, dA), its Fréchet derivative",
         d=lambda n, a, da: _frechet(a[0], da[0]),
         kernel=lambda xp, n, a: _expm(xp, a),
         sample=("A, C: n x n; tr(C^T expm(A))", {})),
    Prim("expm_frechet", 2, r_frechet,
         Call("expm_frechet"), ("expm_frechet",),
         py="_expm_frechet({0}, {1})", py_helper=_FRECHET_SRC,
         doc="the Fréchet derivative L(A, E) of expm at A along E (linear in E, the top-right "
             "block of expm([[A, E], [0, A]]), adjoint L(Aᵀ, ·))",
         d=_frechet_d, adjoint=lambda n, i, G: _frechet(A.transpose(n.args[0]), G),
         kernel=lambda xp, n, a, e: _expm_frechet(xp, a, e),
         sample=("A, E, C: n x n; tr(C^T expm_frechet(A, E))", {})),
    Prim("expm_frechet2", 3, r_frechet2, Call("expm_frechet2"), ("expm_frechet2",),
         py="_expm_frechet2({0}, {1}, {2})", py_helper=_FRECHET2_SRC,
         doc="the second Fréchet derivative L₂(A; E, F) of expm (symmetric and linear in E "
             "and F): the top-right block of L([[A, E], [0, A]], diag(F, F))",
         d=_frechet2_d, adjoint=_frechet2_adjoint,
         kernel=lambda xp, n, a, e, f: _expm_frechet2(xp, a, e, f),
         sample=("E, F, D: n x n; tr(D^T expm_frechet2(eye(n) + 0.3 ones(n, n), E, F .* F))",
                 {})),
    Prim("sqrtm", 1, r_square("sqrtm"), Call("sqrtm"),
         ("sqrtm",), py="_sqrtm({0})", py_helper=_SQRTM_SRC,
         doc="principal square root of an spd matrix (read as symmetric): dX solves the "
             "Sylvester equation X dX + dX X = dS",
         d=lambda n, a, da: A.fn("sylvester", n, n, _sym_d(a[0], da[0])),
         kernel=lambda xp, n, a: _sqrtm(xp, a),
         sample=("S: n x n spd; C: n x n; tr(C sqrtm(S))", {"S": "spd"})),
    Prim("sylvester", 3, r_sylvester, Call("sylvester"),
         ("sylvester",), py="_sylvester({0}, {1}, {2})", py_helper=_SYLVESTER_SRC,
         doc="the solution Y of the Sylvester equation A Y + Y B = C (linear in C; adjoint "
             "sylvester(Aᵀ, Bᵀ, G))",
         d=_sylvester_d,
         adjoint=lambda n, i, G: A.fn("sylvester", A.transpose(n.args[0]),
                                      A.transpose(n.args[1]), G),
         vjac=lambda n, i: A.inv(A.add(A.kron(A.eye(n.shape[1]), n.args[0]),
                                       A.kron(A.transpose(n.args[1]), A.eye(n.shape[0])))),
         kernel=lambda xp, n, a, b, c: _sylvester(xp, a, b, c),
         sample=("A, B, C, D: n x n; tr(D^T sylvester(A, B, C))",
                 {"A": "wellcond", "B": "wellcond"})),
    Prim("solve", 2, r_solve, Call("solve"), ("solve",),
         py="np.linalg.solve({0}, {1})",
         doc="A⁻¹B, evaluated as a linear solve: d = solve(A, dB − dA solve(A, B))",
         d=_solve_d, adjoint=lambda n, i, G: A.fn("solve", A.transpose(n.args[0]), G),
         vjac=lambda n, i: A.kron(A.eye(n.shape[1]), A.inv(n.args[0])),
         kernel=lambda xp, n, a, b: xp.linalg.solve(a, b),
         sample=("A: n x n; B: n x p; C: n x p; sum(C .* solve(A, B))", {"A": "wellcond"})),
    # spectral factors (distinct eigenvalues / singular values assumed)
    Prim("eigvals", 1, r_eigvals, Call("eigvals"), ("eigvals",),
         py="np.linalg.eigvalsh(({0} + {0}.T) / 2).reshape(-1, 1)",
         doc="eigenvalues of a symmetric matrix, ascending (read as symmetric): "
             "dλ = diag(Vᵀ dS V), V = eigvecs(S)",
         d=_eigvals_d,
         kernel=lambda xp, n, a: xp.reshape(xp.linalg.eigvalsh(_symmetric(a)), (-1, 1)),
         sample=("S: n x n sym; c: n; c^T eigvals(S)", {"S": "sym"})),
    Prim("eigvecs", 1, r_square("eigvecs"), Call("eigvecs"), ("eigvecs",),
         py="_eigvecs({0})", py_helper=_EIGVECS_SRC,
         doc="orthonormal eigenvectors of a symmetric matrix (columns in the order of eigvals, "
             "each column's largest entry positive; distinct eigenvalues): "
             "dV = V (F ∘ Vᵀ dS V), F = gapinv(eigvals(S))",
         d=_eigvecs_d, kernel=lambda xp, n, a: _eigh(xp, a)[1],
         sample=("S: n x n sym; C: n x n; sum(C .* eigvecs(S))", {"S": "sym"})),
    Prim("gapinv", 1, r_gaps, Call("gapinv"), ("gapinv",),
         py="_gapinv({0})", py_helper=_GAPINV_SRC,
         doc="the matrix F of 1/(vⱼ − vᵢ), 0 on the diagonal, in the derivatives of "
             "eigenvectors and singular vectors (an error where two values coincide)",
         d=_gapinv_d, kernel=lambda xp, n, v: _gapinv(xp, v),
         sample=("v: n; C: n x n; sum(C .* gapinv(v))", {})),
    Prim("svdvals", 1, r_columns_vector, Call("svdvals"), ("svdvals",),
         py="np.linalg.svd({0}, compute_uv=False).reshape(-1, 1)",
         doc="singular values of an m×n matrix (m ≥ n), descending: dσ = diag(Uᵀ dX V)",
         d=_svdvals_d,
         kernel=lambda xp, n, a: xp.reshape(_svd(xp, a, factors=False)[1], (-1, 1)),
         sample=("X: n x p; c: p; c^T svdvals(X)", {})),
    Prim("svd_u", 1, r_same, Call("svd_u"), ("svd_u",),
         py="_svd_u({0})", py_helper=_SVD_U_SRC,
         doc="left singular vectors U of X = U Σ Vᵀ (m×n, thin, m ≥ n; columns in the order "
             "of svdvals, each one's largest entry positive; distinct singular values): "
             "dU = U (F ∘ (P Σ + Σ Pᵀ)) + (I − U Uᵀ) dX V Σ⁻¹, P = Uᵀ dX V, "
             "F = gapinv(σ ∘ σ)",
         d=_svd_u_d, kernel=lambda xp, n, a: _svd(xp, a)[0],
         sample=("X, C: n x p; sum(C .* svd_u(X))", {})),
    Prim("svd_v", 1, r_columns_square, Call("svd_v"), ("svd_v",),
         py="_svd_v({0})", py_helper=_SVD_V_SRC,
         doc="right singular vectors V (n×n) of X = U Σ Vᵀ (signs paired with svd_u's): "
             "dV = V (F ∘ (Σ P + Pᵀ Σ)) + (I − V Vᵀ) dXᵀ U Σ⁻¹",
         d=_svd_v_d, kernel=lambda xp, n, a: _svd(xp, a)[2],
         sample=("X: n x p; C: p x p; sum(C .* svd_v(X))", {})),
    Prim("qr_q", 1, r_same, Call("qr_q"), ("qr_q",),
         py="_qr_q({0})", py_helper=_QR_Q_SRC,
         doc="Q of the thin QR X = Q R (m ≥ n, full column rank, R's diagonal positive): "
             "dQ = Q Ω + (I − Q Qᵀ) dX R⁻¹, Ω the skew part of Qᵀ dX R⁻¹ below the diagonal",
         d=_qr_q_d, kernel=lambda xp, n, a: _qr(xp, a)[0],
         sample=("X, C: n x p; sum(C .* qr_q(X))", {})),
    Prim("qr_r", 1, r_columns_square, Call("qr_r"), ("qr_r",),
         py="_qr_r({0})", py_helper=_QR_R_SRC,
         doc="R of the thin QR (upper triangular, positive diagonal): dR = Qᵀ dX − Ω R",
         d=_qr_r_d, kernel=lambda xp, n, a: _qr(xp, a)[1],
         sample=("X: n x p; C: p x p; sum(C .* qr_r(X))", {})),
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

# Families of functions, for suggestions that stay within one (expm is not exp).
_ENTRYWISE = frozenset(("exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "relu",
                        "sqrt", "abs", "step", "sign", "max", "min", "ufunc"))
_MATRIX = frozenset(("inv", "det", "logdet", "pinv", "adj", "chol", "expm", "expm_frechet",
                     "sqrtm", "sylvester", "solve", "eigvals", "eigvecs", "gapinv", "svdvals",
                     "svd_u", "svd_v", "qr_q", "qr_r", "lambda_max", "lambda_min", "eigvec_max",
                     "eigvec_min", "svd_u1", "svd_v1", "polar", "mpow"))


def family(name: str) -> str | None:
    """'elementwise', 'matrix function' or 'other' for a function's spelling; for an unknown
    name, a guess where the name says it (logm: a matrix function), else None.

    >>> family("exp"), family("expm"), family("logm"), family("frobnicate")
    ('elementwise', 'matrix function', 'matrix function', None)
    """
    prim = FUNCTIONS.get(name)
    if prim is not None:
        op = prim.op
        return "elementwise" if op in _ENTRYWISE else \
            "matrix function" if op in _MATRIX else "other"
    stem = name[:-1] if name.endswith("m") else None
    if stem and (stem in FUNCTIONS and family(stem) == "elementwise" or stem in
                 ("log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "pow")):
        return "matrix function"
    return None

class _Algebra:
    """``A``: matd.core.algebra, imported when a column first needs it (so that
    parsing and checking never load it)."""

    def __getattr__(self, name):
        import matd.core.algebra as algebra
        globals()["A"] = algebra
        return getattr(algebra, name)


A = _Algebra()
