"""The array-API namespace for ``--backend dask``: ``array_api_compat.dask.array`` plus
what matd's kernels and plans need that it lacks, all lazy (nothing is computed while a
graph is built).

Arrays are dask arrays, 2-D (vectors n×1, scalars 1×1), big ones chunked by rows (a
2,000,000×50 X in row chunks), small ones (50×50, 50×1) in one chunk.  Elementwise
functions, reductions, ``matmul``, ``take``, ``concat``, ``broadcast_to``, ``where``,
``argmax`` and ``linalg.diagonal`` come from the wrapper as they are: they are lazy and
right on row chunks.  Replaced:

- ``reshape`` (C order; matd's column-major vec is a reshape of a transpose): dask's only
  merges or splits dimensions and refuses the rest, such as the (m, n·k) → (m·n, k) of a
  Kronecker product applied to a matrix; those go through the flat vector.

Added or replaced in ``linalg``:

- ``det``, ``slogdet``, ``eigh``, ``eigvalsh``, ``pinv``: dask has none.  They are numpy's,
  applied lazily to the matrix in one piece (``whole``): these are small-matrix functions.
- ``inv``, ``solve``, ``cholesky``: dask's need square chunks of one size.  A small matrix
  (``SMALL`` rows or fewer) is taken in one piece and numpy's function applied to it (the
  same numbers, and on computing the same ``LinAlgError``, as numpy); ``solve`` keeps the
  right side's column chunks, so ``solve(S, Xᵀ)`` with a wide Xᵀ stays chunked.  A larger
  one goes to dask's blocked algorithms on ``BLOCK``-sized square blocks, padded with an
  identity block to a multiple of ``BLOCK`` (which changes neither the inverse, the
  solution nor the Cholesky factor of the original part).
- ``matrix_power``: repeated squaring with ``matmul``, on any chunks.
- ``svd``, ``qr``: dask's (TSQR: tall-and-skinny in row chunks, or short-and-fat), with the
  short dimension rechunked to one chunk first where it is not: dask refuses a matrix
  chunked both ways, and its QR of a wide matrix in row chunks fails.
- ``svdvals``: the wrapper's asks dask for ``full_matrices=True`` and fails; here the tall
  dimension is first reduced by QR (σ(X) = σ(R) for X = Q R), then numpy's ``svd`` of R.

``whole`` is also what ``matd.core.primitives`` uses for SciPy functions (expm,
expm_frechet, solve_sylvester) on this namespace.

>>> import numpy as np, dask.array as da
>>> xp = namespace()
>>> "dask" in xp.__name__
True
>>> S = da.from_array(np.array([[4.0, 1.0], [1.0, 3.0]]), chunks=(1, -1))
>>> b = da.from_array(np.array([[1.0], [2.0]]), chunks=(1, -1))
>>> x = xp.linalg.solve(S, b)          # lazy: a graph, not numbers
>>> np.allclose(S.compute() @ x.compute(), b.compute())
True
>>> float(xp.linalg.slogdet(S)[1].compute()) == float(np.log(11.0))
True
"""
from __future__ import annotations

from functools import partial

from matd.core.errors import MatdError

SMALL = 4096   # a square matrix with at most this many rows is factored in one piece
BLOCK = 2048   # the square block size of dask's blocked solve, inverse and Cholesky

_NAMESPACE = None
# dask.array imports these, when SciPy is installed, only to accept sparse matrices as
# chunks and to warn about scipy.fftpack's FFTs: nothing matd does (0.2 s of a command)
_OPTIONAL = frozenset(("scipy.sparse", "scipy.fftpack"))


def import_lean() -> None:
    """Import dask.array without the SciPy modules of ``_OPTIONAL``.  For the command
    line, whose process runs matd alone; a program of the user's imports dask as it is.
    Once dask.array is in, they import as usual (nothing is remembered of the refusal)."""
    import sys
    if "dask.array" in sys.modules:
        return

    class Refuse:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name in _OPTIONAL:
                raise ModuleNotFoundError(f"{name} is not needed here", name=name)
            return None
    sys.meta_path.insert(0, Refuse)
    try:
        import dask.array  # noqa: F401
    except ImportError:
        pass    # no dask: namespace() says so
    finally:
        sys.meta_path.remove(Refuse)


def namespace():
    """The dask namespace (made once); a clear error when dask is not installed."""
    global _NAMESPACE
    if _NAMESPACE is None:
        try:
            import array_api_compat.dask.array as base
        except ImportError:
            raise MatdError("--backend dask needs Dask, which is not installed",
                            hint="install it: pip install 'matd[dask]'") from None
        linalg = _Namespace("matd.core.dasknp.linalg", base.linalg, det=det, slogdet=slogdet,
                            eigh=eigh, eigvalsh=eigvalsh, pinv=pinv, inv=inv, solve=solve,
                            cholesky=cholesky, matrix_power=matrix_power, svd=svd, qr=qr,
                            svdvals=svdvals)
        _NAMESPACE = _Namespace("matd.core.dasknp", base, linalg=linalg, reshape=reshape)
    return _NAMESPACE


class _Namespace:
    """A thin proxy: the attributes given here, and every other one from ``base``."""

    def __init__(self, name: str, base, **own):
        self.__name__ = name
        self._base = base
        vars(self).update(own)

    def __getattr__(self, attr):   # called only for what is not set on the instance
        if attr == "_base":        # not set yet (a copy being made)
            raise AttributeError(attr)
        return getattr(self._base, attr)

    def __dir__(self):
        return sorted(set(dir(self._base)) | set(vars(self)))

    def __repr__(self):
        return f"<array namespace {self.__name__}>"


def reshape(x, /, shape, *, copy=None):
    """C-order reshape, lazily, of any shape and chunks.  dask's own only merges or splits
    dimensions (4×6 to 8×3 is neither, and it raises NotImplementedError); such a one goes
    through the flat vector: every dimension merged into one, then split into the new
    ones.  (``copy`` changes nothing: a dask array is never written into.)"""
    import dask.array as da
    try:
        return da.reshape(x, shape)
    except NotImplementedError:
        return da.reshape(da.reshape(x, (-1,)), shape)


# --- numpy functions on a matrix in one piece ---------------------------------------------
def whole(f, *arrays, shape, dtype, nout=None):
    """f (a numpy or SciPy function of small arrays) applied lazily to ``arrays``, each
    joined into one piece: a dask array of ``shape`` (one chunk), or with ``nout`` a tuple
    of ``nout`` of them, ``shape`` then a list of their shapes.  Results are cast to
    ``dtype`` (float32 stays float32)."""
    import dask
    import dask.array as da
    task = dask.delayed(partial(_cast, f, dtype), pure=True, nout=nout)(*arrays)
    if nout is None:
        return da.from_delayed(task, shape, dtype=dtype)
    return tuple(da.from_delayed(t, s, dtype=dtype) for t, s in zip(task, shape))


def _cast(f, dtype, *blocks):
    import numpy as np
    out = f(*blocks)
    if isinstance(out, tuple):
        return tuple(np.asarray(o).astype(dtype, copy=False) for o in out)
    return np.asarray(out).astype(dtype, copy=False)


def _float(x):
    """The dtype of x's results: its own if floating, else float64 (as numpy's linalg)."""
    import numpy as np
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def _result(kind: str):
    """The array API's named tuple ``kind`` (EighResult, QRResult, …)."""
    import array_api_compat.dask.array.linalg as base
    return getattr(base, kind)


# --- linalg: what dask lacks ------------------------------------------------------------
def det(x, /):
    import numpy as np
    return whole(np.linalg.det, x, shape=(), dtype=_float(x))


def slogdet(x, /):
    import numpy as np
    sign, logabs = whole(np.linalg.slogdet, x, shape=[(), ()], dtype=_float(x), nout=2)
    return _result("SlogdetResult")(sign, logabs)


def eigh(x, /):
    import numpy as np
    n = x.shape[0]
    w, v = whole(np.linalg.eigh, x, shape=[(n,), (n, n)], dtype=_float(x), nout=2)
    return _result("EighResult")(w, v)


def eigvalsh(x, /):
    import numpy as np
    return whole(np.linalg.eigvalsh, x, shape=(x.shape[0],), dtype=_float(x))


def pinv(x, /, *, rtol=None):
    """The array API's pinv: singular values below rtol·σ₁ count as zero, rtol by default
    max(m, n)·eps (numpy's ``rtol=None``)."""
    return whole(partial(_pinv, rtol), x, shape=x.shape[::-1], dtype=_float(x))


def _pinv(rtol, a):
    import numpy as np
    cutoff = max(a.shape) * np.finfo(a.dtype).eps if rtol is None else rtol
    return np.linalg.pinv(a, cutoff)   # positionally: rcond in numpy 1, the same in numpy 2


def matrix_power(x, n: int, /):
    """Xⁿ by repeated squaring (numpy's order of products), on any chunks; X⁻ⁿ is
    (X⁻¹)ⁿ."""
    import dask.array as da
    if n == 0:
        return da.eye(x.shape[0], dtype=x.dtype)
    if n < 0:
        x, n = inv(x), -n
    z = result = None
    while n > 0:
        z = x if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


# --- linalg: what dask has only for square chunks -----------------------------------------
def _blocked(a):
    """(a padded to a multiple of BLOCK with an identity block, in BLOCK-square chunks; the
    padding p) for dask's blocked LU and Cholesky, which want square chunks of one size."""
    import dask.array as da
    n = a.shape[0]
    p = -n % BLOCK
    if p:
        z = da.zeros((n, p), dtype=a.dtype)
        a = da.block([[a, z], [z.T, da.eye(p, dtype=a.dtype)]])
    return a.rechunk((BLOCK, BLOCK)), p


def inv(x, /):
    """X⁻¹: numpy's on a small X in one piece, dask's blocked one on a larger one."""
    import numpy as np
    n = x.shape[0]
    if n <= SMALL:
        return whole(np.linalg.inv, x, shape=x.shape, dtype=_float(x))
    import dask.array as da
    big, _ = _blocked(x)
    return da.linalg.inv(big)[:n, :n]


def solve(x1, x2, /):
    """x1⁻¹ x2 for a square x1; x2 an n×k matrix (or an n-vector) keeps its column chunks."""
    import dask.array as da
    import numpy as np
    if x2.ndim == 1:
        return solve(x1, x2[:, None])[:, 0]
    n = x1.shape[0]
    dtype = np.result_type(_float(x1), _float(x2))
    if n <= SMALL:   # one piece of x1 against each column chunk of x2 in one piece of rows
        return da.blockwise(np.linalg.solve, "ij", x1.rechunk(-1), "ik",
                            x2.rechunk({0: -1}), "kj", concatenate=True, dtype=dtype,
                            meta=np.empty((0, 0), dtype=dtype))
    big, p = _blocked(x1)
    if p:
        x2 = da.concatenate([x2, da.zeros((p, x2.shape[1]), dtype=x2.dtype)], axis=0)
    return da.linalg.solve(big, x2.rechunk({0: BLOCK}))[:n]


def cholesky(x, /, *, upper: bool = False):
    """The lower Cholesky factor L (Lᵀ with ``upper``): numpy's on a small matrix in one
    piece, dask's blocked one on a larger one."""
    import numpy as np
    n = x.shape[0]
    if n <= SMALL:
        L = whole(np.linalg.cholesky, x, shape=x.shape, dtype=_float(x))
    else:
        import dask.array as da
        big, _ = _blocked(x)
        L = da.linalg.cholesky(big, lower=True)[:n, :n]
    return L.T if upper else L


# --- linalg: TSQR wants the short dimension in one chunk --------------------------------------
def _short_side_whole(x):
    """x with its shorter dimension in one chunk (the columns of a square matrix)."""
    axis = 1 if x.shape[0] >= x.shape[1] else 0
    return x if x.numblocks[axis] == 1 else x.rechunk({axis: -1})


def svd(x, /, *, full_matrices: bool = True):
    """The thin SVD (dask has no other: ``full_matrices=True`` is refused, as by the
    array_api_compat wrapper); signs as dask's TSQR makes them."""
    import dask.array as da
    if full_matrices:
        raise ValueError("full_matrices=True is not supported by dask")
    return _result("SVDResult")(*da.linalg.svd(_short_side_whole(x), coerce_signs=False))


def svdvals(x, /):
    """Singular values, descending: of R in X = Q R (Xᵀ for a wide X), which are X's."""
    import numpy as np
    if x.shape[0] < x.shape[1]:
        x = x.T
    if x.numblocks[0] > 1:   # reduce the tall dimension first
        x = qr(x).R
    return whole(partial(np.linalg.svd, compute_uv=False), x, shape=(x.shape[1],),
                 dtype=_float(x))


def qr(x, /, mode: str = "reduced"):
    """The reduced QR: dask's TSQR (tall), or its short-and-fat QR (wide), which also wants
    column chunks at least as wide as the matrix is tall."""
    import dask.array as da
    if mode != "reduced":
        raise ValueError("dask arrays only support mode='reduced'")
    x = _short_side_whole(x)
    m = x.shape[0]
    if m < x.shape[1] and x.chunks[1][0] < m:
        x = x.rechunk({1: m})
    return _result("QRResult")(*da.linalg.qr(x))
