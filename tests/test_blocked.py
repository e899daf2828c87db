"""Plans on row blocks (``matd.core.blocked``): the dask backend's one task per block.

The primitive table's ``blocks`` column is a claim about a kernel (its value on a block is
the kernel of the blocks, or the value of the whole is the sum over the blocks); the walk
below holds every claim to splits of the row's sample, by rows and by columns.  Then every
row's sample plan runs with its longest dimension cut in blocks, through ``Plan.lazy`` as
the command line runs it: one computation, numpy's numbers, on the blocked path wherever
the plan allows it and on the general one elsewhere.  Then the cases of bench/bigdata.py
on a .npy file: each block read once per pass, few tasks, the errors of the general path.
"""
from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import matd.core.stores as stores                              # noqa: E402
from matd.core import blocked                                  # noqa: E402
from matd.core.derive import derive                            # noqa: E402
from matd.core.errors import MatdError                         # noqa: E402
from matd.core.evaluate import evaluate                        # noqa: E402
from matd.core.plan import Plan                                # noqa: E402
from matd.core.primitives import PRIMS                         # noqa: E402
from matd.core.randomize import draw, random_inputs            # noqa: E402
from matd.core.syntax import Source                            # noqa: E402
from matd.grammar.parse import parse_program                   # noqa: E402
from matd.numbers import Inputs, derivatives, evaluate as matd_evaluate   # noqa: E402

from test_dask_table import (NP, PLAN_RUNS, XP, compute_all, counting,   # noqa: E402
                             tolerance)
from test_kernels import SIZES, at, concrete, instances, same, sample_of  # noqa: E402

CLAIMED = sorted(op for op, row in PRIMS.items() if row.blocks)


def test_the_column_holds_known_values_only():
    assert {row.blocks for row in PRIMS.values()} <= {"", "entries", "sums"}
    assert {"exp", "add", "hadamard", "broadcast", "sum", "dot"} <= set(CLAIMED)
    assert not {"tril", "softmax", "vec", "matmul", "mean", "norm"} & set(CLAIMED)


def _split(a, axis: int, n: int, k: int):
    """Part k (0: the first n // 2, 1: the rest) of a along ``axis`` of length n; a
    scalar, a row or a column that broadcasts along it stays whole."""
    if a.shape[axis] != n:
        assert a.shape[axis] == 1, a.shape
        return a
    return np.take(a, range(0, n // 2) if k == 0 else range(n // 2, n), axis=axis)


@pytest.mark.parametrize("op", CLAIMED)
def test_a_claim_of_the_blocks_column_holds_on_splits(op):
    """"entries": the kernel of the parts is the part of the kernel; "sums": the kernels
    of the parts add up to the kernel — split by rows, and by columns."""
    prog, env, sizes, nodes = instances(op)
    kernel, claim = PRIMS[op].kernel, PRIMS[op].blocks
    tried = 0
    for node in nodes:
        args = [evaluate(a, env, sizes) for a in node.args]
        shape = concrete(node)
        ref = kernel(NP, at(node, shape), *args)
        for axis in (0, 1):
            n = max(a.shape[axis] for a in args) if claim == "sums" else shape[axis]
            if n < 2:
                continue
            parts = [[_split(a, axis, n, k) for a in args] for k in (0, 1)]
            if claim == "entries":
                for k, part in enumerate(parts):
                    sub = list(shape)
                    sub[axis] = n // 2 if k == 0 else n - n // 2
                    got = kernel(NP, at(node, tuple(sub)), *part)
                    same(op, got, _split(ref, axis, n, k), **tolerance(ref))
            else:
                got = sum(kernel(NP, at(node, shape), *part) for part in parts)
                same(op, got, ref, **tolerance(ref))
            tried += 1
    assert tried, f"{op}: its sample has no argument to split"


def _cut(v, length: int):
    """A dask array of v with every axis of ``length`` cut in two blocks or more."""
    return da.from_array(v, chunks=tuple(max(1, (s + 1) // 2) if s == length else s
                                         for s in v.shape))


def _plan_of(op, x, order):
    src, kinds = sample_of(op)
    prog = parse_program(src)
    outputs = [prog.result]
    env, sizes = random_inputs(prog, SIZES, np.random.default_rng(0), kinds)
    directions = {}
    if order:
        r = derive(prog, [x], order).results[0]
        outputs.insert(0, r.differential if r.derivative is None else r.derivative)
        directions = {x: draw("gauss", env[x].shape, np.random.default_rng(1))}
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    return Plan(outputs, sizes, spd), env, directions


def _on_blocks(op, x, order):
    """The sample plan, numpy's inputs, and the same cut in blocks along the longest
    dimension."""
    plan, env, directions = _plan_of(op, x, order)
    length = max(s for v in env.values() for s in np.shape(v))
    return plan, env, directions, {k: _cut(v, length) for k, v in env.items()}, \
        {k: _cut(v, length) for k, v in directions.items()}


@pytest.mark.parametrize(("op", "x", "order"), PLAN_RUNS,
                         ids=[f"{op}-{x}-{k}" for op, x, k in PLAN_RUNS])
def test_every_sample_plan_on_blocks_matches_numpy_in_one_pass(op, x, order):
    """The longest dimension of the sample cut in blocks: built without computing, then
    one pass with every check; numpy's numbers."""
    plan, env, directions, lazy_env, lazy_dirs = _on_blocks(op, x, order)
    ref = plan.run(env, np, directions, check=False)
    with counting() as calls:
        out, checks = plan.lazy(lazy_env, XP, lazy_dirs)
    assert calls[0] == 0, f"{op}: building the graph computed {calls[0]} times"
    got, passes = compute_all(out, checks)
    assert passes == 1, f"{op}: {passes} computations"
    for g, r in zip(got, ref):
        same(op, g, r, **tolerance(r))


def test_the_claimed_rows_run_on_blocks():
    """The walk above tests the blocked path, not only the general one: each row that
    claims blocks has a sample plan that takes it."""
    taken = set()
    for op, x, order in PLAN_RUNS:
        plan, _, _, lazy_env, lazy_dirs = _on_blocks(op, x, order)
        if blocked.lower(plan, lazy_env, lazy_dirs) is not None:
            taken.add(op)
    assert set(CLAIMED) <= taken, sorted(set(CLAIMED) - taken)


# -- the cases of bench/bigdata.py, and more, on .npy files ------------------------------
M, D, ROWS = 2000, 5, 300          # 7 blocks of X: 6 of 300 rows, one of 200
BLOCKS = -(-M // ROWS)
CASES = {   # name: (program, wrt, order, passes over X)
    "least squares": ("X: m x d; w: d; y: m; norm(X w - y)^2", ["w"], 1, 1),
    "logistic Hessian": ("X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", ["w"], 2, 1),
    "Gaussian": ("X: m x d; mu: d; S: d x d spd; R = X - ones(m) mu^T; "
                 "m logdet(S) + tr(R inv(S) R^T)", ["mu", "S"], 1, 1),
    # the mean, the sum of the deviations (which matd does not know is 0), the gradient
    "centred": ("X: m x d; R = X - ones(m) (ones(m)^T X) / m; norm(R)^2", ["X"], 1, 3),
    "centred fit": ("X: m x d; w: d; r = X w; norm(r - ones(m) sum(r) / m)^2", ["w"], 1, 3),
}


def _files(folder, nan=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((M, D))
    if nan:
        X[1234, 2] = np.nan
    A = rng.standard_normal((D, D))
    arrays = {"X": X, "w": rng.standard_normal(D), "y": (rng.random(M) < 0.5) * 1.0,
              "mu": rng.standard_normal(D), "S": A @ A.T / D + np.eye(D)}
    for k, v in arrays.items():
        np.save(folder / f"{k}.npy", v)
    return arrays


def _names(src):
    return [k for k in ("X", "w", "y", "mu", "S") if f"{k}:" in src or f"{k}," in src]


def _stored(folder, src):
    return {k: stores.lazy_input(k, str(folder / f"{k}.npy")) for k in _names(src)}


@pytest.fixture
def watched(monkeypatch):
    """(rows of X read: one per block read, graphs computed: their task counts, plans
    laid out on blocks: how many)."""
    reads, graphs, laid = [], [], []
    mapped, lower = stores._mapped, blocked.lower

    def reading(path, start, count, dtype):
        if path.endswith("X.npy"):
            reads.append(count // D)
        return mapped(path, start, count, dtype)

    def laying(*a):
        b = lower(*a)
        laid.append(b is not None)
        return b

    def get(dsk, keys, **kwargs):
        graphs.append(len(dsk.__dask_graph__()) if hasattr(dsk, "__dask_graph__") else len(dsk))
        return dask.get(dsk, keys, **kwargs)
    monkeypatch.setattr(stores, "_mapped", reading)
    monkeypatch.setattr(blocked, "lower", laying)
    with dask.config.set(scheduler=get):
        yield reads, graphs, laid


@pytest.mark.parametrize("case", CASES)
def test_a_case_on_blocks_reads_each_block_once_per_pass(tmp_path, watched, case):
    src, wrt, order, passes = CASES[case]
    arrays = _files(tmp_path)
    reads, graphs, laid = watched
    got, _ = derivatives(Source(src), wrt, order,
                         Inputs(arrays=_stored(tmp_path, src), backend="dask", chunks=ROWS))
    assert laid and all(laid), laid
    assert len(graphs) == 1, graphs                      # one computation
    assert graphs[0] <= 6 * BLOCKS * passes + 40, graphs  # a few tasks per block, not dozens
    assert sorted(reads) == sorted([ROWS] * (BLOCKS - 1) * passes + [M % ROWS] * passes), \
        (len(reads), passes)
    ref, _ = derivatives(Source(src), wrt, order,
                         Inputs(arrays={k: arrays[k] for k in _names(src)}))
    for k in wrt:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12,
                                   atol=1e-12 * np.max(np.abs(ref[k])))


def test_a_nan_in_a_block_is_named_as_on_the_general_path(tmp_path, watched):
    src, wrt, order, _ = CASES["least squares"]
    _files(tmp_path, nan=True)
    errors = []
    for chunks in (None, ROWS):      # one block (the general path), several
        with pytest.raises(MatdError) as e:
            derivatives(Source(src), wrt, order,
                        Inputs(arrays=_stored(tmp_path, src), backend="dask", chunks=chunks))
        errors.append(e.value.message)
    assert watched[2] == [False, True]
    assert errors[0] == errors[1] == "the value of X is not finite (NaN or Inf) in float64"


def test_a_broken_promise_is_reported_with_blocks(tmp_path, watched):
    src, wrt, order, _ = CASES["Gaussian"]
    _files(tmp_path)
    np.save(tmp_path / "S.npy", -np.eye(D))
    with pytest.raises(MatdError) as e:
        derivatives(Source(src), wrt, order,
                    Inputs(arrays=_stored(tmp_path, src), backend="dask", chunks=ROWS))
    assert watched[2] == [True]   # then S alone again, for the message
    assert "S" in e.value.message and "positive definite" in e.value.message, e.value.message


def test_a_failing_block_is_blamed_on_its_step_as_on_numpy(tmp_path, watched):
    """A singular S in a solve made in each block: the step-by-step pass names it."""
    src = "X: m x d; S: d x d; sum(exp(X inv(S)))"
    arrays = _files(tmp_path)
    arrays["S"] = np.ones((D, D))
    np.save(tmp_path / "S.npy", arrays["S"])
    with pytest.raises(MatdError) as on_numpy:
        matd_evaluate(Source(src), Inputs(arrays={k: arrays[k] for k in ("X", "S")}))
    with pytest.raises(MatdError) as on_blocks:
        matd_evaluate(Source(src), Inputs(arrays=_stored(tmp_path, src), backend="dask",
                                          chunks=ROWS))
    assert watched[2] == [True]
    assert "singular" in on_numpy.value.message
    assert on_blocks.value.message == on_numpy.value.message


@pytest.mark.parametrize("src", [
    "X: m x d; sum(tril(X) .* X)",         # a kernel that claims no blocks (rows matter)
    "X: m x d; sum(exp(X X^T))",           # an m × m value
    "X: m x d; sum(exp(vec(X)))",          # a reshape across rows
])
def test_what_blocks_cannot_do_runs_on_the_general_path(tmp_path, watched, src):
    arrays = _files(tmp_path)
    got, _ = derivatives(Source(src), ["X"], 1,
                         Inputs(arrays=_stored(tmp_path, src), backend="dask", chunks=ROWS))
    assert watched[2] == [False]
    ref, _ = derivatives(Source(src), ["X"], 1, Inputs(arrays={"X": arrays["X"]}))
    np.testing.assert_allclose(got["X"], ref["X"], rtol=1e-12, atol=1e-9)


def test_plan_run_with_checks_on_dask_is_one_computation():
    """Plan.run(check=True) on dask: the outputs computed with every check in one pass
    (was one computation per input check and per result), as numpy arrays; a NaN input
    is named as on numpy."""
    prog = parse_program("X: m x d; w: d; sum(exp(X w))", given={"X": (M, D), "w": (D, 1)})
    plan = Plan([prog.result], {"m": M, "d": D})
    rng = np.random.default_rng(2)
    X, w = rng.standard_normal((M, D)), rng.standard_normal((D, 1)) / D
    for chunks in (-1, (ROWS, -1)):
        with counting() as calls:
            (got,) = plan.run({"X": da.from_array(X, chunks=chunks), "w": da.from_array(w)}, XP)
        assert calls[0] == 1 and isinstance(got, np.ndarray), calls
        np.testing.assert_allclose(got, [[np.exp(X @ w).sum()]], rtol=1e-12)
    X[17, 3] = np.inf
    with pytest.raises(MatdError) as e:
        plan.run({"X": da.from_array(X, chunks=(ROWS, -1)), "w": da.from_array(w)}, XP)
    with pytest.raises(MatdError) as ref:
        plan.run({"X": X, "w": w}, NP)
    assert e.value.message == ref.value.message
