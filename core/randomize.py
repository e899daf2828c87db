"""Random inputs that respect what a variable promises (attributes) or what a
test asks for (input kinds): gauss, sym, spd, wellcond, posdet, pos, unit,
nonzero, orth, diag.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("S: n x n spd; x: n; x^T S x")
>>> env, sizes = random_inputs(p, {"n": 3}, np.random.default_rng(0))
>>> bool(np.all(np.linalg.eigvalsh(env["S"]) > 0)), env["x"].shape
(True, (3, 1))
>>> Q = draw("orth", (5, 2), np.random.default_rng(0))
>>> Q.shape, bool(np.allclose(Q.T @ Q, np.eye(2)))
((5, 2), True)
"""
from __future__ import annotations

from matd.core.evaluate import size

KINDS = ("gauss", "sym", "spd", "wellcond", "posdet", "pos", "unit", "nonzero", "orth", "diag",
         "simplex")


def draw(kind: str, shape: tuple[int, int], rng):
    """One array of a kind (2-D, float64)."""
    import numpy as np
    m, n = shape
    g = rng.standard_normal((m, n))
    if kind == "gauss":
        return g
    if kind == "sym":
        return (g + g.T) / 2
    if kind == "spd":
        return g @ g.T / n + np.eye(m)
    if kind == "wellcond":
        return np.eye(m, n) * 2 + 0.3 * g
    if kind == "posdet":
        q = g + np.eye(m) * 2.5
        return q if np.linalg.det(q) > 0 else q[::-1].copy()
    if kind == "pos":
        return rng.uniform(0.5, 2.0, (m, n))
    if kind == "unit":
        return rng.uniform(0.05, 0.95, (m, n))
    if kind == "nonzero":
        return np.sign(g) * (0.2 + np.abs(g))
    if kind == "orth":   # orthonormal columns (QᵀQ = I): the Q of a thin QR, n x p, n ≥ p
        if m < n:
            raise ValueError(f"orth needs at least as many rows as columns, got {m} x {n}")
        q, r = np.linalg.qr(g)
        return q * np.sign(np.diag(r))
    if kind == "diag":
        return np.diag(rng.standard_normal(m))
    if kind == "simplex":   # probabilities: a vector summing to 1, or rows that each do
        if n == 1:
            return rng.dirichlet(np.ones(m)).reshape(m, 1)
        return rng.dirichlet(np.ones(n), size=m)
    raise ValueError(f"unknown input kind {kind!r}; known: {', '.join(KINDS)}")


def need_bytes(kind: str, shape: tuple[int, int]) -> int:
    """Bytes ``draw`` needs at its peak for one array (float64): the draw itself and the
    temporaries of its kind (a product, a QR), so that a request is refused before it
    allocates.

    >>> need_bytes("gauss", (10, 10)), need_bytes("spd", (10, 10))
    (800, 3200)
    """
    m, n = shape
    factor = {"gauss": 1, "pos": 1, "unit": 1, "diag": 1, "sym": 3, "spd": 4, "wellcond": 3,
              "posdet": 3, "nonzero": 3, "orth": 4}.get(kind, 4)
    return 8 * m * n * factor


def kind_of_var(var) -> str:
    attrs = var.params[1]
    for a in ("spd", "orth", "diag", "sym", "simplex"):
        if a in attrs:
            return a
    return "gauss"


def random_inputs(prog, sizes: dict, rng, kinds: dict | None = None, default: int = 3):
    """Arrays for every variable of ``prog``; dims missing from ``sizes`` get ``default``."""
    sizes = dict(sizes)
    for name in prog.dims:
        sizes.setdefault(name, default)
    env = {}
    for name, var in prog.variables.items():
        shape = (size(var.shape[0], sizes), size(var.shape[1], sizes))
        env[name] = draw((kinds or {}).get(name) or kind_of_var(var), shape, rng)
    return env, sizes
