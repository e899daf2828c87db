"""Compiled evaluation: an IR DAG -> a plan of steps for concrete sizes, run many times.

Compiling once decides what is computed and how, for the actual sizes:

- every shared subexpression is one step (computed once);
- matrix chains are multiplied in the cheapest order (matrix-chain DP on flops);
- ``inv(X) B`` / ``B inv(X)`` (and with X⁻ᵀ) are solves, never an inverse,
  unless the inverse is needed by itself anyway;
- ``(A + Aᵀ) x`` is ``A x + Aᵀ x`` when x is thin (no n×n sum formed);
- diagonal matrices are vectors: ``diag(v) A`` / ``A diag(v)`` scale rows / columns,
  ``diag(a) - diag(b) diag(c)`` is ``diag(a - b ∘ c)``, ``c I`` is the vector c 1, ``A + diag(v)``
  adds v onto A's diagonal; a diagonal is made dense only when it is itself a result;
- ``kron(A, B) M`` is applied as ``B X Aᵀ`` on reshaped columns, never formed;
- ``logdet`` of an spd variable goes through Cholesky, otherwise ``slogdet``;
- on numpy, elementwise steps write into a temporary that dies with them (a chain
  such as ``1 - tanh(Z).^2`` reuses one buffer), and dead temporaries are freed.

Kernels come from the primitive table's ``kernel`` column; the plan itself uses
only array-API calls, so it runs on numpy, CuPy or ``array_api_strict`` alike.
Numerical trouble (singular or indefinite matrices, NaN/Inf, overflow) raises
``NumericError`` naming the subexpression.  NaN/Inf is looked for once in the inputs and
once in the results; only when a result has some does a second, checked pass find the
step that made it.  Inputs are read as they are (a read-only or memory-mapped array is
fine) and never written into.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("X, B: n x n; tr(inv(X) B)")
>>> plan = Plan([p.result], {"n": 3})
>>> [s.label for s in plan.steps if s.kind != "input"]
['solve', 'tr']
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from matd.core.deferred import collecting, is_lazy, require
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
    gpu = e is not None and type(e).__module__.startswith("cupy")
    return OutOfMemory(f"not enough {'GPU ' if gpu else ''}memory to evaluate {_what(st)}: it "
                       f"is a {r} x {c} array ({human_bytes(8 * r * c)} in float64, "
                       f"{human_bytes(4 * r * c)} in float32)",
                       hint="give smaller sizes (--dims) or smaller inputs" +
                       (", or --dtype float32, or run on the CPU" if gpu else ""))


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
        self._numbered: dict = {}   # (kind, what, argument slots, …) -> the step's slot
        self.out_slots = [self.compile(r) for r in self.outputs]
        self._numbers: dict = {}   # 1×1 constants (not results), made once per namespace, dtype
        self._results = {id(self.steps[s]) for s in self.out_slots}
        self._compiled: dict = {}  # dtype -> the straight-line function (numpy)
        self.fallbacks = 0         # runs the straight-line function gave back to the loop

    # -- compiling ------------------------------------------------------------------
    def shape(self, n: Node) -> tuple[int, int]:
        return (size(n.shape[0], self.sizes), size(n.shape[1], self.sizes))

    def emit(self, kind, node, args, shape, extra=None, label="") -> int:
        """A new step, unless the same computation on the same slots is one already (the
        Gram matrix Rᵀ R of a value and of its gradient, two transposes of one slot)."""
        key = None
        if kind not in ("input", "const"):
            what = (node.op, node.params) if kind == "kernel" else None
            key = (kind, label, what, tuple(args), shape, extra)
            hit = self._numbered.get(key)
            if hit is not None:
                return hit
        self.steps.append(Step(kind, node, tuple(args), shape, extra, label))
        if key is not None:
            self._numbered[key] = len(self.steps) - 1
        return len(self.steps) - 1

    def compile(self, n: Node) -> int:
        if n in self.slot:
            return self.slot[n]
        op = n.op
        seen = _transposed(n) if op in ("add", "matmul") else None
        if seen is not None and seen in self.slot:   # Xᵀ - μ 1ᵀ is (X - 1 μᵀ)ᵀ: a view
            from matd.core.algebra import make
            s = self.emit("kernel", make("transpose", seen), (self.slot[seen],),
                          self.shape(n), label="transpose")
        elif op in ("var", "dvar"):
            s = self.emit("input", n, (), self.shape(n), (op, n.params[0]))
        elif op in ("const", "dim", "eye", "ones", "zeros", "commutation"):
            s = self.emit("const", n, (), self.shape(n))
        elif op != "eye" and _diagonal(n) is not None:   # diag(v), made dense in one pass
            s = self.emit("diagonal", n, (self.compile(_diagonal(n)),), self.shape(n),
                          label="diagonal")
        elif op in ("tr", "sum") and _diagonal(n.args[0]) is not None:   # tr(diag(v)) = sum(v)
            from matd.core.algebra import fn
            s = self.compile(fn("sum", _diagonal(n.args[0])))
        elif op == "add" and any(_diagonal(a) is not None for a in n.args):
            s = self.add_diagonal(n)
        elif op == "tr" and n.args[0].op == "matmul" and self._alone(n.args[0]):
            s = self.trace_of_chain(n)
        elif op == "matmul":
            s = self.chain(n)
        elif op in ("neg", "smul") and n.args[-1].op == "matmul" and self._alone(n.args[-1]) \
                and any(_diagonal(f) is not None for f in n.args[-1].args):
            # -(A diag(v) B) = A diag(-v) B, c (A diag(v) B) = A diag(c v) B: on the vector
            s = self.chain(n.args[-1], n.args[0] if op == "smul" else None, n)
        elif op == "logdet" and n.args[0].op == "var" and n.args[0].params[0] in self.spd:
            s = self.emit("cholesky_logdet", n, (self.compile(n.args[0]),), (1, 1))
        elif op == "ufunc":   # the body, entrywise in the argument (matd.core.userfunc)
            from matd.core.userfunc import entrywise
            s = self.compile(entrywise(n.params[0], n.args[0]))
        elif op == "add" and any(a.op == "neg" for a in n.args):  # A - B, no -B formed
            signs = tuple(-1 if a.op == "neg" else 1 for a in n.args)
            args = self.operands(n, [a.args[0] if a.op == "neg" else a for a in n.args])
            s = self.emit("combine", n, args, self.shape(n), signs, "add")
        elif op == "epow" and n.args[1].op == "const":  # x.^2 as x*x, not a generic pow
            s = self.emit("powc", n, (self.compile(n.args[0]),), self.shape(n),
                          n.args[1].params[0], "epow")
        else:
            args = self.operands(n, n.args) if op in _ENTRYWISE2 else \
                [self.compile(a) for a in n.args]
            s = self.emit("kernel", n, args, self.shape(n), label=op)
        self.slot[n] = s
        return s

    def operands(self, n: Node, args) -> list[int]:
        """The slots of an entrywise operation's arguments; a number broadcast to the shape
        (the 1 in 1 + x, 1 ./ x) is the number itself, and an outer product with ones (the
        1 μᵀ in X - 1 μᵀ) is its row or column, for the array API broadcasts them; unless
        no argument is of the full shape."""
        thin = [_broadcast_of(a) for a in args]
        if all(t is not None for t in thin):
            return [self.compile(a) for a in args]
        return [self.compile(a if t is None else t) for a, t in zip(args, thin)]

    def _alone(self, n: Node) -> bool:
        """Used only inside the chain being compiled (so no one needs it formed)."""
        return self.users.get(n, 0) <= 1 and n not in self.slot

    def add_diagonal(self, n: Node) -> int:
        """A + diag(v) + …: the dense terms summed, then the diagonal ones added onto the
        diagonal of that sum as one vector (no n×n diagonal is formed)."""
        from matd.core.algebra import add
        dense = [a for a in n.args if _diagonal(a) is None]
        vec = add(*(_diagonal(a) for a in n.args if _diagonal(a) is not None))
        return self.emit("adddiag", n, (self.compile(add(*dense)), self.compile(vec)),
                         self.shape(n), label="adddiag")

    def _factors(self, n: Node) -> list[Node]:
        """The factors of the product n, through the products inside it that nothing else
        uses (those are never formed)."""
        f: list[Node] = []

        def flatten(x, top=False):
            if x.op == "matmul" and (top or self._alone(x)):
                for a in x.args:
                    flatten(a)
            else:
                f.append(x)
        flatten(n, True)
        return f

    def chain(self, n: Node, scale: Node | None = None, node: Node | None = None) -> int:
        """A matrix chain: cheapest order by dynamic programming, then solves,
        scalings and Kronecker applications where the factors allow.  A diagonal factor
        is its vector: neighbouring diagonals multiply entrywise, and one times a matrix
        scales its rows (or columns), which costs the size of the product.  ``node``
        (default n) is ``-n`` or ``scale n``, the sign or scalar taken into a diagonal."""
        from matd.core.algebra import hadamard, neg, smul
        f = self._factors(n)
        facs: list[Node] = []
        vecs: list[Node | None] = []
        for x in f:   # diag(a) diag(b) = diag(a ∘ b)
            v = _diagonal(x)
            if v is not None and vecs and vecs[-1] is not None:
                vecs[-1] = hadamard(vecs[-1], v)
            else:
                facs.append(x)
                vecs.append(v)
        f = facs
        if node is not None:
            at = next(i for i, v in enumerate(vecs) if v is not None)
            vecs[at] = smul(scale, vecs[at]) if scale is not None else neg(vecs[at])
        dims = [self.shape(f[0])[0]] + [self.shape(x)[1] for x in f]
        k = len(f)
        split = [[0] * k for _ in range(k)]
        _chain_costs(dims, [v is not None for v in vecs], split)

        def build(i, j):
            if i == j:
                return ("factor", f[i]) if vecs[i] is None else ("diagonal", vecs[i])
            s = split[i][j]
            return ("mul", build(i, s), build(s + 1, j), (dims[i], dims[j + 1]))

        return self.lower(build(0, k - 1), node or n)

    def trace_of_chain(self, n: Node) -> int:
        """tr(P₁ ⋯ Pₖ) in the cheapest way: of a rotation of the chain (the trace is
        cyclic: tr(R S⁻¹ Rᵀ) = tr(S⁻¹ Rᵀ R), a d×d product, never the m×m R S⁻¹ Rᵀ), or
        as sum(L ∘ Mᵀ) for a split L M of a rotation, when that is cheaper still."""
        from matd.core.algebra import matmul
        f = self._factors(n.args[0])
        if any(_diagonal(x) is not None or _kron_of(x) is not None for x in f):
            return self.emit("kernel", n, (self.chain(n.args[0]),), (1, 1), label="tr")
        k = len(f)
        best = None
        for r in range(k):
            g = f[r:] + f[:r]
            dims = [self.shape(g[0])[0]] + [self.shape(x)[1] for x in g]
            cost = _chain_costs(dims)
            options = [(cost[0][k - 1] + dims[0], None)]
            options += [(cost[0][s] + cost[s + 1][k - 1] + dims[0] * dims[s + 1], s)
                        for s in range(k - 1)]
            c, s = min(options, key=lambda o: o[0])
            if best is None or c < best[0]:
                best = (c, g, s)
        _, g, s = best

        def part(fs):
            return fs[0] if len(fs) == 1 else matmul(*fs)
        if s is None:
            return self.emit("kernel", n, (self.compile(part(g)),), (1, 1), label="tr")
        return self.emit("trprod", n, (self.compile(part(g[:s + 1])),
                                       self.compile(part(g[s + 1:]))), (1, 1), label="trprod")

    def lower(self, t, node=None) -> int:
        if t[0] == "factor":
            return self.compile(t[1])
        if t[0] == "diagonal":   # a chain of diagonals alone (compile() makes it dense)
            k = self.shape(t[1])[0]
            return self.emit("diagonal", node, (self.compile(t[1]),), (k, k), label="diagonal")
        _, lt, rt, shape = t
        if lt[0] == "diagonal":   # diag(v) R: R's rows scaled
            r = self.lower(rt)
            return self.emit("rowscale", node, (self.compile(lt[1]), r), shape)
        if rt[0] == "diagonal":   # L diag(v): L's columns scaled
            lft = self.lower(lt)
            return self.emit("colscale", node, (lft, self.compile(rt[1])), shape)
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
        if right is not None and right.op == "ones":   # A 1: A's row sums, no ones formed
            return self.emit("sums", node, (self.lower(lt),), shape, 1, "sums")
        if left is not None and left.op == "ones":     # 1ᵀ A: its column sums
            return self.emit("sums", node, (self.lower(rt),), shape, 0, "sums")
        return self.emit("matmul", node, (self.lower(lt), self.lower(rt)), shape, label="matmul")

    # -- running ------------------------------------------------------------------------
    def run(self, env: dict, xp=None, denv: dict | None = None, dtype=None, check=True,
            inputs_checked=False):
        """Values of the outputs (2-D arrays) for inputs ``env`` (and ``denv`` for dX).

        ``check``: NaN or Inf is a ``NumericError`` that names where it came from.  The
        inputs are checked once, before anything is computed (unless the caller has
        checked them: ``inputs_checked``), and the results once, at the end; only when a
        result is not finite is the plan run again, step by step, to blame the first step
        that made NaN or Inf out of finite values.  Inputs are never written into.
        """
        if xp is None:
            from matd.core.backend import namespace
            xp = namespace("cpu")[0]
        dtype = dtype or xp.float64
        import warnings
        with warnings.catch_warnings(), _linalg_raises(xp):   # trouble is reported below,
            warnings.simplefilter("ignore", RuntimeWarning)   # by name, not warned
            denv = denv or {}
            if check and not inputs_checked:
                self._check_inputs(env, denv, xp, dtype)
            out = self._run(env, xp, denv, dtype)
            if check and not all(all_finite(xp, v) for v in out):
                self._run(env, xp, denv, dtype, blame=True)   # raises, naming the step
                raise NumericError("the result is not finite (NaN or Inf)",   # pragma: no cover
                                   hint="check the inputs for NaN/Inf")
            return out

    def lazy(self, env: dict, xp, denv: dict | None = None, dtype=None, check=True):
        """On a lazy namespace (dask): (outputs, checks), nothing computed.  ``checks`` are
        (bad, error) pairs, ``bad`` a lazy 0-d boolean: one per input read (not finite:
        the error names it), the kernels' own checks (``deferred.require``), and one per
        output (not finite: error None, for only a step-by-step pass, ``blame``, can say
        which step made it).  The caller computes outputs and checks in one pass."""
        dtype = dtype or xp.float64
        denv = denv or {}
        with collecting() as checks:
            out = self._run(env, xp, denv, dtype)
        if check:
            flags = []
            for st in self.steps:
                if st.kind == "input":
                    which, name = st.extra
                    v = (env if which == "var" else denv)[name]
                    flags.append((~xp.all(xp.isfinite(v)), _at(_leaf_trouble(st, dtype), st)))
            checks[:0] = flags
            checks += [(~xp.all(xp.isfinite(v)), None) for v in out]
        return out, checks

    def blame(self, env: dict, xp, denv: dict | None = None, dtype=None):
        """Step by step, computing each value: raise at the first step that fails or turns
        finite arguments into NaN/Inf (the second pass after a lazy run's checks)."""
        dtype = dtype or xp.float64
        self._run(env, xp, denv or {}, dtype, blame=True)

    def _check_inputs(self, env, denv, xp, dtype):
        """The inputs (values and directions) that the plan reads, each finite."""
        for st in self.steps:
            if st.kind == "input":
                which, name = st.extra
                v = (env if which == "var" else denv).get(name)
                if v is not None and not all_finite(xp, v):
                    raise _at(_leaf_trouble(st, dtype), st)

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

    def _run(self, env, xp, denv, dtype, blame=False):
        """One pass over the steps; ``blame``: check every value as it is made and raise at
        the first step that turns finite arguments into NaN/Inf (before buffers are reused)."""
        self._check_memory(dtype)
        numpy = getattr(xp, "__name__", "") == "numpy"
        given = {id(v) for v in env.values()} | {id(v) for v in denv.values()}
        if numpy and not blame:
            try:
                return self._straight(xp, dtype)(env, denv, given)
            except Exception:  # noqa: BLE001 - the loop below runs it again, and names it
                self.fallbacks += 1
        steps = self.steps
        vals: list = [None] * len(steps)
        finite = [True] * len(steps)
        frees = self._frees()
        fuse = self._fusable() if numpy or "numpy" in getattr(xp, "__name__", "") else None
        lazy = is_lazy(xp)
        for i, st in enumerate(steps):
            try:
                a = [vals[j] for j in st.args]
                v = self._fused(st, a, fuse[i], given) if fuse and fuse[i] else None
                if v is None:
                    v = self._step(st, a, env, denv, xp, dtype)
                if blame and lazy:   # computed here, where a failure is this step's
                    v = v.persist()
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
                lib = _library_trouble(e)
                if lib is not None:
                    raise lib from None
                if st.kind == "cholesky_logdet":   # lazily, Cholesky fails when computed
                    raise _at(_not_spd(st.node), st) from None
                raise _at(NumericError(_trouble(st, e), hint=_hint(st)), st) from None
            if blame:  # the first step that turns finite inputs into NaN/Inf
                fin = all_finite(xp, v)
                if not fin and not st.args:   # a leaf: a constant, an input, a direction
                    raise _at(_leaf_trouble(st, dtype), st)
                if not fin and all(finite[a] for a in st.args):
                    raise _at(NumericError(f"{_what(st)} is not finite (NaN or Inf)",
                                           hint=_hint(st)), st)
                finite[i] = fin
            vals[i] = v
            for j in frees[i]:  # a temporary no later step reads is freed
                vals[j] = None
        return [vals[s] for s in self.out_slots]

    def _straight(self, xp, dtype):
        """The plan as one straight-line function on numpy (core/straight.py), made once
        per dtype."""
        key = str(dtype)
        fn = self._compiled.get(key)
        if fn is None:
            from matd.core.straight import compile_numpy
            fn = self._compiled[key] = compile_numpy(self, xp, dtype)
        return fn

    def _frees(self):
        """frees[i]: the slots whose last reader is step i (freed after it)."""
        if not hasattr(self, "_free_at"):
            last = self._lifetimes()
            self._free_at = [[j for j in set(st.args) if last[j] == i]
                             for i, st in enumerate(self.steps)]
        return self._free_at

    def _fusable(self):
        """fuse[i]: the arguments (positions) that step i, if elementwise, may write its
        result into on numpy: made by the plan, of its shape, read once by it and by no
        later step (a sum's positive terms first).  The rest of the test is on the arrays
        themselves, as the plan runs (``_dying``)."""
        if not hasattr(self, "_fuse"):
            last, steps = self._lifetimes(), self.steps
            fuse = []
            for i, st in enumerate(steps):
                elementwise = st.kind in ("combine", "adddiag") or st.kind == "powc" and \
                    st.extra == 2 or st.kind == "kernel" and st.label in _UFUNCS
                at = [k for k, j in enumerate(st.args) if elementwise and last[j] == i and
                      steps[j].kind not in ("input", "const") and steps[j].shape == st.shape
                      and st.args.count(j) == 1 and (st.kind != "adddiag" or k == 0)]
                if st.kind == "combine":
                    at.sort(key=lambda k: st.extra[k] < 0)
                fuse.append(tuple(at))
            self._fuse = fuse
        return self._fuse

    def _fused(self, st: Step, args, at: tuple, given=frozenset()):
        """numpy only: an elementwise step writes into a dying temporary of its own shape
        instead of allocating (chains like 1 - tanh(Z).^2 reuse one buffer); never into
        an array the caller gave (``given``: their ids).  ``args``: the step's argument
        arrays; ``at``: the candidates among them."""
        import numpy as np
        k = next((k for k in at if _dying(k, args, np, given)), None)
        if k is None:
            return None
        buf = args[k]
        if st.kind == "combine":
            return _combine_into(np, buf, k, args, st.extra)
        if st.kind == "adddiag":
            return _add_onto_diagonal(np, buf, args[1])
        if st.kind == "powc":   # x.^2
            return np.multiply(args[0], args[0], out=buf)
        f = getattr(np, _UFUNCS[st.label])
        if f.nin == 1:
            return f(args[0], out=buf)
        if len(args) == 2:
            return f(args[0], args[1], out=buf)
        # n-ary sums and products (commutative): accumulate into the buffer itself first
        for extra in args[:k] + args[k + 1:]:
            f(buf, extra, out=buf)
        return buf

    def _step(self, st: Step, a, env, denv, xp, dtype):
        n, kind = st.node, st.kind
        if kind == "input":
            which, name = st.extra
            src = env if which == "var" else denv
            if name not in src:
                raise MatdError(f"no value for {'d' if which == 'dvar' else ''}{name}",
                                hint=f"give it: --at {name}=VALUE (or --random)")
            return src[name]
        if kind == "const":
            if st.shape != (1, 1) or id(st) in self._results:
                return _leaf(n, st.shape, xp, dtype, self.sizes)
            key = (id(st), getattr(xp, "__name__", ""), str(dtype))   # numbers made once
            got = self._numbers.get(key)
            if got is None:
                got = self._numbers[key] = _leaf(n, st.shape, xp, dtype, self.sizes)
            return got
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
        if kind == "combine":   # from a positive term where there is one: B - A, not -A + B
            k = next((k for k, sign in enumerate(st.extra) if sign > 0), 0)
            out = a[k] if st.extra[k] > 0 else -a[k]
            for v, sign in zip(a[:k] + a[k + 1:], st.extra[:k] + st.extra[k + 1:]):
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
        if kind == "diagonal":
            return _dense_diagonal(xp, a[0], dtype)
        if kind == "adddiag":
            return _add_onto_diagonal(xp, _copy(xp, a[0]), a[1])
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
        if kind == "sums":     # A 1 (axis 1) or 1ᵀ A (axis 0), each as wide as 1 is
            out = xp.sum(a[0], axis=st.extra, keepdims=True)
            return out if out.shape == st.shape else xp.broadcast_to(out, st.shape)
        if kind == "trprod":   # tr(L M) = sum(L ∘ Mᵀ)
            return xp.reshape(xp.sum(a[0] * a[1].T), (1, 1))
        if kind == "cholesky_logdet":
            trouble = _not_spd(n)
            try:
                L = xp.linalg.cholesky(a[0])
            except Exception:  # noqa: BLE001
                raise trouble from None
            d = xp.linalg.diagonal(L)
            require(xp, ~xp.all(xp.isfinite(d)) | xp.any(d <= 0), trouble)
            return xp.reshape(2 * xp.sum(xp.log(d)), (1, 1))
        raise AssertionError(kind)  # pragma: no cover

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


_ENTRYWISE2 = frozenset(("add", "hadamard", "hdiv"))   # of arrays of one shape
_VIEWS = frozenset(("transpose", "broadcast", "vec", "unvec", "diag", "rsolve"))
_UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tanh": "tanh",
           "sqrt": "sqrt", "abs": "abs", "neg": "negative", "add": "add",
           "hadamard": "multiply", "hdiv": "divide"}


def _chain_costs(dims, scalings=None, split=None):
    """cost[i][j]: the fewest multiplications for factors i..j of a chain with dims
    (factor i is dims[i] × dims[i+1]), by dynamic programming; a factor that is a diagonal
    (``scalings``) costs the size of its product.  ``split``, if given, gets the best
    split of each range."""
    k = len(dims) - 1
    scalings = scalings or [False] * k
    cost = [[0] * k for _ in range(k)]
    for length in range(2, k + 1):
        for i in range(k - length + 1):
            j = i + length - 1
            cost[i][j] = float("inf")
            for s in range(i, j):
                scaling = s == i and scalings[i] or s + 1 == j and scalings[j]
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[j + 1] * \
                    (1 if scaling else dims[s + 1])
                if c < cost[i][j]:
                    cost[i][j] = c
                    if split is not None:
                        split[i][j] = s
    return cost


def _transposed(n: Node) -> Node:
    """n's transpose as matd writes it, through sums: (Xᵀ - μ 1ᵀ)ᵀ is X - 1 μᵀ."""
    from matd.core import algebra as A
    if n.op == "add":
        return A.add(*(A.transpose(t) for t in n.args))
    return A.transpose(n)


def _broadcast_of(n: Node) -> Node | None:
    """The row or column that n repeats, if n is one broadcast: c broadcast to a shape (a
    number), 1 μᵀ (μᵀ down m rows) or μ 1ᵀ (μ across n columns); else None."""
    if n.op == "broadcast" and n.args[0].is_scalar:
        return n.args[0]
    if n.op == "matmul" and len(n.args) == 2:
        a, b = n.args
        if a.op == "ones" and a.shape[1].is_one:
            return b
        if b.op == "ones" and b.shape[0].is_one:
            return a
    return None


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


_DIAGONAL: "weakref.WeakKeyDictionary[Node, Node | bool]" = weakref.WeakKeyDictionary()


def _diagonal(n: Node) -> Node | None:
    """v (a column) when n is, by its structure, the diagonal matrix diag(v): diag(v), I,
    and sums, negations, scalings, products, powers and transposes of diagonals, and a
    Hadamard product with one (diag(v) ∘ M = diag(v ∘ diag(M))).  Memoized per node."""
    got = _DIAGONAL.get(n)
    if got is None:
        got = _DIAGONAL[n] = _diagonal_of(n) or False
    return got or None


def _diagonal_of(n: Node) -> Node | None:
    from matd.core import algebra as A
    from matd.core.shapes import ONE
    op, args = n.op, n.args
    if n.is_scalar or n.shape[0] != n.shape[1]:
        return None
    if op == "diag":
        return args[0] if args[0].shape[1].is_one and not args[0].is_scalar else None
    if op == "eye":
        return A.ones((n.shape[0], ONE))
    if op in ("neg", "transpose"):
        v = _diagonal(args[0])
        return None if v is None else A.neg(v) if op == "neg" else v
    if op in ("smul", "div"):
        v = _diagonal(args[1] if op == "smul" else args[0])
        return None if v is None else A.smul(args[0], v) if op == "smul" else A.div(v, args[1])
    if op == "mpow" and n.params[0] >= 1:
        v = _diagonal(args[0])
        return None if v is None else A.epow(v, n.params[0])
    if op in ("add", "matmul"):
        vs = [_diagonal(a) for a in args]
        if any(v is None for v in vs):
            return None
        if op == "add":
            return A.add(*vs)
        out = vs[0]
        for v in vs[1:]:
            out = A.hadamard(out, v)
        return out
    if op == "hadamard":
        for a, b in (args, args[::-1]):
            v = _diagonal(a)
            if v is not None:
                return A.hadamard(v, A.fn("diag", b))
    return None


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


def _combine_into(np, buf, at: int, vals: list, signs: tuple):
    """Σ signs[k] vals[k] written into buf = vals[at] (numpy), one pass per term: B - A
    into A's buffer is subtract(B, A, out=A), not a negation first."""
    flip = signs[at] < 0   # buf holds minus the partial sum
    for k, (v, s) in enumerate(zip(vals, signs)):
        if k == at:
            continue
        if not flip:
            (np.add if s > 0 else np.subtract)(buf, v, out=buf)
        elif s > 0:        # v - (-R) = R + v: the sign comes right in the same pass
            np.subtract(v, buf, out=buf)
            flip = False
        else:              # -R + v = -(R - v)
            np.add(buf, v, out=buf)
    if flip:
        np.negative(buf, out=buf)
    return buf


def _dying(k: int, args, np, given=frozenset()) -> bool:
    """A step's k-th argument (a candidate of ``_fusable``) may take its result: a numpy
    array of its own, writable, not one the caller gave, and no other argument is a view
    of it (tril(M) + tril(M)ᵀ must not write into tril(M) while reading its transpose)."""
    a = args[k]
    return isinstance(a, np.ndarray) and id(a) not in given and a.flags.writeable and \
        a.flags.owndata and not any(i != k and np.may_share_memory(a, b)
                                    for i, b in enumerate(args))


def _dense_diagonal(xp, v, dtype):
    """diag(v) as a dense matrix: one allocation (numpy, CuPy), else I scaled."""
    k = v.shape[0]
    if hasattr(v, "flags"):   # numpy and CuPy: write the diagonal of a zero matrix
        out = xp.zeros((k, k), dtype=v.dtype)
        xp.reshape(out, (-1,))[::k + 1] = xp.reshape(v, (-1,))
        return out
    return xp.eye(k, dtype=dtype) * xp.reshape(v, (1, -1))


def _copy(xp, a):
    return a.copy() if hasattr(a, "flags") else a + 0


def _add_onto_diagonal(xp, out, v):
    """out + diag(v), written into out (a fresh or dying array) where the namespace's
    arrays are writable views (numpy, CuPy), else as a sum with a dense diagonal."""
    k = out.shape[0]
    if hasattr(out, "flags") and out.flags.c_contiguous:
        flat = xp.reshape(out, (-1,))
        flat[::k + 1] += xp.reshape(v, (-1,))
        return out
    return out + _dense_diagonal(xp, v, out.dtype)


def all_finite(xp, v) -> bool:
    """Whether every entry of v is finite.  On numpy, first as a sum of squares (one BLAS
    pass, no temporary): it is finite only when every entry is, for NaN and Inf propagate
    and squares never cancel; only when it is not (or it overflows) entry by entry."""
    if type(v).__module__ == "numpy" and v.dtype.kind == "f" and v.size and \
            (v.flags.c_contiguous or v.flags.f_contiguous):
        import numpy as np
        f = v.ravel(order="K")
        if np.isfinite(np.dot(f, f)):
            return True
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
    """What a linear-algebra failure means: singular or not positive definite when the
    library says so (a LinAlgError, numpy's or CuPy's under errstate), else what it said
    (a missing library is not a singular matrix)."""
    msg = str(e).lower()
    linalg = type(e).__name__ == "LinAlgError"
    if "singular" in msg or linalg and (st.kind in ("solve", "rsolve") or
                                        st.label in ("inv", "det")):
        return f"cannot evaluate {_what(st)}: the matrix is singular"
    if "positive definite" in msg or linalg and "cholesky" in msg:
        return f"cannot evaluate {_what(st)}: the matrix is not positive definite"
    return f"cannot evaluate {_what(st)}: {type(e).__name__}: {e}"


def _not_spd(n: Node) -> NumericError:
    return NumericError(f"{n.args[0].params[0]} is declared spd but is not positive definite "
                        "(Cholesky failed in logdet)",
                        hint="check the input, or drop the spd attribute")


def _linalg_raises(xp):
    """On CuPy, linear algebra that raises LinAlgError on a singular or indefinite matrix as
    numpy does (CuPy's default fills the result with NaN, silently); elsewhere nothing."""
    if "cupy" in getattr(xp, "__name__", ""):
        import cupyx
        return cupyx.errstate(linalg="raise")
    import contextlib
    return contextlib.nullcontext()


def _library_trouble(e: Exception) -> MatdError | None:
    """A GPU library that cannot be loaded or run (cuSOLVER, cuBLAS, the CUDA runtime) as
    its own error; None for anything else."""
    name, msg = type(e).__name__, str(e)
    low = msg.lower()
    if name in ("CUSOLVERError", "CUBLASError", "CUDARuntimeError", "CUDADriverError") or \
            any(lib in low for lib in ("libcusolver", "libcublas", "libcudart", "libnvrtc",
                                       "cusolver", "cublas")) and \
            isinstance(e, (ImportError, OSError, RuntimeError)):
        return MatdError(f"the GPU's CUDA libraries failed ({name}: {msg})",
                         hint="install the CUDA libraries CuPy needs (its wheel's "
                         "cuda12x/cuda13x extras, e.g. pip install 'cupy-cuda12x[ctk]'), "
                         "or run on the CPU (drop --device gpu)")
    return None


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
