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

from matd.core.errors import MatdError
from matd.core.plan import NumericError, Plan, size


@dataclass
class Binding:
    """Arrays (2-D, on the backend) for the variables, sizes for the dims."""

    env: dict
    sizes: dict
    xp: object = None
    dtype: object = None
    origin: dict = field(default_factory=dict)   # dim -> where its size came from


def user_shape(shape2d, shape) -> tuple:
    """(r, c) -> () for a scalar, (r,) for a vector, (r, c) for a matrix."""
    r, c = shape
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
    array, its origin and both shapes.
    """
    import numpy as np
    where = where or {}
    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    for k, v in (dims or {}).items():
        sizes[k], origin[k] = int(v), f"--dims {k}={v}"
    env = {}
    for name, arr in arrays.items():
        if name not in prog.variables:
            known = ", ".join(prog.variables) or "none"
            raise MatdError(f"--at {name}: no variable '{name}' in the program",
                            hint=f"variables: {known}")
        a = np.asarray(arr)
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
        a = _two_d(a.astype(float))
        if not np.all(np.isfinite(a)):
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
    return Binding(env, sizes, xp, dtype, origin)


def fill_random(prog, b: Binding, rng, default: int = 3) -> Binding:
    """Random values (respecting attributes) for variables without one."""
    from matd.core.randomize import draw, kind_of_var
    for name in prog.dims:
        b.sizes.setdefault(name, default)
    for name, var in prog.variables.items():
        if name not in b.env:
            shape = (size(var.shape[0], b.sizes), size(var.shape[1], b.sizes))
            b.env[name] = draw(kind_of_var(var), shape, rng)
    return b


def _device(b: Binding, plan_env: dict):
    xp = b.xp
    if xp is None:
        return plan_env
    return {k: xp.asarray(v, dtype=b.dtype or xp.float64) for k, v in plan_env.items()}


def to_numpy(x):
    import numpy as np
    if hasattr(x, "get"):        # CuPy
        return x.get()
    return np.asarray(x)


def run(nodes, prog, b: Binding, denv: dict | None = None):
    """Values of ``nodes`` (2-D numpy arrays)."""
    spd = {n for n, v in prog.variables.items() if "spd" in v.params[1]}
    missing = [v for v in prog.variables if v not in b.env and any(
        v == x.params[0] for node in nodes for x in _vars(node))]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)}",
                        hint="give each one: --at NAME=VALUE (a file or a literal), or --random")
    plan = Plan(list(nodes), b.sizes, frozenset(spd))
    env = _device(b, b.env)
    d = _device(b, denv or {})
    return [to_numpy(v) for v in plan.run(env, b.xp, d, b.dtype)]


def _vars(node):
    from matd.core.expr import free_vars
    return free_vars(node)


def value(prog, b: Binding):
    """The program's result, in the user's shape."""
    f = prog.result
    v = run([f], prog, b)[0]
    return v.reshape(user_shape(v.shape, f.shape))


def _xshape(prog, b, name):
    var = prog.variables[name]
    s2 = (size(var.shape[0], b.sizes), size(var.shape[1], b.sizes))
    return s2, user_shape(s2, var.shape)


def unvec(J, fshape2d, fuser, xshape2d, xuser):
    """A vec-Jacobian (|f| × |X|, column-major vecs) as an array of shape f + X."""
    (fp, fq), (xp_, xq) = fshape2d, xshape2d
    return J.reshape(fq, fp, xq, xp_).transpose(1, 0, 3, 2).reshape(tuple(fuser) + tuple(xuser))


def derivative_array(prog, b: Binding, r, f):
    """The derivative of a ``derive`` result as an array of shape(f) + shape(X)."""
    import numpy as np
    x2, xu = _xshape(prog, b, r.wrt)
    f2 = (size(f.shape[0], b.sizes), size(f.shape[1], b.sizes))
    fu = user_shape(f2, f.shape)
    if r.kind in ("hessian", "vec-hessian"):
        f2, fu = x2, xu
    if r.derivative is None:   # no closed form: exact directional derivatives, column by column
        cols = []
        for k in range(x2[0] * x2[1]):
            E = np.zeros(x2[0] * x2[1])
            E[k] = 1.0
            dX = E.reshape(x2[1], x2[0]).T
            cols.append(run([r.differential], prog, b, {r.wrt: dX})[0].T.reshape(-1))
        J = np.stack(cols, axis=1)
        return unvec(J, f2, fu, x2, xu)
    D = run([r.derivative], prog, b)[0]
    if r.kind == "gradient" or r.kind == "derivative":
        return D.reshape(tuple(fu) + tuple(xu)) if r.kind == "gradient" else D.reshape(fu)
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

    b64 = Binding(b.env, b.sizes, b.xp, None)   # differences in float64, whatever --dtype

    def fun(X):
        env = dict(base)
        env[r.wrt] = X
        return to_numpy(plan.run(_device(b64, env), b.xp, None, None, check=False)[0])

    J = central_jacobian(fun, base[r.wrt], h)     # target2d + x2d
    t2 = J.shape[:2]
    tu = user_shape(t2, target.shape)
    out = J.reshape(tuple(tu) + tuple(xu))
    attrs = prog.variables[r.wrt].params[1]
    if r.kind == "gradient" and len(xu) == 2:   # the gradient within the structure
        if "diag" in attrs:
            out = np.diag(np.diag(out))
        elif "sym" in attrs or "spd" in attrs:
            out = (out + out.T) / 2
    return out
