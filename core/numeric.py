"""Numbers for programs: bind arrays to variables, evaluate, differentiate numerically
exact (through compiled plans of the symbolic derivatives), and check against
finite differences.  Arrays at this boundary follow DESIGN §2: scalars 0-d,
vectors 1-d, matrices 2-d; ``matd grad`` returns shape(f) + shape(X).

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("A: 2 x 2; x: 2; x^T A x")
>>> b = bind(p, {"A": np.eye(2), "x": np.array([1.0, 2.0])})
>>> float(value(p, b)), grad(p, b, "x").tolist()
(5.0, [2.0, 4.0])
"""
from __future__ import annotations

from dataclasses import dataclass, field

from matd.core.deferred import is_dask, is_lazy
from matd.core.errors import MatdError
from matd.core.plan import NumericError, OutOfMemory, Plan, all_finite, size


@dataclass
class Binding:
    """Arrays for the variables, sizes for the dims.  The arrays are 2-D: numpy float64
    (float32 as given, for a float32 run), moved to the device when run; dask arrays on the
    dask backend.  ``checked``: every array in ``env`` is known to be finite (``bind``
    checked the given ones; random draws are), so a plan need not check them again."""

    env: dict
    sizes: dict
    xp: object = None
    dtype: object = None
    origin: dict = field(default_factory=dict)   # dim -> where its size came from
    checked: bool = False
    work: object = None   # lazy (dask): what is left to compute, a daskrun.Work
    uploaded: dict = field(default_factory=dict)   # (name, dtype) -> (host, device array)
    rows: int = 0         # lazy: the block length of the chunked axes (--chunks)


def user_shape(shape2d, shape, matrix: bool = False) -> tuple:
    """(r, c) -> () for a scalar, (r,) for a vector, (r, c) for a matrix (also a 1×1 one:
    ``matrix``, a variable declared ``1 x 1``)."""
    r, c = shape
    if matrix:
        return tuple(shape2d)
    if r.is_one and c.is_one:
        return ()
    if c.is_one:
        return (shape2d[0],)
    return tuple(shape2d)


def _two_d(a):
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    return a


def bind(prog, arrays: dict, dims: dict | None = None, where: dict | None = None,
         xp=None, dtype=None) -> Binding:
    """Check arrays against the variables' shapes and fix the dims' sizes.

    ``where`` names each array's origin (a file) for messages.  Errors name the
    array, its origin and both shapes.  Each array is checked to be finite, here and
    only here; one that is float64 already is used as it is, never copied (matd never
    writes into an input; a read-only or memory-mapped array is fine).
    """
    import numpy as np
    where = where or {}
    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    for k, v in (dims or {}).items():
        if k not in prog.dims:
            known = ", ".join(prog.dims)
            raise MatdError(f"--dims {k}={v}: the program has no dimension '{k}'",
                            hint=f"its dimensions: {known}" if known else
                            "it has no symbolic dimensions")
        sizes[k], origin[k] = int(v), f"--dims {k}={v}"
    env, tol, promises = {}, {}, []
    for name, arr in arrays.items():
        if name not in prog.variables:
            known = ", ".join(prog.variables) or "none"
            raise MatdError(f"--at {name}: no variable '{name}' in the program",
                            hint=f"variables: {known}")
        lazy = is_dask(arr)
        a = arr if lazy else np.asarray(arr)
        src = where.get(name, "the command line")
        if a.dtype.kind not in "fiub":
            raise MatdError(f"--at {name}: the array from {src} is not numeric ({a.dtype})",
                            hint="give numbers: a float array, a CSV of numbers, or a literal")
        if a.ndim > 2:
            raise MatdError(f"--at {name}: a {a.ndim}-d array cannot be a matd value",
                            hint="matd values are scalars, vectors and matrices")
        var = prog.variables[name]
        if a.ndim == 1 and var.shape[0].is_one and not var.shape[1].is_one:
            a = a.reshape(1, -1)      # a 1-d array fills a declared row (1 x n)
        eps = float(np.finfo(a.dtype).eps) if a.dtype.kind == "f" else float(np.finfo(float).eps)
        # float64, or float32 as it is for a float32 run: no float64 copy of it on the host
        keep32 = a.dtype == np.float32 and dtype is not None and "float32" in str(dtype)
        a = _two_d(a.astype(np.float32 if keep32 else np.float64, copy=False))
        if not lazy and not all_finite(np, a):   # a lazy input: with the results
            raise NumericError(f"--at {name}: the input contains NaN or Inf")
        for axis, d in enumerate(var.shape):
            n = a.shape[axis]
            syms = [f for f in d.factors]
            if len(syms) == 1 and d.coef == 1 and syms[0] not in sizes:
                sizes[syms[0]], origin[syms[0]] = n, name if src == "the command line" \
                    else f"{name} from {src}"
                continue
            try:
                want = size(d, sizes)
            except MatdError:
                continue  # a product of unknown dims: checked below, once all are known
            if want != n:
                from matd.core.printers import shape_decl
                decl = shape_decl(var.shape)
                culprit = next((f for f in syms if f in origin), None)
                why = f" ({culprit} = {sizes[culprit]}, set by {origin[culprit]})" \
                    if culprit else ""
                raise MatdError(f"--at {name}: the array from {src} has shape "
                                f"{tuple(arr.shape if hasattr(arr, 'shape') else ())} but "
                                f"{name} is {decl}{why}",
                                hint=f"{name} needs {want} {'rows' if axis == 0 else 'columns'}")
        env[name] = a
        tol[name] = eps
    for name, a in env.items():
        var = prog.variables[name]
        want = (size(var.shape[0], sizes), size(var.shape[1], sizes))
        if want != a.shape:
            from matd.core.printers import shape_decl
            src = where.get(name, "the command line")
            raise MatdError(f"--at {name}: the array from {src} has shape "
                            f"{tuple(np.shape(arrays[name]))} but {name} is "
                            f"{shape_decl(var.shape)} = {want[0]} x {want[1]} here",
                            hint="the sizes come from the other inputs and --dims")
        args = (name, a, prog.variables[name].params[1], where.get(name, "the command line"),
                tol[name])
        if is_dask(a):
            if any(t in args[2] for t in ("spd", "sym", "orth", "diag", "simplex")):
                from matd.core.daskrun import promise_check
                promises.append(promise_check(*args))
        else:
            check_promises(*args)
    b = Binding(env, sizes, xp, dtype, origin, checked=not promises and not any(
        is_dask(a) for a in env.values()))
    if is_lazy(xp):
        from matd.core.daskrun import Work
        b.work = Work(promises=promises)
    return b


def check_promises(name: str, a, attrs, src: str = "the command line", eps: float = 2.2e-16):
    """A given value keeps what its declaration promises (sym, spd, orth, diag), to rounding:
    sym and spd symmetric within √eps of the largest entry, spd also Cholesky-factorable,
    orth with QᵀQ = I (orthonormal columns: square, or n x p with n ≥ p) within √eps·p,
    diag zero off the diagonal.

    >>> import numpy as np
    >>> check_promises("S", np.array([[1.0, 2.0], [2.0, 1.0]]), ("spd",))
    Traceback (most recent call last):
    ...
    matd.core.errors.MatdError: --at S: S is declared spd but is not positive definite (the array from the command line)
    """
    import numpy as np
    promised = [t for t in ("spd", "sym", "orth", "diag", "simplex") if t in attrs]
    if not promised:
        return
    m, n = a.shape
    scale = float(np.max(np.abs(a), initial=0.0))
    tol = np.sqrt(eps) * max(scale, np.finfo(float).tiny)
    where = f"(the array from {src})"

    def fail(what, hint):
        raise MatdError(f"--at {name}: {name} is declared {attr} but {what} {where}", hint=hint)

    for attr in promised:
        if attr in ("spd", "sym"):
            if m != n:
                fail(f"is not square ({m} x {n})", "a symmetric matrix is square")
            asym = float(np.max(np.abs(a - a.T), initial=0.0))
            if asym > tol:
                fail(f"is not symmetric (|{name} - {name}ᵀ| reaches {asym:.3g})",
                     f"give a symmetric matrix, e.g. ({name} + {name}ᵀ)/2, or drop '{attr}'")
        if attr == "spd":
            try:
                np.linalg.cholesky((a + a.T) / 2)
            except np.linalg.LinAlgError:
                fail("is not positive definite",
                     "its Cholesky factorization fails; give a positive definite matrix, "
                     "or drop 'spd'")
        if attr == "orth":
            if m < n:
                fail(f"has more columns than rows ({m} x {n}), so {name}ᵀ {name} ≠ I",
                     f"orth is QᵀQ = I (orthonormal columns): give an n x p {name} with "
                     f"n ≥ p, or declare and give its transpose")
            dev = float(np.max(np.abs(a.T @ a - np.eye(n)), initial=0.0))
            if dev > np.sqrt(eps) * max(n, 1) * 10:
                fail(f"is not orthogonal (|{name}ᵀ {name} - I| reaches {dev:.3g})",
                     "give orthonormal columns (e.g. the Q of a QR), or drop 'orth'")
        if attr == "simplex":
            sums = a.sum(axis=0) if n == 1 else a.sum(axis=1)
            dev = float(np.max(np.abs(sums - 1), initial=0.0))
            low = float(np.min(a, initial=0.0))
            if dev > np.sqrt(eps) * max(m * n, 1) or low < 0:
                what = "its entries" if n == 1 else "its rows"
                fail(f"is not on the simplex ({what} must be ≥ 0 and sum to 1; "
                     + (f"a sum is off by {dev:.3g})" if low >= 0 else f"an entry is {low:.3g})"),
                     "give probabilities (e.g. one-hot labels), or drop 'simplex'")
        if attr == "diag":
            off = a - np.diag(np.diag(a)) if m == n else a
            dev = float(np.max(np.abs(off), initial=0.0))
            if m != n or dev > tol:
                fail(f"is not diagonal (an entry off the diagonal reaches {dev:.3g})",
                     "give a diagonal matrix, or drop 'diag'")


def fill_random(prog, b: Binding, rng, default: int = 3) -> Binding:
    """Random values (respecting attributes) for variables without one."""
    from matd.core.randomize import draw, kind_of_var, need_bytes
    for name in prog.dims:
        b.sizes.setdefault(name, default)
    todo = {name: (size(var.shape[0], b.sizes), size(var.shape[1], b.sizes))
            for name, var in prog.variables.items() if name not in b.env}
    given = sum(int(a.nbytes) for a in b.env.values())
    need = given + sum(need_bytes(kind_of_var(prog.variables[n]), s) for n, s in todo.items())
    _refuse_above_memory(need, "--random: the inputs", todo)
    for name, shape in todo.items():
        if kind_of_var(prog.variables[name]) == "orth" and shape[0] < shape[1]:
            raise MatdError(f"--random: {name} is declared orth (QᵀQ = I) but is "
                            f"{shape[0]} x {shape[1]} here, with more columns than rows",
                            hint="give sizes with at least as many rows as columns (--dims)")
        try:
            b.env[name] = draw(kind_of_var(prog.variables[name]), shape, rng)
        except MemoryError:
            raise OutOfMemory(f"--random: not enough memory to draw {name} "
                              f"({shape[0]} x {shape[1]})",
                              hint="give smaller sizes with --dims") from None
    return b


def _refuse_above_memory(need: int, what: str, shapes: dict) -> None:
    from matd.core.backend import allocation_limit, human_bytes
    limit = allocation_limit()
    if need > limit:
        big = max(shapes, key=lambda k: shapes[k][0] * shapes[k][1]) if shapes else None
        which = f" ({big} is {shapes[big][0]} x {shapes[big][1]})" if big else ""
        raise OutOfMemory(f"{what} would need {human_bytes(need)}{which}, more than matd "
                          f"allows on this machine ({human_bytes(limit)}, half its memory)",
                          hint="give smaller sizes with --dims")


def _narrows(b: Binding) -> bool:
    """Whether moving the (float64) values to the backend's dtype may overflow them."""
    return b.dtype is not None and "float64" not in str(b.dtype)


def _device(b: Binding, plan_env: dict):
    xp = b.xp
    if xp is None:
        return plan_env
    if is_lazy(xp):   # dask arrays already (prepare made them): only the dtype to set
        want = b.dtype or xp.float64
        return {k: v if v.dtype == want else v.astype(want) for k, v in plan_env.items()}
    import warnings
    want = b.dtype or xp.float64
    out = {}
    with warnings.catch_warnings():   # a value beyond float32 is reported by the plan, by name
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, v in plan_env.items():   # each input moved once per command (--check too)
            if b.env.get(k) is not v:     # a direction, a perturbed X: moved each time
                out[k] = xp.asarray(v, dtype=want)
                continue
            key = (k, str(want))
            got = b.uploaded.get(key)
            if got is None or got[0] is not v:
                got = b.uploaded[key] = (v, xp.asarray(v, dtype=want))
            out[k] = got[1]
    return out


def to_numpy(x):
    import numpy as np
    if hasattr(x, "get"):        # CuPy
        return x.get()
    return np.asarray(x)


def run(nodes, prog, b: Binding, denv: dict | None = None):
    """Values of ``nodes`` (2-D numpy arrays of their own: a result that is an input, or a
    view of one, such as the gradient x of xᵀx/2, is copied, for inputs are not)."""
    spd = {n for n, v in prog.variables.items() if "spd" in v.params[1]}
    missing = [v for v in prog.variables if v not in b.env and any(
        v == x.params[0] for node in nodes for x in _vars(node))]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)}",
                        hint="give each one: --at NAME=VALUE (a file or a literal), or --random")
    plan = Plan(list(nodes), b.sizes, frozenset(spd))
    env = _device(b, b.env)
    d = _device(b, denv or {})
    if b.work is not None:   # lazy: the graph now, computed with the others (daskrun.compute)
        from matd.core.daskrun import Lazy, as_dask
        if d:
            d = {k: as_dask(v, b.rows) for k, v in d.items()}
        out, checks = plan.lazy(env, b.xp, d, b.dtype)
        b.work.plans.append(Lazy(plan, b.xp, env, d, b.dtype, checks, prog))
        return out
    try:   # the inputs were checked by bind (once), unless float32 may overflow them
        out = [to_numpy(v) for v in plan.run(env, b.xp, d, b.dtype,
                                             inputs_checked=b.checked and not _narrows(b))]
    except NumericError as e:
        raise _located(e, prog)
    import numpy as np
    given = [a for a in (*b.env.values(), *(denv or {}).values()) if isinstance(a, np.ndarray)]
    return [v.copy() if any(np.may_share_memory(v, a) for a in given) else v for v in out]


def _located(e: NumericError, prog) -> NumericError:
    """Point a numeric error at the subexpression it blames, when the program wrote it, and
    name a constant as written (``the constant inf`` becomes ``the constant 1e999``)."""
    node, what = getattr(e, "node", None), getattr(e, "what", None)
    spans = getattr(prog, "spans", {}).get(node) if node is not None else None
    source = getattr(prog, "source", None)
    if not spans or e.span is not None or source is None:
        return e
    e.span = spans[0]
    if getattr(e, "source", None) is None:
        e.source = source
    written = source.text[e.span.start:e.span.end]
    if node.op == "const" and what and written and what in e.message:
        e.message = e.message.replace(what, written, 1)
        e.args = (e.message,)
    return e


def _vars(node):
    from matd.core.expr import free_vars
    return free_vars(node)


def declared_matrix(prog, node) -> bool:
    """Whether ``node`` is a variable declared ``1 x 1``: a matrix, 2-d in numbers, where the
    IR (a 1×1 is a scalar) cannot tell."""
    return node.op == "var" and node.params[0] in prog.one_by_one


def value(prog, b: Binding):
    """The program's result, in the user's shape."""
    f = prog.result
    v = run([f], prog, b)[0]
    return v.reshape(user_shape(v.shape, f.shape, declared_matrix(prog, f)))


def _xshape(prog, b, name):
    var = prog.variables[name]
    s2 = (size(var.shape[0], b.sizes), size(var.shape[1], b.sizes))
    return s2, user_shape(s2, var.shape, declared_matrix(prog, var))


def unvec(J, fshape2d, fuser, xshape2d, xuser):
    """A vec-Jacobian (|f| × |X|, column-major vecs) as an array of shape f + X."""
    (fp, fq), (xp_, xq) = fshape2d, xshape2d
    return J.reshape(fq, fp, xq, xp_).transpose(1, 0, 3, 2).reshape(tuple(fuser) + tuple(xuser))


def derivative_array(prog, b: Binding, r, f):
    """The derivative of a ``derive`` result as an array of shape(f) + shape(X)."""
    import numpy as np
    f2, fu, x2, xu = _shapes(prog, b, r, f)
    if r.derivative is None:   # no closed form: exact directional derivatives, column by column
        lin = r.differential
        if r.kind in ("hessian", "vec-hessian"):   # of the gradient, not the quadratic form d²f
            from matd.core.differentiate import differential
            from matd.core.simplify import simplify
            lin = simplify(differential(r.gradient, [r.wrt]))
        cols = []
        attrs = prog.variables[r.wrt].params[1]
        for k in range(x2[0] * x2[1]):
            E = np.zeros(x2[0] * x2[1])
            E[k] = 1.0
            dX = E.reshape(x2[1], x2[0]).T
            if x2[0] == x2[1] > 1:   # directions within the structure: J P, J D (DESIGN §2)
                if "diag" in attrs:
                    dX = dX * np.eye(x2[0])
                elif "sym" in attrs or "spd" in attrs:
                    dX = (dX + dX.T) / 2
            cols.append(run([lin], prog, b, {r.wrt: dX})[0].T.reshape(-1))
        J = np.stack(cols, axis=1)
        return unvec(J, f2, fu, x2, xu)
    return _shaped(r, run([r.derivative], prog, b)[0], f2, fu, x2, xu)


def derivative_arrays(prog, b: Binding, results, f) -> list:
    """``derivative_array`` of several results, the closed forms in one plan (their common
    parts, the forward pass, computed once)."""
    closed = [r for r in results if r.derivative is not None]
    values = dict(zip((id(r) for r in closed), run([r.derivative for r in closed], prog, b)))
    out = []
    for r in results:
        if id(r) not in values:
            out.append(derivative_array(prog, b, r, f))
            continue
        out.append(_shaped(r, values[id(r)], *_shapes(prog, b, r, f)))
    return out


def _shapes(prog, b: Binding, r, f):
    """(f's 2-D shape, f's user shape, X's 2-D shape, X's user shape) of a result: for a
    Hessian, the 'f' is the gradient, of X's shape."""
    x2, xu = _xshape(prog, b, r.wrt)
    if r.kind in ("hessian", "vec-hessian"):
        return x2, xu, x2, xu
    f2 = (size(f.shape[0], b.sizes), size(f.shape[1], b.sizes))
    return f2, user_shape(f2, f.shape, declared_matrix(prog, f)), x2, xu


def _shaped(r, D, f2, fu, x2, xu):
    """A closed-form derivative's 2-D value as an array of shape(f) + shape(X)."""
    if r.kind in ("gradient", "derivative"):   # a derivative is by a scalar (or 1 x 1) X
        return D.reshape(tuple(fu) + tuple(xu))
    return unvec(D, f2, fu, x2, xu)


def grad(prog, b: Binding, wrt: str, order: int = 1):
    """∂f/∂X (order 1) or the Hessian (order 2) as a numpy array of shape f + X."""
    from matd.core.derive import derive
    d = derive(prog, [wrt], order)
    return derivative_array(prog, b, d.results[0], d.f)


def hvp(prog, b: Binding, r, V):
    """The Hessian applied to V (X's shape) without forming the Hessian: d(∇f)[V]."""
    import numpy as np
    from matd.core.differentiate import differential
    from matd.core.simplify import simplify
    x2, xu = _xshape(prog, b, r.wrt)
    given = np.asarray(V, dtype=float)
    V = _two_d(given)
    if not np.all(np.isfinite(V)):
        raise NumericError("--hvp: the direction contains NaN or Inf",
                           hint="give a direction of finite numbers")
    if V.shape != x2:
        raise MatdError(f"--hvp: the direction has shape {given.shape}, but {r.wrt} has "
                        f"shape {tuple(xu)}")
    dG = simplify(differential(r.gradient, [r.wrt]))
    out = run([dG], prog, b, {r.wrt: V})[0]
    return out.reshape(xu)


def fd_derivative(prog, b: Binding, r, f, h: float | None = None):
    """Central differences of f (order 1) or of the gradient (order 2), shaped f + X."""
    import numpy as np
    from matd.core.fdcheck import central_jacobian
    target = r.gradient if r.kind in ("hessian", "vec-hessian") else f
    base = dict(b.env)
    x2, xu = _xshape(prog, b, r.wrt)
    spd = {n for n, v in prog.variables.items() if "spd" in v.params[1]}
    plan = Plan([target], b.sizes, frozenset(spd))

    b64 = Binding(b.env, b.sizes, b.xp, None, uploaded=b.uploaded)   # in float64, always

    def fun(X):
        env = dict(base)
        env[r.wrt] = X
        return to_numpy(plan.run(_device(b64, env), b.xp, None, None, check=False)[0])

    J = central_jacobian(fun, base[r.wrt], h)     # target2d + x2d
    if not np.all(np.isfinite(J)):
        raise NumericError(f"the finite differences by {r.wrt} are not finite (NaN or Inf): "
                           f"the function is not defined, or overflows, near this {r.wrt}",
                           hint="check at another point, or rescale the inputs")
    t2 = J.shape[:2]
    tu = xu if r.kind in ("hessian", "vec-hessian") else \
        user_shape(t2, target.shape, declared_matrix(prog, target))
    out = J.reshape(tuple(tu) + tuple(xu))
    attrs = prog.variables[r.wrt].params[1]
    if r.kind == "gradient" and len(xu) == 2:   # the gradient within the structure
        if "diag" in attrs:
            out = np.diag(np.diag(out))
        elif "sym" in attrs or "spd" in attrs:
            out = (out + out.T) / 2
    if r.kind in ("vec-jacobian", "jacobian") and len(xu) == 2:   # directions within it
        if "diag" in attrs:
            out = out * np.eye(xu[0], dtype=bool)
        elif "sym" in attrs or "spd" in attrs:
            out = (out + np.swapaxes(out, -1, -2)) / 2
    if r.kind == "vec-hessian" and len(xu) == 2:   # along directions within the structure
        if "diag" in attrs:
            keep = np.eye(xu[0], dtype=bool)
            out = out * keep[:, :, None, None] * keep[None, None, :, :]
        elif "sym" in attrs or "spd" in attrs:   # P H P, P = (I + K)/2
            out = (out + out.transpose(1, 0, 2, 3)) / 2
            out = (out + out.transpose(0, 1, 3, 2)) / 2
    return out
