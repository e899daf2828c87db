"""Building IR by hand: smart constructors and operators on nodes.

Differentials, adjoints and rewrite rules are written with these, so they read
like the book (``-inv(X) @ dX @ inv(X)``).  Every constructor shape-checks
through the primitive table (a failure here is a bug in matd, not a user
error) and does the local algebra that keeps terms small: symbolic zeros and
identities vanish, sums and products flatten, numbers fold, scalars move to
the front of products, transposes of symmetric things disappear.

>>> from matd.core.shapes import Dim
>>> n = Dim.sym("n")
>>> X = var("X", (n, n))
>>> print(to_text(-inv(X) @ dvar(X) @ inv(X)))
-X^-1 dX X^-1
"""
from __future__ import annotations

import math
import weakref
from numbers import Number

from matd.core.expr import Node
from matd.core.primitives import PRIMS, ShapeFail
from matd.core.shapes import SCALAR, Clash, Dim, Unifier

_CHECK = Unifier()  # final shapes hold no unknowns: unify only compares


_MADE: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()


def make(op: str, *args: Node, params: tuple = ()) -> Node:
    """Build a node through its primitive's shape rule (no simplification).  A node built
    before is found without its shape rule (which walks a product's every factor)."""
    key = (op, args, params)
    node = _MADE.get(key)
    if node is not None:
        return node
    try:
        shape = PRIMS[op].shape(_CHECK, [a.shape for a in args], params)
    except (ShapeFail, Clash) as e:
        raise AssertionError(f"matd built an ill-shaped {op}: {e} "
                             f"{[a.shape for a in args]}") from None
    node = _MADE[key] = Node.make(op, args, params, shape)
    return node


# --- leaves -------------------------------------------------------------------------
def var(name: str, shape, attrs: tuple = ()) -> Node:
    return Node.make("var", (), (name, tuple(attrs)), tuple(shape))


def dvar(x: Node) -> Node:
    """The differential ``dX`` of a variable: a leaf with X's shape."""
    return Node.make("dvar", (), (x.params[0],), x.shape)


def const(v) -> Node:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
        v = int(v)
    return Node.make("const", (), (v,), SCALAR)


def folded(f, *vals):
    """f(*vals) for constant folding, or None where the result would not be a finite
    number (c / 0, 0^-1, overflow): such constants stay unfolded in the IR, so that a
    printed formula never holds inf or nan and evaluation reports the trouble."""
    try:
        v = f(*vals)
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    if isinstance(v, complex) or isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def zeros(shape) -> Node:
    return Node.make("zeros", (), (), tuple(shape))


def ones(shape) -> Node:
    return Node.make("ones", (), (), tuple(shape))


def eye(n: Dim) -> Node:
    if n.is_one:
        return const(1)
    return Node.make("eye", (), (), (n, n))


def lift(x, like: Node | None = None) -> Node:
    """Python numbers become constants, broadcast to ``like``'s shape when given."""
    if isinstance(x, Node):
        return x
    assert isinstance(x, Number), x
    c = const(x)
    if like is not None and not like.is_scalar:
        return broadcast(c, like.shape)
    return c


# --- predicates -------------------------------------------------------------------------
def is_zero(x: Node) -> bool:
    return x.op == "zeros" or x.op == "const" and x.params[0] == 0


def is_one(x: Node) -> bool:
    return x.op == "const" and x.params[0] == 1


def is_eye(x: Node) -> bool:
    return x.op == "eye" or is_one(x)


def is_const(x: Node) -> bool:
    return x.op == "const"


_SYM: "weakref.WeakKeyDictionary[Node, bool]" = weakref.WeakKeyDictionary()


def is_sym(x: Node) -> bool:
    """Known symmetric: sym/spd variables, I, diag(v), scalars, inv/powers of
    symmetric matrices, Aᵀ A-like palindromes, and sums and scalings of these.
    Memoized per node (it recurses through ``transpose``, which asks it again)."""
    got = _SYM.get(x)
    if got is None:
        got = _SYM[x] = _is_sym(x)
    return got


def _is_sym(x: Node) -> bool:
    if x.shape[0] != x.shape[1]:
        return False
    op = x.op
    if x.is_scalar or op in ("eye", "zeros"):
        return True
    if op == "var":
        return any(a in ("sym", "spd", "diag") for a in x.params[1])
    if op == "ones":
        return True
    if op == "diag":
        return x.args[0].shape[1].is_one
    if op in ("inv", "mpow", "neg", "expm", "sqrtm"):
        return is_sym(x.args[0])
    if op == "add":  # symmetric terms, or terms closed under transposition (A + Aᵀ)
        terms = set(x.args)
        return all(is_sym(a) or _transpose_in(a, terms) for a in x.args)
    if op == "smul":
        return is_sym(x.args[1])
    if op == "div":
        return is_sym(x.args[0])
    if op in ("hadamard", "hdiv"):
        return all(is_sym(a) for a in x.args)
    if op == "broadcast":
        return x.args[0].is_scalar
    if op == "matmul":  # a palindrome  F1 F2 … F2ᵀ F1ᵀ
        f = x.args
        n = len(f)
        for i in range(n // 2):
            if transpose(f[i]) is not f[n - 1 - i]:
                return False
        return n % 2 == 0 or is_sym(f[n // 2])
    if op in ("epow",) or op in ELEMENTWISE_OPS:
        return is_sym(x.args[0])
    return False


def _transpose_in(a: Node, terms: set) -> bool:
    t = a.args[0] if a.op == "transpose" else None
    return t in terms or any(s.op == "transpose" and s.args[0] is a for s in terms)


ELEMENTWISE_OPS = frozenset(
    ("exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "relu", "sqrt", "abs", "ufunc"))


# --- constructors with local algebra ----------------------------------------------
def broadcast(x: Node, shape) -> Node:
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if x.op == "const" and x.params[0] == 0 or x.op == "zeros":
        return zeros(shape)
    if x.op == "ones":
        return ones(shape)
    if x.op == "neg" and not x.is_scalar:   # the sign outside: -(x 1ᵀ), not (-x) 1ᵀ
        return neg(broadcast(x.args[0], shape))
    return Node.make("broadcast", (x,), (), shape)


def add(*terms) -> Node:
    terms = [t for t in terms if t is not None]
    nodes = [t for t in terms if isinstance(t, Node)]
    shape = nodes[0].shape if nodes else SCALAR
    flat: list[Node] = []
    for t in terms:
        t = lift(t)
        if t.shape != shape and t.is_scalar:
            t = broadcast(t, shape)
        if is_zero(t):
            continue
        flat.extend(t.args if t.op == "add" else (t,))
    nums = [t for t in flat if t.op == "const"]
    total = folded(lambda: sum(t.params[0] for t in nums)) if len(nums) > 1 else None
    if total is not None:
        flat = [t for t in flat if t.op != "const"] + [const(total)]
        flat = [t for t in flat if not is_zero(t)]
    if not flat:
        return zeros(shape) if shape != SCALAR else const(0)
    if len(flat) == 1:
        return flat[0]
    return make("add", *flat)


def neg(x: Node) -> Node:
    if is_zero(x):
        return x
    if x.op == "neg":
        return x.args[0]
    if x.op == "const":
        return const(-x.params[0])
    if x.op == "smul" and x.args[0].op == "const":
        return smul(const(-x.args[0].params[0]), x.args[1])
    return make("neg", x)


def sub(a, b) -> Node:
    a, b = lift(a), lift(b)
    if a.shape != b.shape:
        a, b = (broadcast(a, b.shape), b) if a.is_scalar else (a, broadcast(b, a.shape))
    return add(a, neg(b))


def smul(s: Node, x: Node) -> Node:
    """Scalar s times x."""
    if is_zero(s) or is_zero(x):
        return zeros(x.shape) if not x.is_scalar else const(0)
    if is_one(s):
        return x
    if s.op == "const" and s.params[0] == -1:
        return neg(x)
    if x.is_scalar and is_one(x):
        return s
    if x.op == "neg":
        return neg(smul(s, x.args[0]))
    if s.op == "neg":
        return neg(smul(s.args[0], x))
    if s.op == "const" and x.op == "const" and \
            folded(lambda: s.params[0] * x.params[0]) is not None:
        return const(s.params[0] * x.params[0])
    if s.op == "const" and x.op == "smul" and x.args[0].op == "const" and \
            folded(lambda: s.params[0] * x.args[0].params[0]) is not None:
        return smul(const(s.params[0] * x.args[0].params[0]), x.args[1])
    if x.is_scalar and x.op == "const":
        s, x = x, s
    if x.op == "broadcast" and x.args[0].is_scalar and s.is_scalar:
        return broadcast(smul(s, x.args[0]), x.shape)
    return make("smul", s, x)


MAX_CHAIN = 256   # a product of more factors stays whole inside a product (linear work)


def matmul(*factors: Node) -> Node:
    """A matrix product chain; identities drop, zeros absorb, 1×1 factors move out.
    A factor that is a product of more than MAX_CHAIN factors stays one factor: spliced,
    a definition used twice (t2 = t1 B t1ᵀ, t3 = t2 B t2ᵀ, …) would double the chain's
    length at each level, and the product rule would make as many terms of that length."""
    flat: list[Node] = []
    pulled: list[Node] = []   # scalar multiples pulled out of the factors
    for f in factors:
        while not f.is_scalar and f.op in ("smul", "neg", "div"):
            if f.op == "smul":
                pulled.append(f.args[0])
                f = f.args[1]
            elif f.op == "neg":
                pulled.append(const(-1))
                f = f.args[0]
            else:
                pulled.append(epow(f.args[1], const(-1)))
                f = f.args[0]
        flat.extend(f.args if f.op == "matmul" and len(f.args) <= MAX_CHAIN else (f,))
    if pulled:
        s = pulled[0]
        for t in pulled[1:]:
            s = smul(s, t)
        return smul(s, matmul(*flat))
    m, n = flat[0].shape[0], flat[-1].shape[1]
    if any(is_zero(f) for f in flat):
        return zeros((m, n)) if (m, n) != SCALAR else const(0)
    flat = [f for f in flat if f.op != "eye"]
    scalars = [f for f in flat if f.is_scalar]
    if scalars and len(scalars) < len(flat) or len(flat) > 1 and len(scalars) == len(flat):
        rest = [f for f in flat if not f.is_scalar] or [scalars.pop()]
        s = scalars[0] if scalars else None
        for t in scalars[1:]:
            s = smul(s, t)
        core = rest[0] if len(rest) == 1 else make("matmul", *rest)
        return smul(s, core) if s is not None else core
    if not flat:
        return eye(m)
    if len(flat) == 1:
        return flat[0]
    return make("matmul", *flat)


def mul(a, b) -> Node:
    """``a b`` as matd reads it: a scaling when either side is a scalar, else a product."""
    a, b = lift(a), lift(b)
    if a.is_scalar:
        return smul(a, b)
    if b.is_scalar:
        return smul(b, a)
    return matmul(a, b)


def hadamard(a, b) -> Node:
    a, b = lift(a, b if isinstance(b, Node) else None), lift(b, a if isinstance(a, Node) else None)
    shape = b.shape if a.is_scalar else a.shape
    out = _hadamard(a, b)
    return out if out.shape == shape else broadcast(out, shape)


def _hadamard(a: Node, b: Node) -> Node:
    if a.op == "broadcast" and a.args[0].is_scalar:
        a = a.args[0]
    if b.op == "broadcast" and b.args[0].is_scalar:
        b = b.args[0]
    if a.is_scalar and not b.is_scalar:
        return smul(a, b)
    if b.is_scalar and not a.is_scalar:
        return smul(b, a)
    if is_zero(a) or is_zero(b):
        return zeros(a.shape)
    for x, y in ((a, b), (b, a)):   # signs and scalar multiples come out: (-A) ∘ B = -(A ∘ B)
        if x.op == "neg" and not x.is_scalar:
            return neg(_hadamard(x.args[0], y))
        if x.op == "smul" and not x.is_scalar:
            return smul(x.args[0], _hadamard(x.args[1], y))
    if a.op == "ones" or a.op == "broadcast" and is_one(a.args[0]):
        return b
    if b.op == "ones" or b.op == "broadcast" and is_one(b.args[0]):
        return a
    if a.is_scalar:
        return smul(a, b)
    if b.op == "hadamard" and _chain_length(b) <= _REASSOCIATE:
        return _hadamard(_hadamard(a, b.args[0]), b.args[1])   # associative: a ∘ b ∘ c
    return make("hadamard", a, b)   # a long chain is shared whole, not rebuilt per factor


_REASSOCIATE = 16   # a ∘ (b ∘ c ∘ …) is rebuilt as a ∘ b ∘ c ∘ … up to this many factors


def _chain_length(b: Node) -> int:
    """How many factors b's left-deep ∘ chain has, counted up to _REASSOCIATE + 1."""
    k = 1
    while b.op == "hadamard" and k <= _REASSOCIATE:
        b, k = b.args[0], k + 1
    return k


def div(a: Node, s) -> Node:
    s = lift(s)
    if is_one(s):
        return a
    if is_zero(a):
        return a
    if s.op == "const" and folded(lambda: 1 / s.params[0]) is not None:
        return smul(const(1 / s.params[0]), a)
    if a.op == "neg":                    # (-a) / s = -(a / s): the sign stays outside
        return neg(div(a.args[0], s))
    return make("div", a, s)


def hdiv(a, b) -> Node:
    a, b = lift(a, b if isinstance(b, Node) else None), lift(b, a if isinstance(a, Node) else None)
    if b.is_scalar:
        return div(a, b)
    if is_zero(a):
        return a
    if a.op == "neg":                    # (-a) ⊘ b = -(a ⊘ b)
        return neg(hdiv(a.args[0], b))
    return make("hdiv", a, b)


_TRANSPOSED: "weakref.WeakKeyDictionary[Node, Node]" = weakref.WeakKeyDictionary()


def transpose(x: Node) -> Node:
    op = x.op
    if x.is_scalar:
        return x
    if op == "transpose":
        return x.args[0]
    if op in ("zeros", "ones"):
        return Node.make(op, (), (), (x.shape[1], x.shape[0]))
    if op == "eye" or is_sym(x):
        return x
    if op == "matmul":   # memoized: a product kept whole inside others (MAX_CHAIN) recurs
        got = _TRANSPOSED.get(x)
        if got is None:
            got = matmul(*(transpose(f) for f in reversed(x.args)))
            if got is not x:   # (an entry that holds its key would never be freed)
                _TRANSPOSED[x] = got
        return got
    if op == "smul":
        return smul(x.args[0], transpose(x.args[1]))
    if op == "neg":
        return neg(transpose(x.args[0]))
    if op == "broadcast":
        return broadcast(transpose(x.args[0]), (x.shape[1], x.shape[0]))
    if op == "div":
        return div(transpose(x.args[0]), x.args[1])
    if op == "mpow":
        return mpow(transpose(x.args[0]), x.params[0])
    if op == "kron":                     # (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ
        return kron(transpose(x.args[0]), transpose(x.args[1]))
    return make("transpose", x)


def inv(x: Node) -> Node:
    if x.is_scalar:
        return epow(x, const(-1))
    if x.op == "inv":
        return x.args[0]
    if x.op == "eye":
        return x
    if x.op == "smul":                   # (c X)⁻¹ = X⁻¹ / c
        return div(inv(x.args[1]), x.args[0])
    if x.op == "neg":
        return neg(inv(x.args[0]))
    return make("inv", x)


def epow(x: Node, p) -> Node:
    p = lift(p)
    if is_one(p):
        return x
    if p.op == "const" and p.params[0] == 0:
        return broadcast(const(1), x.shape)
    if x.op == "epow" and x.args[1].op == "const" and p.op == "const" and \
            isinstance(p.params[0], int):
        return epow(x.args[0], const(x.args[1].params[0] * p.params[0]))
    return make("epow", x, p)


def fn(op: str, *args: Node, params: tuple = ()) -> Node:
    """Any table primitive by its op name, e.g. ``fn("tr", X)``."""
    if op == "tr" and args[0].is_scalar:
        return args[0]
    if op == "tr" and args[0].op == "eye":
        return Node.make("dim", (), (args[0].shape[0],), SCALAR) if not \
            args[0].shape[0].is_const else const(args[0].shape[0].coef)
    if op in ("tr", "sum", "diag", "vec") and is_zero(args[0]):
        return zeros(PRIMS[op].shape(_CHECK, [args[0].shape], params))
    if op == "diag" and args[0].is_scalar:
        return args[0]
    if op == "diag" and args[0].op == "ones" and args[0].shape[1].is_one:
        return eye(args[0].shape[0])            # diag(1) = I
    if op == "diag" and args[0].op == "diag" and args[0].args[0].shape[1].is_one:
        return args[0].args[0]                  # the diagonal of diag(v) is v
    if op == "diag" and args[0].op == "eye":
        return ones((args[0].shape[0], Dim.const(1)))   # diag(I) = 1
    if op == "vec" and args[0].shape[1].is_one:
        return args[0]
    return make(op, *args, params=params)


def kron(a: Node, b: Node) -> Node:
    if a.is_scalar:
        return smul(a, b)
    if b.is_scalar:
        return smul(b, a)
    if is_zero(a) or is_zero(b):
        return zeros((a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))
    if a.op == "eye" and b.op == "eye":
        return eye(a.shape[0] * b.shape[0])
    return make("kron", a, b)


def unvec(v: Node, m: Dim) -> Node:
    """vec⁻¹: the (m·n)-vector v as an m×n matrix."""
    if v.op == "vec" and v.args[0].shape[0] == m:
        return v.args[0]
    if m == v.shape[0]:
        return v
    return make("unvec", v, params=(m,))


def commutation(m: Dim, n: Dim) -> Node:
    """K(m,n) with K vec(X) = vec(Xᵀ) for an m×n X; the identity when X is a vector."""
    if m.is_one or n.is_one:
        return eye(m * n)
    return Node.make("commutation", (), (m, n), (m * n, m * n))


def mpow(x: Node, k: int) -> Node:
    if k == 0:
        return eye(x.shape[0])
    if k == 1:
        return x
    return make("mpow", x, params=(k,))


def ufunc_derivative(n: Node) -> Node:
    """f'(X) for a user function application f(X) (matd's rules differentiate the body)."""
    from matd.core.userfunc import derivative_at
    return derivative_at(n.params[0], n.args[0])


def tr(x: Node) -> Node:
    return fn("tr", x)


def inner(a: Node, b: Node) -> Node:
    """⟨A, B⟩ = tr(Aᵀ B) (a scalar), written as the textbooks write it."""
    if a.is_scalar:
        return smul(a, b)
    if a.shape[1].is_one:
        return matmul(transpose(a), b)
    return tr(matmul(transpose(a), b))


def inner_display(a: Node, b: Node) -> Node:
    """⟨A, B⟩ for printing df: transposes pushed into a sum, (A + Bᵀ)ᵀ dX -> (Aᵀ + B) dX."""
    if a.op == "add" and not a.is_scalar:
        at = add(*(transpose(t) for t in a.args))
        return tr(matmul(at, b)) if not a.shape[1].is_one else matmul(at, b)
    return inner(a, b)


def to_text(x: Node) -> str:
    from matd.core.printers import to_matd
    return to_matd(x)


# --- operators, so rules read like the book ----------------------------------------
def _install() -> None:
    Node.__add__ = lambda a, b: add(a, lift(b, a))
    Node.__radd__ = lambda a, b: add(lift(b, a), a)
    Node.__sub__ = lambda a, b: sub(a, b)
    Node.__rsub__ = lambda a, b: sub(lift(b, a), a)
    Node.__neg__ = neg
    Node.__matmul__ = mul
    Node.__rmatmul__ = lambda a, b: mul(b, a)
    Node.__mul__ = hadamard
    Node.__rmul__ = lambda a, b: hadamard(b, a)
    Node.__truediv__ = lambda a, b: hdiv(a, b)
    Node.__rtruediv__ = lambda a, b: hdiv(lift(b, a), a)
    Node.__pow__ = epow
    Node.T = property(transpose)


_install()
