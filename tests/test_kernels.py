"""Every row of the primitive table: its numeric kernel against plain numpy.

The test walks the table.  For each row it parses the row's sample program, draws
the sample's inputs, finds the row's nodes in the program, evaluates their
arguments and calls the row's ``kernel`` on them; the result must equal the numpy
reference written here, independently of the table.  A new row fails
``test_every_row_is_covered`` (and its own case) until it gets a reference below.
"""
from __future__ import annotations

import types

import array_api_compat.numpy as xnp
import numpy as np
import pytest

from matd.core.evaluate import evaluate, size
from matd.core.expr import walk
from matd.core.primitives import PRIMS
from matd.core.randomize import random_inputs
from matd.grammar.parse import parse_program

import linalg_reference

SIZES = {"m": 3, "n": 4, "p": 2, "q": 5}

# Rows without a sample program in the table (helpers of derivatives): programs here.
EXTRA_SAMPLES = {
    "eigvec_max": ("S: n x n sym; eigvec_max(S)", {}),
    "eigvec_min": ("S: n x n sym; eigvec_min(S)", {}),
    "svd_u1": ("X: n x m; svd_u1(X)", {}),
    "svd_v1": ("X: n x m; svd_v1(X)", {}),
    "polar": ("X: n x m; polar(X)", {}),
}

# Vectors whose sign is arbitrary: compared up to sign.
SIGN_FREE = {"eigvec_max", "eigvec_min", "svd_u1", "svd_v1"}


def _adjugate(a):
    """adj(A)[i, j] = (-1)^(i+j) det(A without row j and column i) (cofactors)."""
    n = a.shape[0]
    out = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, j, axis=0), i, axis=1)
            out[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def _polar(a):
    """X (XᵀX)^(-1/2), through the eigen-decomposition of XᵀX (X of full column rank)."""
    w, v = np.linalg.eigh(a.T @ a)
    return a @ (v / np.sqrt(w)) @ v.T


def _diag(a):
    return np.diag(a[:, 0]) if a.shape[1] == 1 and a.shape[0] > 1 else np.diag(a)[:, None]


def _one(x):
    return np.array([[float(x)]])


# op -> reference(node, concrete shape, *argument arrays (2-D numpy)) -> 2-D numpy array.
REFERENCE = {
    "add": lambda n, s, *a: np.sum(np.stack(a), axis=0),
    "neg": lambda n, s, a: np.negative(a),
    "matmul": lambda n, s, *a: np.linalg.multi_dot(a) if len(a) > 2 else np.dot(a[0], a[1]),
    "smul": lambda n, s, c, x: float(c[0, 0]) * x,
    "div": lambda n, s, x, c: x / float(c[0, 0]),
    "hadamard": lambda n, s, a, b: np.multiply(a, b),
    "hdiv": lambda n, s, a, b: np.divide(a, b),
    "kron": lambda n, s, a, b: np.kron(a, b),
    "transpose": lambda n, s, a: np.transpose(a),
    "inv": lambda n, s, a: np.linalg.inv(a),
    "mpow": lambda n, s, a: np.linalg.matrix_power(a, n.params[0]),
    "epow": lambda n, s, x, p: np.power(x, float(p[0, 0])),
    "broadcast": lambda n, s, a: np.broadcast_to(a, s),
    "ufunc": lambda n, s, a: np.log1p(np.exp(2 * a)),   # the sample: sp2(t) = log(1 + exp(2 t))
    "tr": lambda n, s, a: _one(np.trace(a)),
    "diag": lambda n, s, a: _diag(a),
    "vec": lambda n, s, a: a.reshape(-1, 1, order="F"),
    "unvec": lambda n, s, a: a.reshape(s, order="F"),
    "sum": lambda n, s, a: _one(np.sum(a)),
    "det": lambda n, s, a: _one(np.linalg.det(a)),
    "logdet": lambda n, s, a: _one(np.log(abs(np.linalg.det(a)))),
    "pinv": lambda n, s, a: np.linalg.pinv(a),
    "adj": lambda n, s, a: _adjugate(a),
    "exp": lambda n, s, a: np.exp(a),
    "log": lambda n, s, a: np.log(a),
    "sin": lambda n, s, a: np.sin(a),
    "cos": lambda n, s, a: np.cos(a),
    "tanh": lambda n, s, a: np.tanh(a),
    "sigmoid": lambda n, s, a: 1 / (1 + np.exp(-a)),
    "softplus": lambda n, s, a: np.log1p(np.exp(a)),
    "relu": lambda n, s, a: np.where(a > 0, a, 0.0),
    "sqrt": lambda n, s, a: np.sqrt(a),
    "abs": lambda n, s, a: np.abs(a),
    "step": lambda n, s, a: np.heaviside(a, 0.0),
    "sign": lambda n, s, a: np.sign(a),
    "norm": lambda n, s, a: _one(np.linalg.norm(a)),
    "norm1": lambda n, s, a: _one(np.abs(a).sum()),
    "specnorm": lambda n, s, a: _one(np.linalg.norm(a, 2)),
    "nuclear": lambda n, s, a: _one(np.linalg.norm(a, "nuc")),
    "logsumexp": lambda n, s, a: _one(np.log(np.exp(a).sum())),
    "softmax": lambda n, s, a: np.exp(a) / np.exp(a).sum(),
    "dot": lambda n, s, a, b: _one(np.vdot(a, b)),
    "lambda_max": lambda n, s, a: _one(np.max(np.linalg.eigvals(a).real)),
    "lambda_min": lambda n, s, a: _one(np.min(np.linalg.eigvals(a).real)),
    "eigvec_max": lambda n, s, a: np.linalg.eigh(a)[1][:, [-1]],
    "eigvec_min": lambda n, s, a: np.linalg.eigh(a)[1][:, [0]],
    "svd_u1": lambda n, s, a: np.linalg.svd(a)[0][:, [0]],
    "svd_v1": lambda n, s, a: np.linalg.svd(a)[2][[0], :].T,
    "polar": lambda n, s, a: _polar(a),
}

REFERENCE.update(linalg_reference.REFERENCE)   # batches and matrix functions

# Leaves: computed by the evaluator, not a kernel; the same check on their values.
LEAF_REFERENCE = {
    "const": lambda n, s: _one(n.params[0]),
    "dim": lambda n, s: _one(size(n.params[0], SIZES)),
    "eye": lambda n, s: np.eye(*s),
    "ones": lambda n, s: np.ones(s),
    "zeros": lambda n, s: np.zeros(s),
}
INPUTS = {"var", "dvar"}       # values come from the caller


def sample_of(op):
    row = PRIMS[op]
    return row.sample or EXTRA_SAMPLES.get(op)


def concrete(n):
    return (size(n.shape[0], SIZES), size(n.shape[1], SIZES))


def instances(op, seed=0):
    """(program, env, sizes, [nodes of this op]) for the row's sample."""
    sample = sample_of(op)
    assert sample is not None, f"row {op!r} has no sample program: add one to EXTRA_SAMPLES"
    src, kinds = sample
    prog = parse_program(src)
    env, sizes = random_inputs(prog, SIZES, np.random.default_rng(seed), kinds)
    nodes = [n for n in walk(prog.result) if n.op == op]
    assert nodes, f"the sample of {op!r} ({src!r}) does not use {op!r}"
    return prog, env, sizes, nodes


def at(node, shape):
    """What a kernel sees as its node: params and the concrete shape."""
    return types.SimpleNamespace(params=node.params, shape=shape, node=node)


def same(op, got, ref, rtol, atol):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (op, got.shape, ref.shape)
    if op in SIGN_FREE:   # align the sign on the largest entry
        k = np.argmax(np.abs(ref))
        got = got * np.sign(got.flat[k]) * np.sign(ref.flat[k])
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=op)


KERNEL_ROWS = sorted(op for op, row in PRIMS.items() if row.arity > 0)


def test_every_row_is_covered():
    """Each row (but the two input leaves) has a numpy reference in this file."""
    missing = [op for op in PRIMS if op not in INPUTS and op not in REFERENCE
               and op not in LEAF_REFERENCE and op != "commutation"]
    assert missing == [], f"add numpy references for {missing}"
    stale = [op for op in REFERENCE if op not in PRIMS]
    assert stale == []


def test_every_non_leaf_row_has_a_kernel_or_a_plan_step():
    """A non-leaf row without a kernel must be one the plan lowers itself (ufunc)."""
    assert [op for op in KERNEL_ROWS if PRIMS[op].kernel is None] == ["ufunc"]


@pytest.mark.parametrize("op", KERNEL_ROWS)
def test_kernel_matches_numpy(op):
    assert op in REFERENCE, f"no numpy reference for the row {op!r}: add one to REFERENCE"
    prog, env, sizes, nodes = instances(op)
    for n in nodes:
        args = [evaluate(a, env, sizes) for a in n.args]
        kept = [a.copy() for a in args]
        shape = concrete(n)
        if PRIMS[op].kernel is None:          # the plan's own step (user functions)
            got = evaluate(n, env, sizes)
        else:
            got = PRIMS[op].kernel(xnp, at(n, shape), *args)
        ref = REFERENCE[op](n, shape, *args)
        assert np.ndim(got) == 2 and tuple(np.shape(got)) == shape, (op, np.shape(got), shape)
        same(op, got, ref, rtol=1e-10, atol=1e-12)
        for a, k in zip(args, kept):          # kernels never write into their arguments
            np.testing.assert_array_equal(a, k)


@pytest.mark.parametrize("op", [op for op in KERNEL_ROWS if PRIMS[op].kernel is not None])
def test_kernel_keeps_float32(op):
    """On float32 arguments a kernel computes in float32, close to the float64 value."""
    prog, env, sizes, nodes = instances(op, seed=1)
    for n in nodes:
        args = [evaluate(a, env, sizes) for a in n.args]
        shape = concrete(n)
        got = PRIMS[op].kernel(xnp, at(n, shape), *(a.astype(np.float32) for a in args))
        assert got.dtype == np.float32, (op, got.dtype)
        same(op, got, REFERENCE[op](n, shape, *args), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("op", sorted(LEAF_REFERENCE))
def test_leaf_values(op):
    if op == "const":
        prog = parse_program("x: n; 2.5 x")
        env, sizes = random_inputs(prog, SIZES, np.random.default_rng(0))
        nodes = [n for n in walk(prog.result) if n.op == "const"]
    else:
        prog, env, sizes, nodes = instances(op)
    for n in nodes:
        got = evaluate(n, env, sizes)
        np.testing.assert_array_equal(got, LEAF_REFERENCE[op](n, concrete(n)))


def test_commutation_matrix():
    """K(m,n) vec(X) = vec(Xᵀ) (Magnus & Neudecker), built here entry by entry."""
    from matd.core.algebra import commutation
    from matd.core.shapes import Dim
    m, n = SIZES["m"], SIZES["n"]
    node = commutation(Dim.sym("m"), Dim.sym("n"))
    assert node.op == "commutation"
    K = evaluate(node, {}, SIZES)
    ref = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            ref[i * n + j, j * m + i] = 1.0
    np.testing.assert_array_equal(K, ref)
    X = np.random.default_rng(0).standard_normal((m, n))
    np.testing.assert_array_equal(K @ X.reshape(-1, 1, order="F"), X.T.reshape(-1, 1, order="F"))
