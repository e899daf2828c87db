"""Every row of the primitive table on dask (``matd.core.dasknp``): lazy, and right.

For each row with a kernel, the kernel runs on the sample's arguments as dask arrays, in
one chunk and in row chunks of 2 (several chunks; the columns in one); building the graph
must compute nothing (a counting scheduler sees no call), computing it must take one
pass, together with the kernel's deferred checks (``matd.core.deferred``), and the
numbers must be the numpy kernel's.  Then whole plans: every row's sample program, its
gradient in each variable and its Hessian where matd has one, compiled once and run on
numpy and on dask.  The linalg functions dasknp adds are checked on their own too,
including the blocked path of solve, inv and cholesky for large matrices.
"""
from __future__ import annotations

import sys
import types
from contextlib import contextmanager

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

from matd.core import dasknp                                  # noqa: E402
from matd.core.backend import namespace as cpu_namespace     # noqa: E402
from matd.core.deferred import collecting, is_lazy           # noqa: E402
from matd.core.derive import derive                          # noqa: E402
from matd.core.errors import MatdError                       # noqa: E402
from matd.core.evaluate import evaluate                      # noqa: E402
from matd.core.plan import Plan                              # noqa: E402
from matd.core.primitives import PRIMS, DomainError, _commutation   # noqa: E402
from matd.core.randomize import draw, random_inputs          # noqa: E402
from matd.grammar.parse import parse_program                 # noqa: E402

from test_kernels import SIZES, KERNEL_ROWS, at, concrete, instances, same, sample_of  # noqa: E402

NP = cpu_namespace("cpu")[0]        # the namespace matd uses on the CPU
XP = dasknp.namespace()
CHUNKS = {"one-chunk": -1, "row-chunks": (2, -1)}
KERNELS = [op for op in KERNEL_ROWS if PRIMS[op].kernel is not None]


@contextmanager
def counting():
    """Inside: every dask computation goes through a scheduler that counts its calls."""
    calls = [0]

    def get(dsk, keys, **kwargs):
        calls[0] += 1
        return dask.get(dsk, keys, **kwargs)
    with dask.config.set(scheduler=get):
        yield calls


def lazy(arrays, chunks):
    return [da.from_array(a, chunks=chunks) for a in arrays]


def at_shape(shape):
    """What a kernel sees as its node, for a kernel without params."""
    return types.SimpleNamespace(params=(), shape=shape, node=None)


def compute_all(results, checks=()):
    """(the results as numpy arrays, how many computations it took): the results and the
    deferred checks computed together; raises the first check that failed."""
    with counting() as calls:
        *values, = dask.compute(*results, *[bad for bad, _ in checks])
    for flag, (_, error) in zip(values[len(results):], checks):
        if bool(flag):
            raise error
    return [np.asarray(v) for v in values[:len(results)]], calls[0]


def compute_once(results, checks=()):
    """The results, computed (with the checks) in one pass."""
    values, passes = compute_all(results, checks)
    assert passes == 1, f"{passes} computations"
    return values


def tolerance(ref):
    return dict(rtol=1e-12, atol=1e-12 * max(1.0, float(np.max(np.abs(ref), initial=0.0))))


def test_the_namespace_is_lazy_and_cached():
    assert is_lazy(XP) and "dask" in XP.__name__ and dasknp.namespace() is XP
    assert XP.float64 == np.float64 and callable(XP.exp) and callable(XP.linalg.solve)
    assert "numpy" not in XP.__name__ and "cupy" not in XP.__name__


def test_the_modules_examples_run():
    import doctest
    result = doctest.testmod(dasknp)
    assert result.attempted > 0 and result.failed == 0


def test_array_functions_on_row_chunks_match_numpy():
    """What the kernels and plans call besides linalg, on several row chunks: lazy, and the
    numbers numpy gives (no silent reordering of rows or columns)."""
    rng = np.random.default_rng(0)
    X, v = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    M4 = rng.standard_normal((4, 6))
    dX, dv, dM = (da.from_array(a, chunks=(2, -1)) for a in (X, v, M4))
    idx = [4, 0, 2, 2]
    with counting() as calls:
        built = {
            "take, namespace index": (XP.take(dX, XP.asarray(idx), axis=0), X[idx]),
            "take, columns": (XP.take(dX, XP.asarray([2, 0]), axis=1), X[:, [2, 0]]),
            "vec (reshape of the transpose)": (XP.reshape(dX.T, (-1, 1)),
                                               X.reshape(-1, 1, order="F")),
            "unvec": (XP.reshape(XP.reshape(dX.T, (-1, 1)), (3, 5)).T, X),
            "reshape, neither merge nor split": (XP.reshape(dM, (8, 3)), M4.reshape(8, 3)),
            "reshape, to 3-d and back": (XP.reshape(XP.reshape(dM, (2, 4, 3)), (4, 6)), M4),
            "reshape, split rows": (XP.reshape(dM, (4, 2, 3)), M4.reshape(4, 2, 3)),
            "concat rows": (XP.concat([dX, dX[:2]], axis=0), np.concatenate([X, X[:2]])),
            "concat columns": (XP.concat([dX, dv], axis=1), np.concatenate([X, v], axis=1)),
            "broadcast a row": (XP.broadcast_to(dX[1:2], (5, 3)),
                                np.broadcast_to(X[1:2], (5, 3))),
            "broadcast a column": (XP.broadcast_to(dv, (5, 3)), np.broadcast_to(v, (5, 3))),
            "diagonal": (XP.linalg.diagonal(dX), np.diagonal(X)),
            "argmax down": (XP.argmax(dX, axis=0), np.argmax(X, axis=0)),
            "argmax across": (XP.argmax(dX, axis=1), np.argmax(X, axis=1)),
            "where": (XP.where(dX > 0, dX, XP.zeros_like(dX)), np.where(X > 0, X, 0.0)),
            "sum keepdims": (XP.sum(dX, axis=0, keepdims=True), X.sum(0, keepdims=True)),
            "max": (XP.max(dX), X.max()),
            "matmul": (XP.matmul(dX.T, dX), X.T @ X),
            "eye times a row": (XP.eye(5, dtype=dX.dtype) * XP.reshape(dv, (1, -1)),
                                np.diag(v[:, 0])),
        }
    assert calls[0] == 0
    values = compute_once([got for got, _ in built.values()])
    for (name, (_, ref)), value in zip(built.items(), values):
        np.testing.assert_allclose(value, ref, rtol=1e-13, atol=1e-15, err_msg=name)


def test_the_walk_covers_every_kernel_row():
    """Each non-leaf row is walked here: by its kernel, or (ufunc, which the plan lowers
    itself) through the plans of its sample below."""
    assert sorted(KERNELS + ["ufunc"]) == KERNEL_ROWS
    assert all(sample_of(op) is not None for op in KERNEL_ROWS)
    planned = {op for op, _, _ in PLAN_RUNS}
    assert set(KERNEL_ROWS) <= planned
    assert {op for op, row in PRIMS.items() if row.sample is not None} <= planned


@pytest.mark.parametrize("chunks", CHUNKS.values(), ids=CHUNKS.keys())
@pytest.mark.parametrize("op", KERNELS)
def test_kernel_on_dask_is_lazy_and_matches_numpy(op, chunks):
    prog, env, sizes, nodes = instances(op)
    kernel = PRIMS[op].kernel
    for n in nodes:
        args = [evaluate(a, env, sizes) for a in n.args]
        shape = concrete(n)
        ref = kernel(NP, at(n, shape), *args)
        with counting() as calls, collecting() as checks:
            got = kernel(XP, at(n, shape), *lazy(args, chunks))
        assert calls[0] == 0, f"{op}: building the graph computed {calls[0]} times"
        assert isinstance(got, da.Array) and tuple(got.shape) == shape, (op, got.shape, shape)
        assert got.dtype == ref.dtype, (op, got.dtype, ref.dtype)
        (value,) = compute_once([got], checks)
        assert value.shape == shape and value.dtype == got.dtype, (op, value.dtype)
        same(op, value, ref, **tolerance(ref))


@pytest.mark.parametrize("op", KERNELS)
def test_kernel_on_dask_keeps_float32(op):
    """The dtype the graph promises is the one computed, and float32 stays float32 (with
    float32's accuracy: the numpy kernel's numbers in float32)."""
    prog, env, sizes, nodes = instances(op, seed=1)
    n = nodes[0]
    args = [evaluate(a, env, sizes).astype(np.float32) for a in n.args]
    with collecting() as checks:
        got = PRIMS[op].kernel(XP, at(n, concrete(n)), *lazy(args, (2, -1)))
    assert got.dtype == np.float32, (op, got.dtype)
    (value,) = compute_once([got], checks)
    assert value.dtype == np.float32, (op, value.dtype)
    same(op, value, PRIMS[op].kernel(NP, at(n, concrete(n)), *args), rtol=2e-4, atol=2e-5)


def test_the_commutation_matrix_on_dask():
    with counting() as calls:
        K = _commutation(XP, 3, 4, XP.float64)
    assert calls[0] == 0
    np.testing.assert_array_equal(compute_once([K])[0], _commutation(NP, 3, 4, np.float64))


# --- the kernels' checks, deferred ---------------------------------------------------------
def test_a_domain_check_is_deferred_and_its_message_has_no_number():
    S = -np.eye(3)   # not positive definite
    with counting() as calls, collecting() as checks:
        PRIMS["sqrtm"].kernel(XP, at_shape((3, 3)), da.from_array(S, chunks=(2, -1)))
    assert calls[0] == 0 and len(checks) == 1
    with pytest.raises(DomainError, match="an eigenvalue ≤ 0"):
        compute_once([], checks)
    with pytest.raises(DomainError, match="an eigenvalue -1"):   # on numpy, the number
        PRIMS["sqrtm"].kernel(NP, at_shape((3, 3)), S)


def test_checks_of_spectral_factors_are_deferred():
    """Repeated eigenvalues, a rank-deficient matrix for QR, coinciding gaps."""
    cases = [("eigvecs", np.eye(3)), ("qr_q", np.ones((4, 2))), ("svd_u", np.ones((4, 2))),
             ("gapinv", np.ones((3, 1)))]
    for op, a in cases:
        with counting() as calls, collecting() as checks:
            PRIMS[op].kernel(XP, at_shape(a.shape), da.from_array(a, chunks=(2, -1)))
        assert calls[0] == 0 and checks, op
        with pytest.raises(DomainError):
            compute_once([], checks)
        with pytest.raises(DomainError):
            PRIMS[op].kernel(NP, at_shape(a.shape), a)


def test_a_cholesky_of_an_indefinite_matrix_fails_when_computed():
    """As numpy's: a LinAlgError, raised by compute(), not while the graph is built."""
    with counting() as calls, collecting() as checks:
        L = PRIMS["chol"].kernel(XP, at_shape((3, 3)), da.from_array(-np.eye(3)))
    assert calls[0] == 0
    with pytest.raises(np.linalg.LinAlgError):
        compute_once([L], checks)


# --- what dasknp adds to linalg, on its own --------------------------------------------------
def _rand(kind, shape, seed=0):
    return draw(kind, shape, np.random.default_rng(seed))


LAYOUTS = {"one-chunk": -1, "row-chunks": (2, -1), "both-ways": (2, 2)}


@pytest.mark.parametrize("chunks", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_linalg_additions_match_numpy(chunks):
    S, W = _rand("spd", (5, 5)), _rand("wellcond", (5, 5), 1)
    T, F = _rand("gauss", (7, 3), 2), _rand("gauss", (3, 6), 3)
    B = _rand("gauss", (5, 9), 4)
    dS, dW, dT, dF, dB = (da.from_array(a, chunks=chunks) for a in (S, W, T, F, B))
    L = XP.linalg
    with counting() as calls:
        built = {
            "det": (L.det(dW), np.linalg.det(W)),
            "slogdet": (L.slogdet(dW)[1], np.linalg.slogdet(W)[1]),
            "slogdet sign": (L.slogdet(dW)[0], np.linalg.slogdet(W)[0]),
            "eigh w": (L.eigh(dS)[0], np.linalg.eigh(S)[0]),
            "eigh v": (L.eigh(dS)[1], np.linalg.eigh(S)[1]),
            "eigvalsh": (L.eigvalsh(dS), np.linalg.eigvalsh(S)),
            "pinv tall": (L.pinv(dT), np.linalg.pinv(T)),
            "pinv wide": (L.pinv(dF), np.linalg.pinv(F)),
            "inv": (L.inv(dW), np.linalg.inv(W)),
            "solve": (L.solve(dW, dB), np.linalg.solve(W, B)),
            "solve vector": (L.solve(dW, dB[:, 0]), np.linalg.solve(W, B[:, :1])[:, 0]),
            "cholesky": (L.cholesky(dS), np.linalg.cholesky(S)),
            "cholesky upper": (L.cholesky(dS, upper=True), np.linalg.cholesky(S).T),
            "svdvals tall": (L.svdvals(dT), np.linalg.svd(T, compute_uv=False)),
            "svdvals wide": (L.svdvals(dF), np.linalg.svd(F, compute_uv=False)),
            "svdvals square": (L.svdvals(dW), np.linalg.svd(W, compute_uv=False)),
            "svd tall": (_usv(L.svd(dT, full_matrices=False)), T),
            "svd wide": (_usv(L.svd(dF, full_matrices=False)), F),
            "qr tall": (_qr(L.qr(dT)), T),
            "qr square": (_qr(L.qr(dW)), W),
            "qr wide": (_qr(L.qr(dF)), F),
            **{f"matrix_power {k}": (L.matrix_power(dW, k), np.linalg.matrix_power(W, k))
               for k in (0, 1, 2, 3, 5, 8, -2)},
        }
    assert calls[0] == 0
    values = compute_once([got for got, _ in built.values()])
    for (name, (got, ref)), value in zip(built.items(), values):
        assert value.shape == np.shape(ref) and value.dtype == got.dtype, name
        np.testing.assert_allclose(value, ref, err_msg=name, **tolerance(ref))


def _usv(f):
    return (f[0] * XP.reshape(f[1], (1, -1))) @ f[2]


def _qr(f):
    return f[0] @ f[1]


def test_solve_keeps_the_right_sides_column_chunks():
    """solve(S, Xᵀ) for a wide Xᵀ in column chunks: S in one piece, Xᵀ chunked as it was."""
    S = _rand("spd", (4, 4))
    X = _rand("gauss", (40, 4))
    dX = da.from_array(X, chunks=(10, -1))
    got = XP.linalg.solve(da.from_array(S, chunks=(2, -1)), dX.T)
    assert got.chunks == ((4,), (10, 10, 10, 10))
    np.testing.assert_allclose(compute_once([got])[0], np.linalg.solve(S, X.T), rtol=1e-12)


@pytest.mark.parametrize("n", [4, 5], ids=["a-multiple-of-the-block", "padded"])
def test_large_matrices_go_to_dasks_blocked_algorithms(monkeypatch, n):
    """Above SMALL rows, square blocks of BLOCK (shrunk here to see it on small ones)."""
    monkeypatch.setattr(dasknp, "SMALL", 3)
    monkeypatch.setattr(dasknp, "BLOCK", 2)
    S, W, B = _rand("spd", (n, n)), _rand("wellcond", (n, n), 1), _rand("gauss", (n, 3), 2)
    dS, dW, dB = (da.from_array(a, chunks=(3, -1)) for a in (S, W, B))
    with counting() as calls:
        built = [(XP.linalg.inv(dW), np.linalg.inv(W)),
                 (XP.linalg.solve(dW, dB), np.linalg.solve(W, B)),
                 (XP.linalg.cholesky(dS), np.linalg.cholesky(S))]
    assert calls[0] == 0
    assert all(max(got.numblocks) > 1 for got, _ in built)   # not one piece
    for value, (_, ref) in zip(compute_once([g for g, _ in built]), built):
        np.testing.assert_allclose(value, ref, **tolerance(ref))


def test_without_dask_the_namespace_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(dasknp, "_NAMESPACE", None)
    monkeypatch.setitem(sys.modules, "array_api_compat.dask.array", None)
    with pytest.raises(MatdError, match="needs Dask") as e:
        dasknp.namespace()
    assert "pip install 'matd[dask]'" in e.value.hint


# --- whole plans ---------------------------------------------------------------------------
def _plan_runs():
    """(row, variable, order) for every row's sample: the gradient in each variable, and
    the Hessian where matd has one; for a row with no differential (eigvec_max, …: the
    samples of test_kernels.py), (row, None, 0), the value alone."""
    runs = []
    for op in sorted(PRIMS):
        sample = sample_of(op)
        if sample is None:
            continue
        prog = parse_program(sample[0])
        found = []
        for x in sorted(prog.variables):
            for order in (1, 2):
                try:
                    derive(prog, [x], order)
                except MatdError:
                    continue
                found.append((op, x, order))
        assert found or PRIMS[op].sample is None, f"the sample of {op!r} has no gradient"
        runs += found or [(op, None, 0)]
    return runs


PLAN_RUNS = _plan_runs()


@pytest.mark.parametrize("chunks", CHUNKS.values(), ids=CHUNKS.keys())
@pytest.mark.parametrize(("op", "x", "order"), PLAN_RUNS,
                         ids=[f"{op}-{x}-{k}" for op, x, k in PLAN_RUNS])
def test_plan_on_dask_matches_numpy(op, x, order, chunks):
    """One plan of the derivative and the value, on numpy and on dask: the same numbers,
    and dask computes once (the plan's graph built without computing, then one pass)."""
    src, kinds = sample_of(op)
    prog = parse_program(src)
    outputs = [prog.result]
    env, sizes = random_inputs(prog, SIZES, np.random.default_rng(0), kinds)
    directions = {}
    if order:   # the derivative; the differential (in a direction dx) where it has no form
        r = derive(prog, [x], order).results[0]
        outputs.insert(0, r.differential if r.derivative is None else r.derivative)
        directions = {x: draw("gauss", env[x].shape, np.random.default_rng(1))}
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    plan = Plan(outputs, sizes, spd)
    ref = plan.run(env, np, directions, check=False)
    lazy_env = {k: da.from_array(v, chunks=chunks) for k, v in env.items()}
    lazy_dirs = {k: da.from_array(v, chunks=chunks) for k, v in directions.items()}
    with counting() as calls, collecting() as checks:
        out = plan.run(lazy_env, XP, lazy_dirs, check=False)
    got, passes = compute_all(out, checks)   # none if run computed its results itself
    assert calls[0] + passes == 1, f"{op}: {calls[0]} computations while building"
    for g, r in zip(got, ref):   # (a value alone may be a vector of arbitrary sign)
        same(op, g, r, **tolerance(r))
