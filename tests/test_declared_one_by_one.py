"""A variable declared `1 x 1` is a matrix (DESIGN §2: `matd grad` returns shape(f) +
shape(X)): through the real `matd` command, its values, gradients, Hessians and
Hessian-vector products stay 2-d — `--out`, `--format json` and text alike — while a
scalar (`c: scalar`, `c: 1`) stays 0-d and a 1×1 *result* of a computation is a scalar."""
from __future__ import annotations

import json

import numpy as np

from matd_cli import matd


def grad_json(*args):
    rc, out, err = matd("grad", *args, "--format", "json", "--check")
    assert rc == 0, err
    got = json.loads(out)
    assert all(c["ok"] for c in got["checks"]), got
    (name,) = got["wrt"]
    return got["shape"][name], got["derivative"][name]


def test_gradient_by_a_declared_1x1_is_1x1(tmp_path):
    prog = "A: 1 x 1; tr(A)^2"
    assert grad_json(prog, "--wrt", "A", "--at", "A=[[2]]") == ([1, 1], [[4.0]])
    rc, _, err = matd("grad", prog, "--wrt", "A", "--at", "A=[[2]]", "--out", tmp_path / "g.npy")
    assert rc == 0, err
    g = np.load(tmp_path / "g.npy")
    assert g.shape == (1, 1) and g[0, 0] == 4.0
    for spelled in ("A: (1, 1)", "A: R^{1 x 1}", "A: 1×1"):   # every spelling of the shape
        assert grad_json(f"{spelled}; tr(A)^2", "--wrt", "A", "--at", "A=2")[0] == [1, 1]
    for scalar in ("A: scalar", "A: 1"):                       # scalars stay 0-d
        assert grad_json(f"{scalar}; A^2", "--wrt", "A", "--at", "A=2") == ([], 4.0)


def test_hessian_and_hvp_by_a_declared_1x1():
    prog = "A: 1 x 1; x: n; tr(A)^3 + norm(x)^2 tr(A)"
    at = ("--at", "A=[[2]]", "--at", "x=[1,2]")
    assert grad_json(prog, "--wrt", "A", "--order", "2", *at) == ([1, 1, 1, 1], [[[[12.0]]]])
    shape, value = grad_json(prog, "--wrt", "A", "--order", "2", "--hvp", "[[0.5]]", *at)
    assert (shape, value) == ([1, 1], [[6.0]])
    shape, value = grad_json(prog, "--wrt", "x", *at)   # by the vector: shape(x)
    assert (shape, value) == ([2], [4.0, 8.0])


def test_derivative_of_a_vector_by_a_declared_1x1_is_f_plus_x():
    shape, value = grad_json("A: 1 x 1; x: n; x A", "--wrt", "A", "--at", "A=3",
                             "--at", "x=[1,2]")
    assert (shape, value) == ([2, 1, 1], [[[1.0]], [[2.0]]])
    shape, value = grad_json("c: scalar; x: n; x c", "--wrt", "c", "--at", "c=3",
                             "--at", "x=[1,2]")
    assert (shape, value) == ([2], [1.0, 2.0])


def test_eval_of_a_declared_1x1():
    rc, out, err = matd("eval", "A: 1 x 1; A", "--at", "A=2", "--format", "json")
    assert rc == 0 and json.loads(out) == {"shape": [1, 1], "value": [[2.0]]}, err
    rc, out, err = matd("eval", "A: 1 x 1; B = A; B", "--at", "A=[[2]]", "--format", "json")
    assert rc == 0 and json.loads(out)["shape"] == [1, 1], err
    # a 1×1 result of a computation is a scalar (DESIGN §2)
    rc, out, err = matd("eval", "A: 1 x 1; 3 A", "--at", "A=[[2]]", "--format", "json")
    assert rc == 0 and json.loads(out) == {"shape": [], "value": 6.0}, err
    # f = A itself: shape(f) + shape(A)
    assert grad_json("A: 1 x 1; A", "--wrt", "A", "--at", "A=[[2]]") == ([1, 1, 1, 1],
                                                                          [[[[1.0]]]])
