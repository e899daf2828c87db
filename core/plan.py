"""Compiled evaluation: an IR DAG -> a plan of steps for concrete sizes, run many times.

Compiling once decides what is computed and how, for the actual sizes:

- every shared subexpression is one step (computed once);
- matrix chains are multiplied in the cheapest order (matrix-chain DP on flops);
- ``inv(X) B`` / ``B inv(X)`` (and with X⁻ᵀ) are solves, never an inverse,
  unless the inverse is needed by itself anyway;
- ``(A + Aᵀ) x`` is ``A x + Aᵀ x`` when x is thin (no n×n sum formed);
- ``diag(v) A`` / ``A diag(v)`` scale rows / columns, never a dense diagonal;
- ``kron(A, B) M`` is applied as ``B X Aᵀ`` on reshaped columns, never formed;
- ``logdet`` of an spd variable goes through Cholesky, otherwise ``slogdet``;
- on numpy, elementwise steps write into a temporary that dies with them (a chain
  such as ``1 - tanh(Z).^2`` reuses one buffer), and dead temporaries are freed.

Kernels come from the primitive table's ``kernel`` column; the plan itself uses
only array-API calls, so it runs on numpy, CuPy or ``array_api_strict`` alike.
Numerical trouble (singular or indefinite matrices, NaN/Inf, overflow) raises
``NumericError`` naming the subexpression.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("X, B: n x n; tr(inv(X) B)")
>>> plan = Plan([p.result], {"n": 3})
>>> [s.label for s in plan.steps if s.kind != "input"]
['solve', 'tr']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from matd.core.errors import MatdError
from matd.core.expr import Node, walk
from matd.core.primitives import PRIMS, DomainError, _commutation


class NumericError(MatdError):
    """Numerical trouble while evaluating (exit 2)."""


class OutOfMemory(MatdError):
    """A request whose arrays do not fit in memory (exit 2; not numerical trouble)."""


def _memory_error(st: "Step", e: Exception | None = None) -> OutOfMemory:
    from matd.core.backend import human_bytes
    r, c = st.shape
    return OutOfMemory(f"not enough memory to evaluate {_what(st)}: it is a {r} x {c} array "
                       f"({human_bytes(8 * r * c)} in float64)",
                       hint="give smaller sizes (--dims) or smaller inputs")


def _too_big(e: Exception) -> bool:
    """numpy's ways of saying an array cannot be had (besides MemoryError)."""
    msg = str(e)
    return isinstance(e, ValueError) and ("array is too big" in msg or
                                          "Maximum allowed dimension" in msg or
                                          "maximum supported dimension" in msg)


def size(d, sizes: dict) -> int:
    out = d.coef
    for f in d.factors:
        if f not in sizes:
            raise MatdError(f"dimension '{f}' has no size",
                            hint=f"give it one: --dims {f}=N (or an input array that has it)")
        out *= sizes[f]
    return out


@dataclass
class Step:
    kind: str            # input | const | kernel | matmul | solve | rsolve | rowscale | …
    node: Node | None    # what it computes (None for intermediate chain products)
    args: tuple          # slot numbers
    shape: tuple
    extra: object = None
    label: str = ""


@dataclass
class Plan:
    """A compiled evaluation of ``outputs`` for the given dim sizes."""

    outputs: list
    sizes: dict
    spd: frozenset = frozenset()
    steps: list = field(default_factory=list)
    out_slots: list = field(default_factory=list)

    def __post_init__(self):
        self.slot: dict[Node, int] = {}
        self.users: dict[Node, int] = {}
        for r in self.outputs:
            for n in walk(r):
                for a in n.args:
                    self.users[a] = self.users.get(a, 0) + 1
        for r in self.outputs:
            self.users[r] = self.users.get(r, 0) + 1
        self.out_slots = [self.compile(r) for r in self.outputs]

    # -- compiling ------------------------------------------------------------------
    def shape(self, n: Node) -> tuple[int, int]:
        return (size(n.shape[0], self.sizes), size(n.shape[1], self.sizes))

    def emit(self, kind, node, args, shape, extra=None, label="") -> int:
        self.steps.append(Step(kind, node, tuple(args), shape, extra, label))
        return len(self.steps) - 1

    def compile(self, n: Node) -> int:
        if n in self.slot:
            return self.slot[n]
        op = n.op
        if op in ("var", "dvar"):
            s = self.emit("input", n, (), self.shape(n), (op, n.params[0]))
        elif op in ("const", "dim", "eye", "ones", "zeros", "commutation"):
            s = self.emit("const", n, (), self.shape(n))
        elif op == "matmul":
            s = self.chain(n)
        elif op == "logdet" and n.args[0].op == "var" and n.args[0].params[0] in self.spd:
            s = self.emit("cholesky_logdet", n, (self.compile(n.args[0]),), (1, 1))
        elif op == "ufunc":   # the body, entrywise in the argument (matd.core.userfunc)
            from matd.core.userfunc import entrywise
            s = self.compile(entrywise(n.params[0], n.args[0]))
        elif op == "add" and any(a.op == "neg" for a in n.args):  # A - B, no -B formed
            signs = tuple(-1 if a.op == "neg" else 1 for a in n.args)
            args = [self.compile(a.args[0] if a.op == "neg" else a) for a in n.args]
            s = self.emit("combine", n, args, self.shape(n), signs, "add")
        elif op == "epow" and n.args[1].op == "const":  # x.^2 as x*x, not a generic pow
            s = self.emit("powc", n, (self.compile(n.args[0]),), self.shape(n),
                          n.args[1].params[0], "epow")
        else:
            args = [self.compile(a) for a in n.args]
            s = self.emit("kernel", n, args, self.shape(n), label=op)
        self.slot[n] = s
        return s

    def _alone(self, n: Node) -> bool:
        """Used only inside the chain being compiled (so no one needs it formed)."""
        return self.users.get(n, 0) <= 1 and n not in self.slot

    def chain(self, n: Node) -> int:
        """A matrix chain: cheapest order by dynamic programming, then solves,
        scalings and Kronecker applications where the factors allow."""
        f: list[Node] = []

        def flatten(x, top=False):
            if x.op == "matmul" and (top or self._alone(x)):
                for a in x.args:
                    flatten(a)
            else:
                f.append(x)
        flatten(n, True)
        dims = [self.shape(f[0])[0]] + [self.shape(x)[1] for x in f]
        k = len(f)
        cost = [[0] * k for _ in range(k)]
        split = [[0] * k for _ in range(k)]
        for length in range(2, k + 1):
            for i in range(k - length + 1):
                j = i + length - 1
                cost[i][j] = float("inf")
                for s in range(i, j):
                    c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                    if c < cost[i][j]:
                        cost[i][j], split[i][j] = c, s

        def build(i, j):
            if i == j:
                return ("factor", f[i])
            s = split[i][j]
            return ("mul", build(i, s), build(s + 1, j), (dims[i], dims[j + 1]))

        return self.lower(build(0, k - 1), n)

    def lower(self, t, node=None) -> int:
        if t[0] == "factor":
            return self.compile(t[1])
        _, lt, rt, shape = t
        left = t[1][1] if lt[0] == "factor" else None
        right = rt[1] if rt[0] == "factor" else None
        # inv(X) R  ->  solve(X, R);   X⁻ᵀ R -> solve(Xᵀ, R)
        for cand, trans in ((left, False), (left, True)):
            inv = _inverse_of(cand, trans)
            if inv is not None and self._alone(cand):
                r = self.lower(rt)
                return self.emit("solve", node, (self.compile(inv), r), shape, trans, "solve")
        for cand, trans in ((right, False), (right, True)):
            inv = _inverse_of(cand, trans)
            if inv is not None and self._alone(cand):
                lft = self.lower(lt)
                return self.emit("rsolve", node, (lft, self.compile(inv)), shape, trans, "rsolve")
        if left is not None and _is_diag_vec(left) and self._alone(left):
            r = self.lower(rt)
            return self.emit("rowscale", node, (self.compile(left.args[0]), r), shape)
        if right is not None and _is_diag_vec(right) and self._alone(right):
            lft = self.lower(lt)
            return self.emit("colscale", node, (lft, self.compile(right.args[0])), shape)
        # (A ⊗ B) M, (A ⊗ B)ᵀ M = (Aᵀ ⊗ Bᵀ) M, M (A ⊗ B) = ((Aᵀ ⊗ Bᵀ) Mᵀ)ᵀ: never formed
        for side, fac in ((0, left), (1, right)):
            kr = _kron_of(fac)
            if kr is not None and self._alone(fac) and (fac.op == "kron" or
                                                        self._alone(fac.args[0])):
                (a, b), trans = kr
                if side == 1:
                    trans = not trans
                a, b = self.compile(a), self.compile(b)
                m = self.lower(rt if side == 0 else lt)
                return self.emit("kron_apply", node, (a, b, m), shape, (trans, side == 1),
                                 "kron_apply")
        # (A + B) v -> A v + B v when v is thin: no m×k sum is formed (and xᵀ(A + B) alike)
        for side, fac in ((0, left), (1, right)):
            if fac is not None and fac.op == "add" and self._alone(fac) and \
                    (shape[1] if side == 0 else shape[0]) * 8 <= min(self.shape(fac)):
                from matd.core.algebra import matmul
                sub = rt if side == 0 else lt
                other = sub[1] if sub[0] == "factor" else None   # one factor: a node
                slot = self.lower(sub) if other is None else None
                parts, signs = [], []
                for term in fac.args:
                    sign = -1 if term.op == "neg" else 1
                    term = term.args[0] if sign < 0 else term
                    if other is not None:  # each product is a chain of its own: best order
                        prod = matmul(term, other) if side == 0 else matmul(other, term)
                        parts.append(self.compile(prod))
                    else:
                        t = self.compile(term)
                        args = (t, slot) if side == 0 else (slot, t)
                        parts.append(self.emit("matmul", None, args, shape, label="matmul"))
                    signs.append(sign)
                return self.emit("combine", node, parts, shape, tuple(signs), "distribute")
        return self.emit("matmul", node, (self.lower(lt), self.lower(rt)), shape, label="matmul")

    # -- running ------------------------------------------------------------------------
    def run(self, env: dict, xp=None, denv: dict | None = None, dtype=None, check=True):
        """Values of the outputs (2-D arrays) for inputs ``env`` (and ``denv`` for dX)."""
        if xp is None:
            import array_api_compat.numpy as xp
        dtype = dtype or xp.float64
        import warnings
        with warnings.catch_warnings():  # trouble is reported below, by name, not warned
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._run(env, xp, denv, dtype, check)

    def _lifetimes(self):
        """last[j]: the last step that reads slot j's memory — directly, or through a view
        of it (a transpose, a reshape, a broadcast) that a later step reads."""
        if not hasattr(self, "_last"):
            last = [-1] * len(self.steps)
            for i, st in enumerate(self.steps):
                for j in st.args:
                    last[j] = i
            for j in self.out_slots:
                last[j] = len(self.steps)
            for i in range(len(self.steps) - 1, -1, -1):
                st = self.steps[i]
                if st.kind in _VIEWS or st.label in _VIEWS:
                    for j in st.args:
                        last[j] = max(last[j], last[i])
            self._last = last
        return self._last

    def _check_memory(self, dtype):
        """Refuse, before allocating anything, a plan with an array larger than the limit."""
        if getattr(self, "_memory_ok", None) == str(dtype):
            return
        from matd.core.backend import allocation_limit
        limit = allocation_limit()
        item = 4 if "32" in str(dtype) else 8
        for st in self.steps:
            if st.kind not in ("input",) and st.label not in _VIEWS and \
                    st.shape[0] * st.shape[1] * item > limit:
                raise _memory_error(st)
        self._memory_ok = str(dtype)

    def _run(self, env, xp, denv, dtype, check):
        self._check_memory(dtype)
        vals: list = [None] * len(self.steps)
        finite = [True] * len(self.steps)   # checked before buffers are reused in place
        last = self._lifetimes()
        inplace = "numpy" in getattr(xp, "__name__", "")
        for i, st in enumerate(self.steps):
            try:
                v = self._fused(st, i, vals, last) if inplace else None
                if v is None:
                    v = self._step(st, vals, env, denv or {}, xp, dtype)
            except MatdError:
                raise
            except MemoryError as e:   # also CuPy's OutOfMemoryError
                raise _memory_error(st, e) from None
            except DomainError as e:   # a kernel's own account of the trouble
                raise _at(NumericError(f"cannot evaluate {_what(st)}: {e}",
                                       hint=e.hint or _hint(st)), st) from None
            except Exception as e:  # noqa: BLE001 - a linear-algebra failure, named
                if _too_big(e):
                    raise _memory_error(st, e) from None
                raise _at(NumericError(_trouble(st, e), hint=_hint(st)), st) from None
            if check:  # blame the first step that turns finite inputs into NaN/Inf
                fin = _finite(xp, v)
                if not fin and not st.args:   # a leaf: a constant, an input, a direction
                    raise _at(_leaf_trouble(st, dtype), st)
                if not fin and all(finite[a] for a in st.args):
                    raise _at(NumericError(f"{_what(st)} is not finite (NaN or Inf)",
                                           hint=_hint(st)), st)
                finite[i] = fin
            vals[i] = v
            for j in set(st.args):  # a temporary no later step reads is freed
                if last[j] == i:
                    vals[j] = None
        return [vals[s] for s in self.out_slots]

    def _fused(self, st: Step, i: int, vals, last):
        """numpy only: an elementwise step writes into a dying temporary of its own shape
        instead of allocating (chains like 1 - tanh(Z).^2 reuse one buffer)."""
        import numpy as np
        if st.kind == "combine":
            return self._fused_combine(st, i, vals, last, np)
        uf = _UFUNCS.get(st.label) if st.kind == "kernel" else None
        if st.kind == "powc" and st.extra == 2:
            uf = "square"
        if uf is None:
            return None
        args = [vals[j] for j in st.args]
        buf = None
        for j, a in zip(st.args, args):
            kind = self.steps[j].kind
            if last[j] == i and kind not in ("input", "const") and st.args.count(j) == 1 \
                    and isinstance(a, np.ndarray) and a.shape == st.shape \
                    and a.flags.writeable and a.flags.owndata and not _read_through_view(
                        a, j, st, vals, np):
                buf = a
                break
        if buf is None:
            return None
        if uf == "square":
            return np.multiply(args[0], args[0], out=buf)
        f = getattr(np, uf)
        if f.nin == 1:
            return f(args[0], out=buf)
        if len(args) == 2:
            return f(args[0], args[1], out=buf)
        # n-ary sums and products (commutative): accumulate into the buffer itself first
        k = next(i for i, a in enumerate(args) if a is buf)
        for extra in args[:k] + args[k + 1:]:
            f(buf, extra, out=buf)
        return buf

    def _step(self, st: Step, vals, env, denv, xp, dtype):
        a = [vals[j] for j in st.args]
        n, kind = st.node, st.kind
        if kind == "input":
            which, name = st.extra
            src = env if which == "var" else denv
            if name not in src:
                raise MatdError(f"no value for {'d' if which == 'dvar' else ''}{name}",
                                hint=f"give it: --at {name}=VALUE (or --random)")
            return src[name]
        if kind == "const":
            return _leaf(n, st.shape, xp, dtype, self.sizes)
        if kind == "kernel":
            return PRIMS[n.op].kernel(xp, _At(n, st.shape), *a)
        if kind == "matmul":
            return xp.matmul(a[0], a[1])
        if kind == "solve":
            x = a[0].T if st.extra else a[0]
            return xp.linalg.solve(x, a[1])
        if kind == "rsolve":  # L X⁻¹ = (X⁻ᵀ Lᵀ)ᵀ
            x = a[1] if st.extra else a[1].T
            return xp.linalg.solve(x, a[0].T).T
        if kind == "combine":
            out = a[0] if st.extra[0] > 0 else -a[0]
            for v, sign in zip(a[1:], st.extra[1:]):
                out = out + v if sign > 0 else out - v
            return out
        if kind == "powc":
            p, x = st.extra, a[0]
            if p == 2:
                return x * x
            if p == -1:
                return 1 / x
            if p == 0.5:
                return xp.sqrt(x)
            return x ** p
        if kind == "rowscale":
            return a[0] * a[1]
        if kind == "colscale":
            return a[0] * xp.reshape(a[1], (1, -1))
        if kind == "kron_apply":  # (A ⊗ B) M, column by column: vec(B X Aᵀ)
            A, B, M = a
            trans, right = st.extra or (False, False)
            if trans:
                A, B = A.T, B.T
            if right:                  # M K = (Kᵀ Mᵀ)ᵀ: the caller transposed K already
                M = M.T
            (ma, na), (mb, nb) = A.shape, B.shape
            k = M.shape[1]
            Y = xp.matmul(B, xp.reshape(M, (na, nb, k)))          # (na, mb, k)
            Z = xp.matmul(A, xp.reshape(Y, (na, mb * k)))          # (ma, mb·k)
            out = xp.reshape(Z, (ma * mb, k))
            return out.T if right else out
        if kind == "cholesky_logdet":
            try:
                L = xp.linalg.cholesky(a[0])
            except Exception:  # noqa: BLE001
                raise NumericError(f"{n.args[0].params[0]} is declared spd but is not "
                                   "positive definite (Cholesky failed in logdet)",
                                   hint="check the input, or drop the spd attribute") from None
            d = xp.linalg.diagonal(L)
            if not _finite(xp, d) or bool(xp.any(d <= 0)):
                raise NumericError(f"{n.args[0].params[0]} is declared spd but is not "
                                   "positive definite (Cholesky failed in logdet)")
            return xp.reshape(2 * xp.sum(xp.log(d)), (1, 1))
        raise AssertionError(kind)  # pragma: no cover

    def _fused_combine(self, st: Step, i: int, vals, last, np):
        """Σ ±aᵢ accumulated into the first term's buffer when that term dies here."""
        j0 = st.args[0]
        a0 = vals[j0]
        if st.extra[0] < 0 or last[j0] != i or st.args.count(j0) != 1 or \
                self.steps[j0].kind in ("input", "const") or not isinstance(a0, np.ndarray) \
                or a0.shape != st.shape or not (a0.flags.writeable and a0.flags.owndata) \
                or _read_through_view(a0, j0, st, vals, np):
            return None
        for j, sign in zip(st.args[1:], st.extra[1:]):
            (np.add if sign > 0 else np.subtract)(a0, vals[j], out=a0)
        return a0

    def describe(self) -> list[str]:
        """One line per step, for tests and ``--explain``."""
        from matd.core.printers import to_matd
        out = []
        for i, st in enumerate(self.steps):
            what = to_matd(st.node) if st.node is not None else "(chain part)"
            out.append(f"{i}: {st.kind} {list(st.args)} {st.shape[0]}×{st.shape[1]}  {what}")
        return out

    def kinds(self) -> list[str]:
        return [st.kind for st in self.steps]


def _read_through_view(a, j: int, st: Step, vals, np) -> bool:
    """Whether another argument of st is a view of slot j's buffer a: tril(M) + tril(M)ᵀ
    must not write into tril(M) while it still reads its transpose."""
    return any(k != j and np.may_share_memory(a, vals[k]) for k in st.args)


_VIEWS = frozenset(("transpose", "broadcast", "vec", "unvec", "diag", "rsolve"))
_UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tanh": "tanh",
           "sqrt": "sqrt", "abs": "abs", "neg": "negative", "add": "add",
           "hadamard": "multiply", "hdiv": "divide"}


def _inverse_of(n: Node | None, trans: bool) -> Node | None:
    """X when n is inv(X) (trans=False) or its transpose (trans=True)."""
    if n is None:
        return None
    if not trans and n.op == "inv":
        return n.args[0]
    if trans and n.op == "transpose" and n.args[0].op == "inv":
        return n.args[0].args[0]
    return None


def _kron_of(n: Node | None):
    """((A, B), transposed) when n is A ⊗ B or (A ⊗ B)ᵀ."""
    if n is None:
        return None
    if n.op == "kron":
        return n.args, False
    if n.op == "transpose" and n.args[0].op == "kron":
        return n.args[0].args, True
    return None


def _is_diag_vec(n: Node) -> bool:
    return n.op == "diag" and n.args[0].shape[1].is_one and not n.args[0].is_scalar


class _At:
    __slots__ = ("params", "shape", "node")

    def __init__(self, node, shape):
        self.node, self.params, self.shape = node, node.params, shape


def _leaf(n: Node, shape, xp, dtype, sizes):
    op = n.op
    if op == "const":
        return xp.full((1, 1), n.params[0], dtype=dtype)
    if op == "dim":
        return xp.full((1, 1), size(n.params[0], sizes), dtype=dtype)
    if op == "eye":
        return xp.eye(shape[0], dtype=dtype)
    if op == "ones":
        return xp.ones(shape, dtype=dtype)
    if op == "zeros":
        return xp.zeros(shape, dtype=dtype)
    if op == "commutation":
        return _commutation(xp, size(n.params[0], sizes), size(n.params[1], sizes), dtype)
    raise AssertionError(op)  # pragma: no cover


def _finite(xp, v) -> bool:
    return bool(xp.all(xp.isfinite(v)))


def _what(st: Step) -> str:
    from matd.core.printers import to_matd
    if st.node is None:
        return "a matrix product"
    text = to_matd(st.node)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(e: NumericError, st: Step) -> NumericError:
    """Remember what the error blames (the node and how it was written in the message), so
    that the caller, who has the program, can point at it in the source."""
    e.node, e.what = st.node, (_what(st) if st.node is not None else None)
    return e


def _leaf_trouble(st: Step, dtype) -> NumericError:
    """NaN/Inf in a leaf: a constant of the formula, or an input beyond the dtype's range."""
    import numpy as np
    try:
        name, big = str(np.dtype(dtype)), f"{float(np.finfo(dtype).max):.2g}"
    except Exception:  # noqa: BLE001 - a namespace's own dtype object (array_api_strict)
        name, big = "the floating-point type", "its largest number"
    if st.kind == "input":
        which, var = st.extra
        what = f"the direction d{var}" if which == "dvar" else f"the value of {var}"
        return NumericError(f"{what} is not finite (NaN or Inf) in {name}",
                            hint=f"{name} holds magnitudes up to about {big}; rescale the input"
                            + (", or use --dtype float64" if name != "float64" else ""))
    return NumericError(f"the constant {_what(st)} is not finite (NaN or Inf) in {name}",
                        hint=f"{name} holds magnitudes up to about {big}; a number in the "
                        "formula (or one folded from its constants) is beyond that")


def _trouble(st: Step, e: Exception) -> str:
    msg = str(e).lower()
    if "singular" in msg or st.kind in ("solve", "rsolve") or st.label in ("inv", "det"):
        return f"cannot evaluate {_what(st)}: the matrix is singular"
    if "positive definite" in msg or "cholesky" in msg:
        return f"cannot evaluate {_what(st)}: the matrix is not positive definite"
    return f"cannot evaluate {_what(st)}: {e}"


def _hint(st: Step) -> str:
    if st.kind in ("solve", "rsolve") or st.label in ("inv", "logdet", "det", "pinv"):
        return "the formula needs an invertible matrix here; check the input's conditioning"
    if st.label in ("exp", "epow", "softplus"):
        return "the values overflow the floating-point range; rescale the input"
    return "check the inputs for NaN/Inf and for values outside the function's domain"


def evaluate(root: Node, env: dict, sizes: dict, xp=None, denv: dict | None = None,
             dtype=None, spd=frozenset()):
    """One-shot evaluation (compile, run) of a single node."""
    return Plan([root], dict(sizes), frozenset(spd)).run(env, xp, denv, dtype)[0]
