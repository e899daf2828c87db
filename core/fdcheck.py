"""Central finite differences, the standard a derivative is checked against.

>>> import numpy as np
>>> J = central_jacobian(lambda X: X.T @ X, np.array([[1.0], [2.0]]))
>>> np.round(J.reshape(2), 6).tolist()
[2.0, 4.0]
"""
from __future__ import annotations


def central_jacobian(fun, X, h: float | None = None):
    """∂fun/∂X by central differences: an array of shape fun(X).shape + X.shape."""
    import numpy as np
    X = np.asarray(X, dtype=float)
    f0 = np.asarray(fun(X))
    out = np.zeros(f0.shape + X.shape)
    scale = max(1.0, float(np.max(np.abs(X)))) if X.size else 1.0
    h = h or 1e-6 * scale
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        out[(Ellipsis,) + idx] = (np.asarray(fun(X + E)) - np.asarray(fun(X - E))) / (2 * h)
    return out


def rel_error(a, b) -> float:
    """max |a − b| / max(1, max |b|): relative to the size of the reference; inf when
    either holds NaN or Inf (a comparison with them never passes).

    >>> rel_error([1.0, float("nan")], [1.0, 2.0])
    inf
    """
    import numpy as np
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0) / scale)
