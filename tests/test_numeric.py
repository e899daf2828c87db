"""Numeric evaluation: kernels against plain numpy, what the compiled plan does (solves,
scalings, Kronecker application, chain order, sharing), array-API backends, and the
`matd eval` / `matd grad` inputs and outputs through the real command."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import linalg_reference

from matd.core.evaluate import evaluate
from matd.core.plan import Plan
from matd.core.primitives import PRIMS
from matd.core.randomize import random_inputs
from matd.grammar.parse import parse_program

MATD = str(Path(sys.executable).parent / "matd")


def run(*args, stdin: bytes | None = None):
    p = subprocess.run([MATD, *args], input=stdin, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err
    return p.returncode, out, err


# -- kernels against plain numpy -------------------------------------------------------------
def sym(a):
    return (a + a.T) / 2


NUMPY = {  # op -> reference on 2-D arrays (the row's sample supplies the inputs)
    "add": lambda *a: sum(a[1:], a[0]), "neg": lambda a: -a, "matmul": lambda a, b: a @ b,
    "smul": lambda s, x: s * x, "div": lambda x, s: x / s, "hadamard": lambda a, b: a * b,
    "hdiv": lambda a, b: a / b, "kron": np.kron, "transpose": lambda a: a.T,
    "inv": np.linalg.inv, "tr": lambda a: np.trace(a).reshape(1, 1),
    "sum": lambda a: np.sum(a).reshape(1, 1), "det": lambda a: np.linalg.det(a).reshape(1, 1),
    "logdet": lambda a: np.log(abs(np.linalg.det(a))).reshape(1, 1),
    "pinv": np.linalg.pinv, "adj": lambda a: np.linalg.det(a) * np.linalg.inv(a),
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "softplus": lambda a: np.log1p(np.exp(a)),
    "relu": lambda a: np.maximum(a, 0), "sqrt": np.sqrt, "abs": np.abs,
    "step": lambda a: (a > 0).astype(float), "sign": np.sign,
    "norm": lambda a: np.linalg.norm(a).reshape(1, 1),
    "norm1": lambda a: np.abs(a).sum().reshape(1, 1),
    "specnorm": lambda a: np.linalg.norm(a, 2).reshape(1, 1),
    "nuclear": lambda a: np.linalg.norm(a, "nuc").reshape(1, 1),
    "logsumexp": lambda a: np.log(np.exp(a).sum()).reshape(1, 1),
    "softmax": lambda a: np.exp(a) / np.exp(a).sum(),
    "dot": lambda a, b: np.sum(a * b).reshape(1, 1),
    "lambda_max": lambda a: np.linalg.eigvalsh(a)[-1:].reshape(1, 1),
    "lambda_min": lambda a: np.linalg.eigvalsh(a)[:1].reshape(1, 1),
    "vec": lambda a: a.reshape(-1, 1, order="F"),
    "unvec": None, "diag": None, "mpow": None, "epow": lambda a, p: a ** p,
    "broadcast": None, "ufunc": None,
}

NUMPY.update(dict.fromkeys(linalg_reference.REFERENCE))   # (node, shape, *args) references


def sample_rows():
    return [p for p in PRIMS.values() if p.sample]


@pytest.mark.parametrize("row", sample_rows(), ids=[p.op for p in sample_rows()])
def test_kernel_matches_numpy(row):
    src, kinds = row.sample
    prog = parse_program(src)
    env, sizes = random_inputs(prog, {}, np.random.default_rng(1), kinds)
    from matd.core.expr import walk
    nodes = [n for n in walk(prog.result) if n.op == row.op]
    assert nodes, row.op
    for n in nodes:
        got = evaluate(n, env, sizes)
        args = [evaluate(a, env, sizes) for a in n.args]
        if row.op in ("eye", "ones", "zeros", "dim", "const", "var"):
            continue  # leaves: their values come from sizes and inputs
        ref_fn = NUMPY.get(row.op, "missing")
        assert ref_fn != "missing", f"add a numpy reference for {row.op}"
        if row.op == "diag":
            a = args[0]
            ref = np.diag(a[:, 0]) if a.shape[1] == 1 else np.diag(a).reshape(-1, 1)
        elif row.op == "mpow":
            ref = np.linalg.matrix_power(args[0], n.params[0])
        elif row.op == "unvec":
            m = got.shape[0]
            ref = args[0].reshape(m, -1, order="F")
        elif row.op == "broadcast":
            ref = np.broadcast_to(args[0], got.shape)
        elif row.op == "ufunc":
            continue  # its body is evaluated through the other kernels
        elif row.op in linalg_reference.REFERENCE:
            ref = linalg_reference.REFERENCE[row.op](n, got.shape, *args)
        else:
            ref = ref_fn(*args)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_every_row_has_a_numpy_reference_or_is_a_leaf():
    leaves = {"var", "dvar", "const", "dim", "eye", "ones", "zeros", "commutation",
              "eigvec_max", "eigvec_min", "svd_u1", "svd_v1", "polar"}
    assert {p.op for p in PRIMS.values()} - leaves <= set(NUMPY)


# -- the plan --------------------------------------------------------------------------------
def plan_of(src, sizes, out=None):
    prog = parse_program(src)
    spd = frozenset(n for n, v in prog.variables.items() if "spd" in v.params[1])
    node = prog.result if out is None else out(prog)
    env, sizes = random_inputs(prog, sizes, np.random.default_rng(2), {})
    return Plan([node], sizes, spd), env, sizes, node


def labels(plan):
    return [s.label or s.kind for s in plan.steps if s.kind != "input"]


def test_inverse_times_matrix_is_a_solve():
    for src, kind in [("X, B: n x n; inv(X) B", "solve"), ("X, B: n x n; B inv(X)", "rsolve"),
                      ("X, B: n x n; X^-T B", "solve"), ("X, B: n x n; B X^-T", "rsolve")]:
        plan, env, sizes, node = plan_of(src, {"n": 4})
        env["X"] = env["X"] + 4 * np.eye(4)
        assert kind in labels(plan) and "inv" not in labels(plan), src
        naive = eval_naive(node, env)
        np.testing.assert_allclose(plan.run(env)[0], naive, rtol=1e-10)


def eval_naive(node, env):
    """The formula as written (inverses formed), via each row's kernel alone."""
    from matd.core.execute import _At
    import array_api_compat.numpy as xp
    if not node.args:
        return evaluate(node, env, {"n": 6})
    args = [eval_naive(a, env) for a in node.args]
    if node.op == "broadcast":
        return np.broadcast_to(args[0], evaluate(node, env, {"n": 6}).shape)
    return PRIMS[node.op].kernel(xp, _At(node, None), *args)


def test_inverse_needed_alone_is_computed_once():
    plan, env, sizes, node = plan_of("X, B: n x n; inv(X) B + inv(X)", {"n": 3})
    assert labels(plan).count("inv") == 1


def test_diagonal_scalings_and_kron_application():
    plan, *_ = plan_of("v: n; A: n x k; diag(v) A", {"n": 4, "k": 3})
    assert "rowscale" in plan.kinds() and "diag" not in labels(plan)
    plan, *_ = plan_of("v: k; A: n x k; A diag(v)", {"n": 4, "k": 3})
    assert "colscale" in plan.kinds() and "diag" not in labels(plan)
    plan, env, sizes, node = plan_of("A: m x n; B: p x q; x: n*q; kron(A, B) x",
                                     {"m": 2, "n": 3, "p": 4, "q": 2})
    assert "kron_apply" in labels(plan) and "kron" not in labels(plan)
    np.testing.assert_allclose(plan.run(env)[0], np.kron(env["A"], env["B"]) @ env["x"])


def test_logdet_of_spd_uses_cholesky():
    plan, env, *_ = plan_of("S: n x n spd; logdet(S)", {"n": 4})
    assert "cholesky_logdet" in plan.kinds()
    assert np.isclose(plan.run(env)[0][0, 0], np.linalg.slogdet(env["S"])[1])
    plan, *_ = plan_of("S: n x n; logdet(S)", {"n": 4})
    assert "logdet" in labels(plan) and "cholesky_logdet" not in plan.kinds()


def test_chain_order_and_sharing():
    plan, env, *_ = plan_of("A, B: n x n; v: n; A B v", {"n": 50})
    mm = [s.shape for s in plan.steps if s.kind == "matmul"]
    assert mm == [(50, 1), (50, 1)]     # B v first, never the n×n product A B
    np.testing.assert_allclose(plan.run(env)[0], env["A"] @ env["B"] @ env["v"])
    plan, *_ = plan_of("A: n x n; x: n; t = tanh(A x); t^T t + sum(t)", {"n": 5})
    assert labels(plan).count("tanh") == 1


def test_fused_elementwise_chain_keeps_values():
    src = "A, B: n x n; S = A + exp(tanh(B)); sum((S + S^T) .* (1 - tanh(S).^2))"
    plan, env, sizes, node = plan_of(src, {"n": 6})
    np.testing.assert_allclose(plan.run(env)[0], eval_naive(node, env), rtol=1e-12)


def test_array_api_strict_runs_every_primitive():
    xs = pytest.importorskip("array_api_strict")
    for row in sample_rows():
        prog = parse_program(row.sample[0])
        env, sizes = random_inputs(prog, {}, np.random.default_rng(0), row.sample[1])
        spd = frozenset(n for n, v in prog.variables.items() if "spd" in v.params[1])
        plan = Plan([prog.result], sizes, spd)
        ref = plan.run(env)[0]
        got = plan.run({k: xs.asarray(v) for k, v in env.items()}, xs)[0]
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-10, err_msg=row.op)


def test_cupy_matches_numpy():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("no CUDA GPU")
    except Exception:  # noqa: BLE001
        pytest.skip("no CUDA GPU")
    rc, out, err = run("grad", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt",
                       "w", "--random", "--seed", "3", "--dims", "m=40,d=5", "--device", "gpu",
                       "--check")
    assert rc == 0, err


# -- eval and grad through the command -------------------------------------------------------
def test_every_input_form(tmp_path):
    A = np.arange(6.0).reshape(3, 2)
    np.save(tmp_path / "A.npy", A)
    np.savez(tmp_path / "many.npz", A=A, other=np.ones(2))
    np.savetxt(tmp_path / "A.csv", A, delimiter=",")
    np.savetxt(tmp_path / "A.txt", A)
    want = A @ np.array([1.0, 2.0])
    for a in (f"A={tmp_path / 'A.npy'}", f"A={tmp_path / 'many.npz'}",
              f"A={tmp_path / 'many.npz'}:A", f"A={tmp_path / 'A.csv'}",
              f"A={tmp_path / 'A.txt'}", "A=[[0,1],[2,3],[4,5]]"):
        rc, out, err = run("eval", "A: m x n; x: n; A x", "--at", a, "--at", "x=[1,2]",
                           "--format", "json")
        assert rc == 0, (a, err)
        assert json.loads(out)["value"] == want.tolist()
    buf = io.BytesIO()
    np.savez(buf, A=A, x=np.array([1.0, 2.0]))
    rc, out, err = run("eval", "A: m x n; x: n; A x", "--at", "A=-", "--at", "x=-",
                       stdin=buf.getvalue())
    assert rc == 0, err
    np.testing.assert_allclose(np.loadtxt(io.StringIO(out)), want)
    rc, out, _ = run("eval", "c: scalar; 2 c", "--at", "c=0.5")
    assert float(out) == 1.0


def test_input_errors(tmp_path):
    rc, _, err = run("eval", "A: m x n; x: n; A x", "--at", "A=[[1,2],[3,4]]", "--at",
                     "x=[1,2,3]")
    assert rc == 2 and "--at x" in err and "(3,)" in err and "n = 2" in err
    rc, _, err = run("eval", "x: n; sum(x)", "--at", "z=[1]")
    assert rc == 2 and "no variable 'z'" in err
    rc, _, err = run("eval", "x: n; sum(x)")
    assert rc == 2 and "no value for x" in err
    rc, _, err = run("eval", "x: n; sum(x)", "--at", f"x={tmp_path / 'nope.npy'}")
    assert rc == 2 and "cannot read" in err
    np.save(tmp_path / "bad.npy", np.array([1.0, np.nan]))
    rc, _, err = run("eval", "x: n; sum(x)", "--at", f"x={tmp_path / 'bad.npy'}")
    assert rc == 2 and "NaN" in err
    rc, _, err = run("eval", "x: n; sum(x)", "--at", "x=[1,2]", "--out",
                     str(tmp_path / "out.txt"))
    assert rc == 2 and not (tmp_path / "out.txt").exists()
    rc, _, err = run("eval", "x: n; sum(x)", "--at", "x=[1,2]", "--out",
                     str(tmp_path / "missing" / "o.npy"))
    assert rc == 2
    assert not list(tmp_path.glob(".matd-*"))


def test_grad_shapes_hessians_and_hvp(tmp_path):
    cases = [
        ("A: n x n; x: n; x^T A x", ["x"], [], (3,)),
        ("A: m x n; x: n; sigmoid(A x)", ["x"], [], (2, 3)),
        ("W: m x n; x: n; tanh(W x)", ["W"], [], (2, 2, 3)),
        ("X: n x n; inv(X)", ["X"], [], (3, 3, 3, 3)),
        ("A: n x n; x: n; x^T A x", ["x"], ["--order", "2"], (3, 3)),
        ("X: m x n; norm(X)^2 + sum(exp(X))", ["X"], ["--order", "2"], (2, 3, 2, 3)),
    ]
    for src, wrt, extra, shape in cases:
        out = tmp_path / "g.npy"
        args = [a for w in wrt for a in ("--wrt", w)]
        dims = ",".join(f"{d}={v}" for d, v in (("m", 2), ("n", 3)) if f" {d}" in src)
        rc, _, err = run("grad", src, *args, *extra, "--random", "--seed", "4", "--dims",
                         dims, "--out", str(out), "--check")   # --dims: the program's dims only
        assert rc == 0, (src, err)
        assert np.load(out).shape == shape, src
    A = np.array([[2.0, 1, 0], [0, 3, 1], [1, 0, 1]])
    rc, out, err = run("grad", "A: n x n; x: n; x^T A x", "--wrt", "x", "--order", "2",
                       "--at", f"A={A.tolist()}", "--at", "x=[1,2,3]", "--hvp", "[1,0,2]")
    assert rc == 0, err
    np.testing.assert_allclose(np.loadtxt(io.StringIO(out)), (A + A.T) @ [1, 0, 2])


def test_against_a_users_gradient(tmp_path):
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    right, wrong = tmp_path / "right.npy", tmp_path / "wrong.npy"
    np.save(right, (A + A.T) @ [1.0, 1.0])
    np.save(wrong, A @ [1.0, 1.0])
    base = ("grad", "A: n x n; x: n; x^T A x", "--wrt", "x", "--at", f"A={A.tolist()}",
            "--at", "x=[1,1]")
    assert run(*base, "--against", str(right))[0] == 0
    rc, out, err = run(*base, "--against", str(wrong))
    assert rc == 1 and "FAILED" in out + err


def test_float32():
    rc, out, err = run("grad", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt",
                       "w", "--random", "--seed", "5", "--dims", "m=30,d=4", "--dtype",
                       "float32", "--check")
    assert rc == 0, err


# -- inputs used as they are: never copied, never written ---------------------------------------
def test_float64_inputs_are_bound_without_a_copy():
    from matd.core.numeric import bind
    prog = parse_program("X: m x n; w: n; y: m; norm(X w - y)^2")
    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((5, 3)), rng.standard_normal(3), np.arange(5)
    for layout in (X, np.asfortranarray(X)):
        b = bind(prog, {"X": layout, "w": w, "y": y})
        assert np.shares_memory(b.env["X"], layout) and np.shares_memory(b.env["w"], w)
        assert not np.shares_memory(b.env["y"], y) and b.env["y"].dtype == np.float64
        assert b.checked


def test_read_only_inputs_give_the_gradient_and_results_are_their_own():
    import matd
    rng = np.random.default_rng(1)
    X, w, y = rng.standard_normal((6, 4)), rng.standard_normal(4), rng.standard_normal(6)
    for a in (X, w, y):
        a.setflags(write=False)
    g = matd.grad("X: m x n; w: n; y: m; norm(X w - y)^2", "w", X=X, w=w, y=y)
    np.testing.assert_allclose(g, 2 * X.T @ (X @ w - y), rtol=1e-12)
    same = matd.grad("x: n; x^T x / 2", "x", x=w)      # the gradient is x itself
    np.testing.assert_array_equal(same, w)
    assert not np.shares_memory(same, w) and same.flags.writeable
    assert not np.shares_memory(matd.eval("x: n; x", x=w), w)


def test_a_large_npy_is_memory_mapped_read_only(tmp_path):
    from matd.cli.inputs import MMAP_FLOOR, load_value
    rng = np.random.default_rng(2)
    big = rng.standard_normal((MMAP_FLOOR // 8 // 100 + 1, 100))
    small = rng.standard_normal((3, 4))
    for a, mapped in ((big, True), (np.asfortranarray(big), True), (small, False)):
        np.save(tmp_path / "a.npy", a)
        got, where = load_value("A", str(tmp_path / "a.npy"))
        assert isinstance(got, np.memmap) == mapped and not (mapped and got.flags.writeable)
        np.testing.assert_array_equal(got, a)
        del got
    np.save(tmp_path / "X.npy", big)
    before = (tmp_path / "X.npy").read_bytes()
    out = tmp_path / "g.npy"
    rc, _, err = run("grad", "X: m x n; sum(exp(-X) .* X) + norm(X)^2", "--wrt", "X",
                     "--at", f"X={tmp_path / 'X.npy'}", "--out", str(out))
    assert rc == 0, err
    np.testing.assert_allclose(np.load(out), np.exp(-big) * (1 - big) + 2 * big, rtol=1e-12)
    assert (tmp_path / "X.npy").read_bytes() == before
    rc, _, err = run("grad", "X: m x n; sum(exp(X))", "--wrt", "X", "--at",
                     f"X={tmp_path / 'X.npy'}", "--out", str(tmp_path / "X.npy"))
    assert rc == 0, err                     # written over its own (mapped) input
    np.testing.assert_allclose(np.load(tmp_path / "X.npy"), np.exp(big), rtol=1e-12)


def test_a_nonfinite_large_npy_input_is_named(tmp_path):
    from matd.cli.inputs import MMAP_FLOOR
    a = np.ones((MMAP_FLOOR // 8 + 10, 1))
    a[-1] = np.nan
    np.save(tmp_path / "x.npy", a[:, 0])
    rc, _, err = run("grad", "x: n; sum(x)", "--wrt", "x", "--at", f"x={tmp_path / 'x.npy'}")
    assert rc == 2 and "--at x" in err and "NaN" in err, err
