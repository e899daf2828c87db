"""An independent reference: matd IR -> a JAX function, differentiated by JAX autograd.

Written apart from matd's kernels and derivatives: each primitive of the table is one
``jnp`` expression on 2-D arrays (vectors n×1, scalars 1×1); user functions are applied
entry by entry through their bodies.  ``jax_function(node, names, sizes)`` returns a
function of the named variables' 2-D arrays.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("A: n x n; x: n; x^T A x")
>>> f = jax_function(p.result, ["x"], {"n": 2}, {"A": np.eye(2)})
>>> import jax
>>> np.asarray(jax.grad(lambda x: f(x)[0, 0])(np.array([[1.0], [2.0]]))).ravel().tolist()
[2.0, 4.0]
"""
from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.scipy.linalg as jsl  # noqa: E402
import jax.scipy.special as jsp  # noqa: E402

__all__ = ["jax_function", "JAX_OPS", "dim_size"]


def dim_size(d, sizes) -> int:
    out = d.coef
    for f in d.factors:
        out *= sizes[f]
    return out


def _shape(n, sizes):
    return dim_size(n.shape[0], sizes), dim_size(n.shape[1], sizes)


def _s(x):
    return jnp.reshape(x, (1, 1))


def _commutation(m, n):
    import numpy as np
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0
    return jnp.asarray(K)


def _diag(a):
    if a.shape[1] == 1 and a.shape[0] > 1:
        return jnp.diag(a[:, 0])
    return jnp.diagonal(a).reshape(-1, 1)


def _eigh(a):
    return jnp.linalg.eigh((a + a.T) / 2)


def _mpow(a, k):
    out = jnp.eye(a.shape[0], dtype=a.dtype)
    for _ in range(k):
        out = out @ a
    return out


# op -> (node, sizes, *args) -> value; the meaning of each row of core/primitives.py
JAX_OPS = {
    "add": lambda n, z, *a: sum(a[1:], a[0]),
    "neg": lambda n, z, a: -a,
    "matmul": lambda n, z, *a: _chain(a),
    "smul": lambda n, z, s, x: s[0, 0] * x,
    "div": lambda n, z, x, s: x / s[0, 0],
    "hadamard": lambda n, z, a, b: a * b,
    "hdiv": lambda n, z, a, b: a / b,
    "kron": lambda n, z, a, b: jnp.kron(a, b),
    "transpose": lambda n, z, a: a.T,
    "inv": lambda n, z, a: jnp.linalg.inv(a),
    "mpow": lambda n, z, a: _mpow(a, n.params[0]),
    "epow": lambda n, z, a, p: a ** p[0, 0],
    "broadcast": lambda n, z, a: jnp.broadcast_to(a, _shape(n, z)),
    "tr": lambda n, z, a: _s(jnp.trace(a)),
    "diag": lambda n, z, a: _diag(a),
    "vec": lambda n, z, a: a.T.reshape(-1, 1),
    "unvec": lambda n, z, a: a.reshape(_shape(n, z)[1], _shape(n, z)[0]).T,
    "sum": lambda n, z, a: _s(jnp.sum(a)),
    "det": lambda n, z, a: _s(jnp.linalg.det(a)),
    "logdet": lambda n, z, a: _s(jnp.linalg.slogdet(a)[1]),
    "pinv": lambda n, z, a: jnp.linalg.pinv(a),
    "adj": lambda n, z, a: jnp.linalg.det(a) * jnp.linalg.inv(a),
    "exp": lambda n, z, a: jnp.exp(a),
    "log": lambda n, z, a: jnp.log(a),
    "sin": lambda n, z, a: jnp.sin(a),
    "cos": lambda n, z, a: jnp.cos(a),
    "tanh": lambda n, z, a: jnp.tanh(a),
    "sigmoid": lambda n, z, a: jax.nn.sigmoid(a),
    "softplus": lambda n, z, a: jax.nn.softplus(a),
    "relu": lambda n, z, a: jnp.maximum(a, 0.0),
    "sqrt": lambda n, z, a: jnp.sqrt(a),
    "abs": lambda n, z, a: jnp.abs(a),
    "step": lambda n, z, a: jnp.where(a > 0, 1.0, 0.0),
    "sign": lambda n, z, a: jnp.sign(a),
    "norm": lambda n, z, a: _s(jnp.sqrt(jnp.sum(a * a))),
    "norm1": lambda n, z, a: _s(jnp.sum(jnp.abs(a))),
    "specnorm": lambda n, z, a: _s(jnp.linalg.svd(a, compute_uv=False)[0]),
    "nuclear": lambda n, z, a: _s(jnp.sum(jnp.linalg.svd(a, compute_uv=False))),
    "logsumexp": lambda n, z, a: _s(jsp.logsumexp(a)),
    "softmax": lambda n, z, a: jax.nn.softmax(a, axis=None),
    "dot": lambda n, z, a, b: _s(jnp.sum(a * b)),
    "lambda_max": lambda n, z, a: _s(jnp.linalg.eigvalsh((a + a.T) / 2)[-1]),
    "lambda_min": lambda n, z, a: _s(jnp.linalg.eigvalsh((a + a.T) / 2)[0]),
    "eigvec_max": lambda n, z, a: _eigh(a)[1][:, -1:],
    "eigvec_min": lambda n, z, a: _eigh(a)[1][:, :1],
    "svd_u1": lambda n, z, a: jnp.linalg.svd(a, full_matrices=False)[0][:, :1],
    "svd_v1": lambda n, z, a: jnp.linalg.svd(a, full_matrices=False)[2][:1, :].T,
    "polar": lambda n, z, a: _polar(a),
    # batches: MATLAB's dimension k (params[0]) is numpy's axis k - 1
    "sum_axis": lambda n, z, a: jnp.sum(a, axis=n.params[0] - 1, keepdims=True),
    "mean": lambda n, z, a: _s(jnp.mean(a)),
    "mean_axis": lambda n, z, a: jnp.mean(a, axis=n.params[0] - 1, keepdims=True),
    "logsumexp_axis": lambda n, z, a: jsp.logsumexp(a, axis=n.params[0] - 1, keepdims=True),
    "softmax_axis": lambda n, z, a: jax.nn.softmax(a, axis=n.params[0] - 1),
    "max": lambda n, z, a, b: jnp.maximum(a, b),
    "min": lambda n, z, a, b: jnp.minimum(a, b),
    "tril": lambda n, z, a: jnp.tril(a, n.params[0]),
    "triu": lambda n, z, a: jnp.triu(a, n.params[0]),
    # matrix functions; a symmetric argument is read as its symmetric part
    "chol": lambda n, z, a: jnp.linalg.cholesky(_sym(a)),
    "expm": lambda n, z, a: jsl.expm(a),
    "expm_frechet": lambda n, z, a, e: _frechet(a, e),
    "expm_frechet2": lambda n, z, a, e, f: _frechet2(a, e, f),
    "sqrtm": lambda n, z, a: _sqrtm(a),
    "sylvester": lambda n, z, a, b, c: _sylvester(a, b, c),
    "solve": lambda n, z, a, b: jnp.linalg.solve(a, b),
    "eigvals": lambda n, z, a: jnp.linalg.eigvalsh(_sym(a)).reshape(-1, 1),
    "eigvecs": lambda n, z, a: _signed(_eigh(a)[1]),
    "gapinv": lambda n, z, v: _gapinv(v),
    "svdvals": lambda n, z, a: _tall(a, lambda a: jnp.linalg.svd(
        a, compute_uv=False).reshape(-1, 1), (a.shape[1], 1)),
    "svd_u": lambda n, z, a: _tall(a, lambda a: _svd(a)[0], a.shape),
    "svd_v": lambda n, z, a: _tall(a, lambda a: _svd(a)[1], (a.shape[1],) * 2),
    "qr_q": lambda n, z, a: _tall(a, lambda a: _qr(a)[0], a.shape),
    "qr_r": lambda n, z, a: _tall(a, lambda a: _qr(a)[1], (a.shape[1],) * 2),
}


def _sym(a):
    return (a + a.T) / 2


def _frechet(a, e):
    """L(A, E) = d/dt expm(A + tE) at 0."""
    return jax.jvp(jsl.expm, (a,), (e,))[1]


def _frechet2(a, e, f):
    """L₂(A; E, F) = d/ds L(A + sF, E) at 0."""
    return jax.jvp(lambda x: _frechet(x, e), (a,), (f,))[1]


def _sqrtm(a):
    """The principal square root of an spd matrix: V diag(√λ) Vᵀ."""
    w, v = _eigh(a)
    return (v * jnp.sqrt(w)[None, :]) @ v.T


def _sylvester(a, b, c):
    """Y with A Y + Y B = C: (Iₖ ⊗ A + Bᵀ ⊗ Iₙ) vec Y = vec C (vec by columns)."""
    n, k = c.shape
    K = jnp.kron(jnp.eye(k), a) + jnp.kron(b.T, jnp.eye(n))
    y = jnp.linalg.solve(K, c.T.reshape(-1))
    return y.reshape(k, n).T


def _tall(a, f, shape):
    """f(a) for a tall (m ≥ n) matrix, the domain of the thin SVD and QR factors; NaN of
    matd's shape otherwise (matd refuses such a point: no reference there)."""
    if a.shape[0] < a.shape[1]:
        return jnp.full(shape, jnp.nan)
    return f(a)


def _column_signs(ref):
    """±1 per column: the sign of the column's entry of largest magnitude (a constant
    piece of the function: no derivative flows through it)."""
    ref = jax.lax.stop_gradient(ref)
    idx = jnp.argmax(jnp.abs(ref), axis=0)
    pick = ref[idx, jnp.arange(ref.shape[1])]
    return jnp.where(pick < 0, -1.0, 1.0)[None, :]


def _signed(v):
    return v * _column_signs(v)


def _svd(a):
    """(U, V) of the thin SVD, U's columns signed by their largest entries and V's columns
    by the same signs (so that U diag(σ) Vᵀ stays the matrix)."""
    u, _, vh = jnp.linalg.svd(a, full_matrices=False)
    sign = _column_signs(u)
    return u * sign, vh.T * sign


def _qr(a):
    """(Q, R) of the thin QR with R's diagonal positive."""
    q, r = jnp.linalg.qr(a, mode="reduced")
    sign = jnp.where(jax.lax.stop_gradient(jnp.diagonal(r)) < 0, -1.0, 1.0)
    return q * sign[None, :], r * sign[:, None]


def _gapinv(v):
    """Fᵢⱼ = 1/(vⱼ − vᵢ), 0 on the diagonal."""
    k = v.shape[0]
    gaps = v.reshape(1, -1) - v.reshape(-1, 1)
    eye = jnp.eye(k)
    return (1 - eye) / (gaps + eye)


def _polar(a):
    u, _, vh = jnp.linalg.svd(a, full_matrices=False)
    return u @ vh


def _chain(a):
    out = a[0]
    for b in a[1:]:
        out = out @ b
    return out


def _leaf(n, z):
    op = n.op
    if op == "const":
        return jnp.full((1, 1), float(n.params[0]))
    if op == "dim":
        return jnp.full((1, 1), float(dim_size(n.params[0], z)))
    if op == "eye":
        return jnp.eye(dim_size(n.shape[0], z))
    if op == "ones":
        return jnp.ones(_shape(n, z))
    if op == "zeros":
        return jnp.zeros(_shape(n, z))
    if op == "commutation":
        return _commutation(*(dim_size(d, z) for d in n.params))
    raise KeyError(op)


# a user function's body is an expression of one scalar: applied to a whole array at once,
# its scalar operations are the elementwise ones
_ELEMENTWISE = {"smul": lambda n, z, a, b: a * b, "div": lambda n, z, a, b: a / b,
                "matmul": lambda n, z, *a: _prod(a), "epow": lambda n, z, a, p: a ** p,
                "broadcast": lambda n, z, a: a}


def _prod(a):
    out = a[0]
    for b in a[1:]:
        out = out * b
    return out


def _ufunc(n, z, x):
    uf = n.params[0]
    (param,) = uf.params
    return _eval(uf.body, z, {param: x}, {}, elementwise=True)


def _eval(node, z, env, memo, elementwise=False):
    if node in memo:
        return memo[node]
    op = node.op
    if op == "var":
        v = env[node.params[0]]
    elif not node.args and op != "var":
        v = _leaf(node, z)
        if elementwise:
            v = v[0, 0]
    elif op == "ufunc":
        v = _ufunc(node, z, _eval(node.args[0], z, env, memo, elementwise))
    else:
        args = [_eval(a, z, env, memo, elementwise) for a in node.args]
        table = _ELEMENTWISE if elementwise and op in _ELEMENTWISE else JAX_OPS
        v = table[op](node, z, *args)
    memo[node] = v
    return v


def jax_function(node, names, sizes, fixed):
    """f(*arrays for names) -> the 2-D value of ``node``; other variables from ``fixed``."""
    base = {k: jnp.asarray(v) for k, v in fixed.items()}

    def f(*xs):
        env = dict(base)
        env.update(zip(names, xs))
        return _eval(node, sizes, env, {})
    return f
