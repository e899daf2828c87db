"""Independent numpy/SciPy references for the batch and matrix-function rows of the
primitive table (written apart from matd's kernels: other algorithms where matd uses a
library call, e.g. a Taylor series for expm, Cholesky of XᵀX for the QR factors).

Each reference takes (node, concrete shape, *argument arrays) and returns a 2-D array.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special


def sym(a):
    return (a + a.T) / 2


def _axis(n):
    return n.params[0] - 1


def expm_taylor(a, terms=40):
    """e^A by scaling and squaring a Taylor series."""
    s = max(0, int(np.ceil(np.log2(max(np.linalg.norm(a, 1), 1e-300)))) + 1)
    b = a / 2 ** s
    out, term = np.eye(len(a)), np.eye(len(a))
    for k in range(1, terms):
        term = term @ b / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def frechet(a, e):
    n = len(a)
    return expm_taylor(np.block([[a, e], [np.zeros_like(a), a]]))[:n, n:]


def frechet2(a, e, f):
    n, z = len(a), np.zeros_like(a)
    b = np.block([[a, e], [z, a]])
    d = np.block([[f, z], [z, f]])
    zz = np.zeros_like(b)
    return expm_taylor(np.block([[b, d], [zz, b]]))[:n, 3 * n:]


def largest_positive(v, ref=None):
    """Columns signed so that each column of ref (default v) has its largest entry > 0."""
    r = v if ref is None else ref
    idx = np.abs(r).argmax(axis=0)
    return v * np.sign(r[idx, np.arange(r.shape[1])])


def eig_sorted(a):
    w, v = np.linalg.eig(sym(a))
    order = np.argsort(w.real)
    return w.real[order], largest_positive(v.real[:, order] / np.linalg.norm(v.real[:, order],
                                                                              axis=0))


def svd_by_eig(a):
    """U, σ, V of the thin SVD from the eigenvectors of AᵀA (σ descending)."""
    w, v = np.linalg.eigh(a.T @ a)
    order = np.argsort(w)[::-1]
    s, v = np.sqrt(w[order]), v[:, order]
    u = a @ v / s
    return largest_positive(u), s, largest_positive(v, u)


def qr_by_cholesky(a):
    r = np.linalg.cholesky(a.T @ a).T
    return np.linalg.solve(r.T, a.T).T, r


def gapinv(v):
    v = v[:, 0]
    k = len(v)
    return np.array([[0.0 if i == j else 1 / (v[j] - v[i]) for j in range(k)]
                     for i in range(k)])


def sylvester_by_kron(a, b, c):
    n, k = c.shape
    M = np.kron(np.eye(k), a) + np.kron(b.T, np.eye(n))
    return np.linalg.solve(M, c.reshape(-1, order="F")).reshape(n, k, order="F")


REFERENCE = {
    "sum_axis": lambda n, s, a: np.add.reduce(a, axis=_axis(n), keepdims=True),
    "mean": lambda n, s, a: np.array([[a.sum() / a.size]]),
    "mean_axis": lambda n, s, a: np.average(a, axis=_axis(n)).reshape(s),
    "logsumexp_axis": lambda n, s, a: scipy.special.logsumexp(a, axis=_axis(n),
                                                              keepdims=True),
    "softmax_axis": lambda n, s, a: scipy.special.softmax(a, axis=_axis(n)),
    "max": lambda n, s, a, b: np.fmax(a, b),
    "min": lambda n, s, a, b: np.fmin(a, b),
    "tril": lambda n, s, a: np.tril(a, n.params[0]),
    "triu": lambda n, s, a: np.triu(a, n.params[0]),
    "chol": lambda n, s, a: scipy.linalg.cholesky(sym(a), lower=True),
    "expm": lambda n, s, a: expm_taylor(a),
    "expm_frechet": lambda n, s, a, e: frechet(a, e),
    "expm_frechet2": lambda n, s, a, e, f: frechet2(a, e, f),
    "sqrtm": lambda n, s, a: np.real(scipy.linalg.sqrtm(a)),
    "sylvester": lambda n, s, a, b, c: sylvester_by_kron(a, b, c),
    "solve": lambda n, s, a, b: np.linalg.inv(a) @ b,
    "eigvals": lambda n, s, a: eig_sorted(a)[0].reshape(-1, 1),
    "eigvecs": lambda n, s, a: eig_sorted(a)[1],
    "gapinv": lambda n, s, v: gapinv(v),
    "svdvals": lambda n, s, a: svd_by_eig(a)[1].reshape(-1, 1),
    "svd_u": lambda n, s, a: svd_by_eig(a)[0],
    "svd_v": lambda n, s, a: svd_by_eig(a)[2],
    "qr_q": lambda n, s, a: qr_by_cholesky(a)[0],
    "qr_r": lambda n, s, a: qr_by_cholesky(a)[1],
}
