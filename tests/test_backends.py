"""Backends: the same plan on numpy, on ``array_api_strict`` (which allows nothing beyond
the array API standard, so it proves the plan backend-agnostic) and, where a GPU and
CuPy exist, on CuPy; and the clear error of ``--device gpu`` without them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import array_api_strict as xs
import numpy as np
import pytest

from matd.core.derive import derive
from matd.core.errors import MatdError
from matd.core.plan import NumericError, Plan
from matd.core.primitives import PRIMS, NotDifferentiable, NoClosedForm
from matd.core.randomize import random_inputs
from matd.grammar.parse import parse_program

MATD = str(Path(sys.executable).parent / "matd")
SIZES = {"m": 3, "n": 4, "p": 2, "q": 5, "k": 2}

EXTRA_SAMPLES = {   # rows without a sample in the table
    "eigvec_max": ("S: n x n sym; eigvec_max(S)", {}),
    "eigvec_min": ("S: n x n sym; eigvec_min(S)", {}),
    "svd_u1": ("X: n x m; svd_u1(X)", {}),
    "svd_v1": ("X: n x m; svd_v1(X)", {}),
    "polar": ("X: n x m; polar(X)", {}),
    "commutation": ("X: m x n; vec(X^T)", {}),      # K(m,n) appears in its vec-Jacobian
}
SIGN_FREE = {"eigvec_max", "eigvec_min", "svd_u1", "svd_v1"}

# Programs whose plans use every lowering (solve, rsolve, rowscale, colscale, kron_apply,
# cholesky_logdet, distribute, fused elementwise chains) and user functions.
LOWERINGS = [
    ("X, B: n x n; inv(X) B + B X^-T", {"X": "wellcond"}),
    ("X: n x n; b: n; b^T inv(X) b", {"X": "wellcond"}),
    ("v, w: n; A: n x n; diag(v) A diag(w)", {}),
    ("A: m x n; B: p x q; x: n*q; kron(A, B) x", {}),
    ("A: m x n; B: p x q; X: n*q x k; kron(A, B) X", {}),
    ("S: n x n spd; T: n x n; logdet(S) + logdet(T)", {"T": "wellcond"}),
    ("A: n x n; x: n; x^T (A + A^T) x - x^T (A - A^T) x", {}),
    ("X: m x n; W: n x n; Z = X W; t = tanh(Z); sum((1 - t .^ 2) .* exp(-Z) + sigmoid(Z))", {}),
    ("sp2(t) = log(1 + exp(2 t)); X: m x n; sum(sp2(X) ./ (1 + X .* X))", {}),
    # diagonals as vectors: scalings, added onto a diagonal, made dense once
    ("a, b, c: n; A: n x k; sum(exp((diag(a) - diag(b) diag(c)) A))", {}),
    ("v: n; A: n x n; sum(exp(A + diag(v) - 2 I))", {}),
    ("a, b: n; A: n x n; sum(A .* (diag(a) - diag(b))) + sum(exp(diag(a) - diag(b) diag(a)))", {}),
    ("X: m x n; w: n; y: m; sum(log(1 + exp(-y .* (X w))))", {}),
]


def sample(op):
    return PRIMS[op].sample or EXTRA_SAMPLES.get(op)


SAMPLED = [op for op in PRIMS if sample(op)]


def setup(src, kinds, seed=0):
    prog = parse_program(src)
    env, sizes = random_inputs(prog, SIZES, np.random.default_rng(seed), kinds)
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    return prog, env, sizes, spd


def derivatives(prog, order=1):
    """The derivative nodes of the program by each variable (those with a closed form)."""
    out = []
    for name in prog.variables:
        try:
            r = derive(prog, [name], order).results[0]
        except (NotDifferentiable, NoClosedForm, MatdError):
            continue
        if r.derivative is not None:
            out.append(r.derivative)
    return out


def on(xp, env, dtype=None):
    return {k: xp.asarray(v, dtype=dtype) if dtype is not None else xp.asarray(v)
            for k, v in env.items()}


def agree(op, got, ref, rtol=1e-10, atol=1e-12):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (op, got.shape, ref.shape)
    if op in SIGN_FREE:
        k = np.argmax(np.abs(ref))
        got = got * np.sign(got.flat[k]) * np.sign(ref.flat[k])
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=op)


def test_every_row_has_a_sample_here():
    assert [op for op in PRIMS if op not in ("var", "dvar", "const") and not sample(op)] == []


# --- array_api_strict --------------------------------------------------------------------
@pytest.mark.parametrize("op", SAMPLED)
def test_strict_runs_every_sample_and_its_derivatives(op):
    src, kinds = sample(op)
    prog, env, sizes, spd = setup(src, kinds)
    outputs = [prog.result] + derivatives(prog)
    if op == "commutation":
        from matd.core.expr import walk
        assert any(n.op == "commutation" for o in outputs for n in walk(o)), outputs
    plan = Plan(outputs, sizes, spd)
    ref = plan.run(env)
    got = plan.run(on(xs, env), xs)
    for g, r in zip(got, ref):
        assert type(g).__module__.startswith("array_api_strict"), type(g)
        assert g.dtype == xs.float64
        agree(op, np.asarray(g), r)


@pytest.mark.parametrize("src,kinds", LOWERINGS, ids=[s.split("; ")[-1] for s, _ in LOWERINGS])
def test_strict_runs_every_lowering(src, kinds):
    prog, env, sizes, spd = setup(src, kinds)
    outputs = [prog.result] + derivatives(prog)
    plan = Plan(outputs, {**SIZES, "n": 9 if "A + A^T" in src else 4}, spd)
    env = random_inputs(prog, plan.sizes, np.random.default_rng(1), kinds)[0]
    ref = plan.run(env)
    got = plan.run(on(xs, env), xs)
    for g, r in zip(got, ref):
        assert type(g).__module__.startswith("array_api_strict"), type(g)
        agree(src, np.asarray(g), r)


def test_strict_lowerings_are_really_used():
    """The programs above do exercise the special steps (so the strict run covers them)."""
    kinds = set()
    for src, _ in LOWERINGS:
        prog = parse_program(src)
        spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
        kinds |= set(Plan([prog.result], {**SIZES, "n": 9}, spd).kinds())
    assert {"solve", "rsolve", "rowscale", "colscale", "kron_apply", "cholesky_logdet",
            "combine", "adddiag", "diagonal"} <= kinds, kinds


def test_strict_hessians():
    for src, kinds in [("A: m x n; x: n; y: m; 0.5 norm(A x - y)^2", {}),
                       ("X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", {"y": "unit"}),
                       ("X: n x n; logdet(X)", {"X": "wellcond"})]:
        prog, env, sizes, spd = setup(src, kinds)
        plan = Plan(derivatives(prog, 2), {**sizes, "d": 3}, spd)
        env = random_inputs(prog, plan.sizes, np.random.default_rng(2), kinds)[0]
        for g, r in zip(plan.run(on(xs, env), xs), plan.run(env)):
            agree(src, np.asarray(g), r)


def test_strict_float32():
    src = "X: n x n; B: n x k; v: n; sum(inv(X) B) + v^T diag(v) X v + sum(tanh(X B))"
    prog, env, sizes, spd = setup(src, {"X": "wellcond"})
    plan = Plan([prog.result], sizes, spd)
    got = plan.run(on(xs, env, xs.float32), xs, dtype=xs.float32)[0]
    assert got.dtype == xs.float32
    np.testing.assert_allclose(np.asarray(got), plan.run(env)[0], rtol=1e-4)


@pytest.mark.parametrize("src,env,what", [
    ("X: n x n; inv(X)", {"X": np.ones((3, 3))}, "X^-1"),
    ("X, B: n x n; inv(X) B", {"X": np.ones((3, 3)), "B": np.eye(3)}, "X^-1 B"),
    ("S: n x n spd; logdet(S)", {"S": -np.eye(3)}, "positive definite"),
    ("x: n; exp(2 x)", {"x": np.array([[400.0], [1.0]])}, "exp(2 x)"),
])
def test_strict_reports_numerical_trouble(src, env, what):
    prog = parse_program(src)
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    plan = Plan([prog.result], {"n": next(iter(env.values())).shape[0]}, spd)
    with pytest.raises(NumericError) as info:
        plan.run(on(xs, env), xs)
    assert what in info.value.message


# --- --device gpu without a GPU -------------------------------------------------------------
FAKE_CUPY = {
    "missing": "raise ImportError('No module named cupy')\n",
    "broken": "class _R:\n    @staticmethod\n    def getDeviceCount():\n"
              "        raise RuntimeError('cudaErrorNoDevice: no CUDA-capable device')\n"
              "class cuda:\n    runtime = _R\n",
    "none": "class _R:\n    @staticmethod\n    def getDeviceCount():\n        return 0\n"
            "class cuda:\n    runtime = _R\n",
}


def run_with_cupy(fake: str | None, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}
    if fake is not None:
        (tmp_path / "cupy.py").write_text(FAKE_CUPY[fake])
        env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([MATD, *args], capture_output=True, env=env, text=True)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("fake,words", [
    ("missing", ["CuPy", "cupy-cuda12x", ".[gpu-cuda12]"]),
    ("broken", ["--device gpu", "no usable CUDA GPU"]),
    ("none", ["--device gpu", "no CUDA GPU"]),
])
def test_device_gpu_without_a_gpu_is_exit_2(fake, words, tmp_path):
    for cmd in (("eval", "x: n; sum(x)", "--at", "x=[1,2]", "--device", "gpu"),
                ("grad", "x: n; sum(x .* x)", "--wrt", "x", "--random", "--device", "gpu")):
        rc, out, err = run_with_cupy(fake, tmp_path, *cmd)
        assert rc == 2 and out == "", err
        for w in words:
            assert w in err, err


def test_device_gpu_here():
    """The real environment: without CuPy the error names CuPy and the wheels to install."""
    try:
        import cupy  # noqa: F401
        have = True
    except ImportError:
        have = False
    if have:
        pytest.skip("CuPy is installed here: the GPU tests below cover --device gpu")
    p = subprocess.run([MATD, "eval", "x: n; sum(x)", "--at", "x=[1,2]", "--device", "gpu"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "CuPy" in p.stderr and "cupy-cuda12x" in p.stderr, p.stderr


def test_namespace_cpu_and_errors(monkeypatch):
    from matd.core.backend import namespace
    xp, dt = namespace("cpu", "float32")
    assert dt == xp.float32
    with pytest.raises(MatdError, match="unknown device"):
        namespace("tpu")
    with pytest.raises(MatdError, match="unknown dtype"):
        namespace("cpu", "float16")
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    with pytest.raises(MatdError, match="CuPy") as info:
        namespace("gpu")
    assert "pip install cupy-cuda12x" in info.value.hint


# --- CuPy on a real GPU (skipped cleanly elsewhere) ---------------------------------------------
def _gpu():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        cupy.zeros(1).sum()                      # a device that really runs kernels
        return cupy
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: skip
        return None


needs_gpu = pytest.mark.skipif(_gpu() is None, reason="needs CuPy and a CUDA GPU")


@needs_gpu
@pytest.mark.parametrize("op", SAMPLED)
def test_cupy_runs_every_sample_and_its_derivatives(op):
    import array_api_compat.cupy as xc
    src, kinds = sample(op)
    prog, env, sizes, spd = setup(src, kinds)
    plan = Plan([prog.result] + derivatives(prog), sizes, spd)
    ref = plan.run(env)
    for g, r in zip(plan.run(on(xc, env), xc), ref):
        assert type(g).__module__.startswith("cupy")
        agree(op, g.get(), r, rtol=1e-9, atol=1e-11)


@needs_gpu
@pytest.mark.parametrize("src,kinds", LOWERINGS, ids=[s.split("; ")[-1] for s, _ in LOWERINGS])
def test_cupy_runs_every_lowering(src, kinds):
    import array_api_compat.cupy as xc
    prog, env, sizes, spd = setup(src, kinds)
    plan = Plan([prog.result] + derivatives(prog), {**SIZES, "n": 9 if "A + A^T" in src else 4},
                spd)
    env = random_inputs(prog, plan.sizes, np.random.default_rng(1), kinds)[0]
    for g, r in zip(plan.run(on(xc, env), xc), plan.run(env)):
        agree(src, g.get(), r, rtol=1e-9, atol=1e-11)


@needs_gpu
def test_cupy_reports_numerical_trouble():
    import array_api_compat.cupy as xc
    prog = parse_program("x: n; exp(2 x)")
    with pytest.raises(NumericError, match="exp"):
        Plan([prog.result], {"n": 2}).run({"x": xc.asarray([[400.0], [1.0]])}, xc)


@needs_gpu
def test_cli_device_gpu_matches_cpu(tmp_path):
    prog = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w"
    base = ["--random", "--seed", "3", "--dims", "m=50,d=7"]
    outs = {}
    for dev in ("cpu", "gpu"):
        for dtype in ("float64", "float32"):
            for what in (["eval", prog], ["grad", prog, "--wrt", "w", "--check"],
                         ["grad", prog, "--wrt", "w", "--order", "2"]):
                path = tmp_path / f"{what[0]}{len(what)}{dev}{dtype}.npy"
                p = subprocess.run([MATD, *what, *base, "--device", dev, "--dtype", dtype,
                                    "--out", str(path)], capture_output=True, text=True)
                assert p.returncode == 0, p.stderr
                outs[what[0], len(what), dev, dtype] = np.load(path)
    for (cmd, k, dev, dtype), v in outs.items():
        ref = outs[cmd, k, "cpu", "float64"]
        tol = 1e-10 if dtype == "float64" else 1e-4
        np.testing.assert_allclose(v, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_every_gpu_extra_names_a_prebuilt_cupy_wheel():
    """`pip install '.[gpu…]'` must not build CuPy from source (the plain `cupy` sdist needs
    the CUDA toolkit): each GPU extra names a cupy-cudaNNx wheel package."""
    import tomllib
    from pathlib import Path
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extras = {k: v for k, v in meta["project"]["optional-dependencies"].items()
              if k.startswith("gpu")}
    assert {"gpu", "gpu-cuda12", "gpu-cuda13"} <= set(extras)
    import re
    for name, reqs in extras.items():
        pkgs = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in reqs]
        assert pkgs and all(re.fullmatch(r"cupy-cuda1[0-9]x", p) for p in pkgs), (name, reqs)
