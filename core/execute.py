"""Running a compiled plan (core/plan.py) on an array namespace.

A plan's steps are run in order, on numpy as one straight-line function (core/straight.py),
elsewhere one by one; on a lazy namespace (dask) they build a graph instead, computed by the
caller with its checks (``Running.lazy``), of one task per block where the plan allows it
(core/blocked.py).  Temporaries die as soon as no later step reads
them; on numpy an elementwise step writes into an argument that dies with it.  NaN/Inf is
looked for once in the inputs and once in the results; only when a result has some does a
second pass, step by step, name the step that made it (``blame``).  Linear-algebra trouble
(a singular or indefinite matrix, a missing GPU library, memory) is an error of its own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from matd.core.deferred import collecting, is_lazy, require
from matd.core.errors import MatdError, NumericError, OutOfMemory
from matd.core.primitives import PRIMS, DomainError, _commutation

if TYPE_CHECKING:
    from matd.core.expr import Node
    from matd.core.plan import Step


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


@contextmanager
def named(st: "Step"):
    """Inside: computing step ``st``; a failure becomes matd's account of it, naming the
    step (a domain error, memory, a missing library, a singular or indefinite matrix)."""
    try:
        yield
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


def size(d, sizes: dict) -> int:
    out = d.coef
    for f in d.factors:
        if f not in sizes:
            raise MatdError(f"dimension '{f}' has no size",
                            hint=f"give it one: --dims {f}=N (or an input array that has it)")
        out *= sizes[f]
    return out


class Running:
    """The running half of ``Plan``: its steps, lifetimes and buffers, on a namespace."""

    def run(self, env: dict, xp=None, denv: dict | None = None, dtype=None, check=True,
            inputs_checked=False):
        """Values of the outputs (2-D arrays) for inputs ``env`` (and ``denv`` for dX).

        ``check``: NaN or Inf is a ``NumericError`` that names where it came from.  The
        inputs are checked once, before anything is computed (unless the caller has
        checked them: ``inputs_checked``), and the results once, at the end; only when a
        result is not finite is the plan run again, step by step, to blame the first step
        that made NaN or Inf out of finite values.  Inputs are never written into.  On a
        lazy namespace (dask) the outputs are lazy arrays, unless ``check``: then they are
        computed with every check in one pass (core/daskrun.py), as numpy arrays.
        """
        if xp is None:
            from matd.core.backend import namespace
            xp = namespace("cpu")[0]
        dtype = dtype or xp.float64
        if check and is_lazy(xp):   # not a computation per input and per check
            from matd.core.daskrun import Lazy, Work, compute
            out, checks = self.lazy(env, xp, denv, dtype)
            got = compute(Work(plans=[Lazy(self, xp, env, denv or {}, dtype, checks)]),
                          dict(enumerate(out)))
            return [got[i] for i in range(len(out))]
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
        from matd.core.blocked import lower
        dtype = dtype or xp.float64
        denv = denv or {}
        blocks = lower(self, env, denv)   # one task per block where the plan allows
        read: dict = {}
        with collecting() as checks:
            if blocks is None:
                out = self._run(env, xp, denv, dtype)
            else:
                self._check_memory(dtype)
                out, read = blocks.lazy(env, xp, denv, dtype, check)
        if check:
            flags = []
            for i, st in enumerate(self.steps):
                if st.kind == "input":
                    which, name = st.extra
                    v = (env if which == "var" else denv)[name]
                    bad = read[i] if i in read else ~xp.all(xp.isfinite(v))
                    flags.append((bad, _at(_leaf_trouble(st, dtype), st)))
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
            a = [vals[j] for j in st.args]
            with named(st):
                v = self._fused(st, a, fuse[i], given) if fuse and fuse[i] else None
                if v is None:
                    v = self._step(st, a, env, denv, xp, dtype)
                if blame and lazy:   # computed here, where a failure is this step's
                    v = v.persist()
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
        return value_of(st, a, xp, dtype)


def value_of(st: "Step", a: list, xp, dtype):
    """The value of a step that is not a leaf (an input, a constant), from its
    arguments' values ``a``."""
    n, kind = st.node, st.kind
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


_VIEWS = frozenset(("transpose", "broadcast", "vec", "unvec", "diag", "rsolve"))
_UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tanh": "tanh",
           "sqrt": "sqrt", "abs": "abs", "neg": "negative", "add": "add",
           "hadamard": "multiply", "hdiv": "divide"}


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
