"""`matd grad` through the real command: the whole textbook corpus against finite
differences, the shapes of derivatives (DESIGN §2), Hessians and Hessian-vector
products, --check / --against exit statuses, float32, and numerical trouble."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from matd.core.evaluate import evaluate, size
from matd.core.randomize import draw, kind_of_var
from matd.grammar.parse import parse_program

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}
WORKERS = max(2, 2 * (os.cpu_count() or 1))


def raw(args, stdin: bytes | None = None):
    p = subprocess.run([MATD, *map(str, args)], input=stdin, capture_output=True, env=ENV)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def sane(result):
    rc, out, err = result
    assert "Traceback" not in out + err, err
    assert "internal error" not in err, err
    return result


def many(*commands):
    """Several `matd` commands (argument tuples) at once, in parallel: their results."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return [sane(r) for r in pool.map(raw, commands)]


def matd(*args, stdin=None):
    return sane(raw(args, stdin))


def rel_error(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


REPORT = re.compile(r"^(\w+): max relative error vs central differences: (\S+)\s+\((.*)\)$",
                    re.M)


def reported(text: str) -> dict:
    """{variable: (error, verdict)} from the --check lines."""
    return {m[1]: (float(m[2]), m[3]) for m in REPORT.finditer(text)}


# --- finite differences of our own ----------------------------------------------------------
def user_shape(node, sizes) -> tuple:
    r, c = (size(d, sizes) for d in node.shape)
    if node.shape[0].is_one and node.shape[1].is_one:
        return ()
    if node.shape[1].is_one:
        return (r,)
    return (r, c)


def fd_first(f, X, symmetric=False, h=1e-6):
    """∂f/∂X as an array f + X (user shapes); X 2-D; symmetric: the gradient within the
    symmetric matrices (directions E_ij + E_ji), i.e. (G + Gᵀ)/2."""
    h = h * max(1.0, float(np.max(np.abs(X))))
    f0 = np.asarray(f(X))
    out = np.zeros(f0.shape + X.shape)
    for i, j in np.ndindex(X.shape):
        if symmetric and j < i:
            continue
        E = np.zeros_like(X)
        E[i, j] = h
        if symmetric:
            E[j, i] = h
        d = (np.asarray(f(X + E)) - np.asarray(f(X - E))) / (2 * h)
        if symmetric and i != j:
            out[..., i, j] = out[..., j, i] = d / 2
        else:
            out[..., i, j] = d
    return out


def fd_second(f, X, h=1e-4):
    """∂²f/∂X∂X of a scalar f by second differences: X.shape + X.shape (2-D X)."""
    h = h * max(1.0, float(np.max(np.abs(X))))
    n = X.size
    H = np.zeros((n, n))
    for a in range(n):
        for b in range(a, n):
            Ea = np.zeros(n)
            Ea[a] = h
            Eb = np.zeros(n)
            Eb[b] = h
            at = lambda e: float(f(X + e.reshape(X.shape)))   # noqa: E731
            H[a, b] = H[b, a] = (at(Ea + Eb) - at(Ea - Eb) - at(Eb - Ea) + at(-Ea - Eb)) / \
                (4 * h * h)
    return H.reshape(X.shape + X.shape)


# --- the corpus -----------------------------------------------------------------------------
def corpus_path() -> Path:
    """The textbook cases: this project's own data file (sources cited in it)."""
    return Path(__file__).resolve().parent / "data" / "cases.json"


CASES = json.loads(corpus_path().read_text())["cases"]


def case_command(case, seed, folder: Path):
    """`matd grad` arguments for a case: --random for what the declared attributes cover,
    .npy files (drawn here) for the input kinds they do not."""
    prog = parse_program(case["program"])
    dims = case["dims"]
    args = ["grad", case["program"], "--wrt", case["wrt"], "--order", str(case["order"]),
            "--random", "--seed", str(seed), "--check", "--out", folder / "d.npz"]
    if dims:
        args += ["--dims", ",".join(f"{k}={v}" for k, v in dims.items())]
    rng = np.random.default_rng(seed + 1000)
    for name, kind in case["inputs"].items():
        var = prog.variables[name]
        if kind == kind_of_var(var):
            continue
        shape = tuple(size(d, dims) for d in var.shape)
        path = folder / f"{name}.npy"
        np.save(path, draw(kind, shape, rng))
        args += ["--at", f"{name}={path}"]
    return args


def bound_inputs(args):
    """The arrays the command ran on, through the CLI's own input path (same seed)."""
    from matd.cli.numeric import NumOptions, prepare
    it = iter(args)
    at, seed, dims = [], None, None
    for a in it:
        if a == "--at":
            at.append(str(next(it)))
        elif a == "--seed":
            seed = int(next(it))
        elif a == "--dims":
            dims = next(it)
    opts = NumOptions(expr=args[1], at=tuple(at), random=True, seed=seed, dims=dims, out=None,
                      device="cpu", dtype="float64", fmt="text")
    return prepare(opts)


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory):
    jobs = []
    for i, case in enumerate(CASES):
        folder = tmp_path_factory.mktemp(case["id"])
        jobs.append((case_command(case, 11 + i, folder), folder))
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda j: raw(j[0]), jobs))
    return {c["id"]: (args, folder, r) for c, (args, folder), r in zip(CASES, jobs, results)}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case_through_matd_grad(case, corpus_runs):
    args, folder, (rc, out, err) = corpus_runs[case["id"]]
    sane((rc, out, err))
    wrt, order = case["wrt"], case["order"]
    assert rc == 0, err
    rep = reported(out + err)          # the check report goes to standard error
    assert list(rep) == [wrt], out
    assert rep[wrt][0] < 1e-6 and rep[wrt][1] == "ok", out

    # the --out file against finite differences computed here
    with np.load(folder / "d.npz") as z:
        assert list(z.keys()) == [wrt]
        got = z[wrt]
    prog, b = bound_inputs(args)
    f, x = prog.result, prog.variables[wrt]
    fshape, xshape = user_shape(f, b.sizes), user_shape(x, b.sizes)
    X = b.env[wrt]

    def fun(Xv):
        env = dict(b.env)
        env[wrt] = Xv
        return evaluate(f, env, b.sizes).reshape(fshape)

    if order == 1:
        sym = any(a in x.params[1] for a in ("sym", "spd"))
        ref = fd_first(fun, X, symmetric=sym).reshape(fshape + xshape)
        assert got.shape == fshape + xshape
        assert rel_error(got, ref) < 1e-6, rel_error(got, ref)
    else:
        assert fshape == ()
        ref = fd_second(fun, X).reshape(xshape + xshape)
        assert got.shape == xshape + xshape
        assert rel_error(got, ref) < 1e-5, rel_error(got, ref)


# --- shapes and values of derivatives --------------------------------------------------------
RNG = np.random.default_rng(42)
m, n, p, q = 3, 4, 2, 5
VALUES = {
    "A": RNG.standard_normal((m, n)), "x": RNG.standard_normal(n), "y": RNG.standard_normal(m),
    "W": RNG.standard_normal((m, n)), "X": draw("wellcond", (n, n), RNG),
    "P": RNG.standard_normal((p, m)), "Y": RNG.standard_normal((m, n)),
    "Q": RNG.standard_normal((n, q)), "V": RNG.standard_normal((m, n)),
    "v": RNG.standard_normal(n),
}
A_, x_, y_, W_, X_, P_, Y_, Q_ = (VALUES[k] for k in "AxyWXPYQ")
Xi = np.linalg.inv(X_)
t_ = np.tanh(A_ @ x_)
tw = np.tanh(W_ @ x_)
r_ = A_ @ x_ - y_
I_m = np.eye(m)

SHAPE_CASES = {
    # id: (program, --wrt, order, expected array)
    "scalar_by_vector": ("A: m x n; x: n; y: m; norm(A x - y)^2", "x", 1, 2 * A_.T @ r_),
    "scalar_by_matrix": ("A: m x n; x: n; y: m; norm(A x - y)^2", "A", 1, 2 * np.outer(r_, x_)),
    "vector_by_vector": ("A: m x n; x: n; tanh(A x)", "x", 1, (1 - t_ ** 2)[:, None] * A_),
    "vector_by_matrix": ("W: m x n; x: n; tanh(W x)", "W", 1,
                         np.einsum("i,ik,l->ikl", 1 - tw ** 2, I_m, x_)),
    "matrix_by_matrix": ("X: n x n; inv(X)", "X", 1, -np.einsum("ik,lj->ijkl", Xi, Xi)),
    "matrix_by_matrix_rect": ("P: p x m; Y: m x n; Q: n x q; P Y Q", "Y", 1,
                              np.einsum("ik,lj->ijkl", P_, Q_)),
    "vector_by_scalar": ("x: n; c: scalar; exp(c x)", "c", 1, x_ * np.exp(0.5 * x_)),
    "hessian_vector": ("A: m x n; x: n; y: m; 0.5 norm(A x - y)^2", "x", 2, A_.T @ A_),
    "hessian_matrix": ("A: m x n; x: n; y: m; norm(A x - y)^2", "A", 2,
                       2 * np.einsum("ik,j,l->ijkl", I_m, x_, x_)),
    "hessian_logdet": ("X: n x n; logdet(X)", "X", 2, -np.einsum("li,jk->ijkl", Xi, Xi)),
}


@pytest.fixture(scope="module")
def value_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("values")
    for k, v in VALUES.items():
        np.save(d / f"{k}.npy", v)
    np.save(d / "c.npy", np.array(0.5))
    return d


def at_args(prog, d):
    names = parse_program(prog).variables
    return [a for k in names for a in ("--at", f"{k}={d}/{k}.npy")]


@pytest.fixture(scope="module")
def shape_runs(value_files):
    ids = list(SHAPE_CASES)
    cmds = []
    for cid in ids:
        prog, wrt, order, _ = SHAPE_CASES[cid]
        cmds.append(("grad", prog, "--wrt", wrt, "--order", order, *at_args(prog, value_files),
                     "--out", value_files / f"{cid}.npy"))
    results = dict(zip(ids, many(*cmds)))
    return {cid: (results[cid], value_files / f"{cid}.npy") for cid in ids}


@pytest.mark.parametrize("cid", list(SHAPE_CASES))
def test_derivative_shape_and_value(cid, shape_runs):
    (rc, out, err), path = shape_runs[cid]
    assert rc == 0, err
    got = np.load(path)
    want = SHAPE_CASES[cid][3]
    assert got.shape == want.shape
    assert rel_error(got, want) < 1e-10


def test_text_output_of_a_3d_derivative_reads_back_with_loadtxt(value_files):
    prog = "W: m x n; x: n; tanh(W x)"
    rc, out, err = matd("grad", prog, "--wrt", "W", *at_args(prog, value_files))
    assert rc == 0, err
    assert out.startswith("# ")
    got = np.loadtxt(io.StringIO(out)).reshape(m, m, n)
    np.testing.assert_allclose(got, SHAPE_CASES["vector_by_matrix"][3], rtol=1e-15, atol=1e-300)


def test_several_wrt_write_one_npz(value_files, tmp_path):
    prog = "A: m x n; x: n; y: m; norm(A x - y)^2"
    rc, out, err = matd("grad", prog, "--wrt", "x", "--wrt", "A", *at_args(prog, value_files),
                        "--check", "--out", tmp_path / "g.npz")
    assert rc == 0, err
    assert set(reported(out + err)) == {"x", "A"}
    with np.load(tmp_path / "g.npz") as z:
        assert sorted(z.keys()) == ["A", "x"]
        np.testing.assert_allclose(z["x"], 2 * A_.T @ r_, rtol=1e-12)
        np.testing.assert_allclose(z["A"], 2 * np.outer(r_, x_), rtol=1e-12)


def test_hvp_is_the_hessian_applied(value_files, tmp_path):
    v_, V_ = VALUES["v"], VALUES["V"]
    lsq = "A: m x n; x: n; y: m; 0.5 norm(A x - y)^2"
    mat = "A: m x n; x: n; y: m; norm(A x - y)^2"
    r = many(
        ("grad", lsq, "--wrt", "x", "--order", "2", "--hvp", f"{value_files}/v.npy",
         *at_args(lsq, value_files), "--out", tmp_path / "hv.npy"),
        ("grad", lsq, "--wrt", "x", "--order", "2", "--hvp", "[1, 0, -1, 2]", "--check",
         *at_args(lsq, value_files), "--out", tmp_path / "hv_lit.npy"),
        ("grad", mat, "--wrt", "A", "--order", "2", "--hvp", f"{value_files}/V.npy", "--check",
         *at_args(mat, value_files), "--out", tmp_path / "HV.npy"),
        ("grad", lsq, "--wrt", "x", "--hvp", "[1, 0, -1, 2]", *at_args(lsq, value_files)))
    for rc, out, err in r[:3]:
        assert rc == 0, err
    assert all(ok == "ok" for _, ok in reported(r[1][1] + r[1][2]).values()) and \
        reported(r[1][1] + r[1][2])
    assert all(ok == "ok" for _, ok in reported(r[2][1] + r[2][2]).values()) and \
        reported(r[2][1] + r[2][2])
    H = SHAPE_CASES["hessian_vector"][3]
    np.testing.assert_allclose(np.load(tmp_path / "hv.npy"), H @ v_, rtol=1e-12)
    np.testing.assert_allclose(np.load(tmp_path / "hv_lit.npy"), H @ [1, 0, -1, 2], rtol=1e-12)
    HA = SHAPE_CASES["hessian_matrix"][3]
    np.testing.assert_allclose(np.load(tmp_path / "HV.npy"), np.tensordot(HA, V_, 2),
                               rtol=1e-12)
    rc, _, err = r[3]
    assert rc == 2 and "--order 2" in err


def test_check_tolerance_and_against(value_files, tmp_path):
    prog = "A: m x n; x: n; y: m; norm(A x - y)^2"
    right = 2 * np.outer(r_, x_)
    np.save(tmp_path / "right.npy", right)
    np.save(tmp_path / "wrong.npy", right + 1e-3)
    np.save(tmp_path / "shape.npy", right.T)
    ats = at_args(prog, value_files)
    ok, tight, good, bad, shape, vs_x = many(
        ("grad", prog, "--wrt", "A", *ats, "--check"),
        ("grad", prog, "--wrt", "A", *ats, "--check", "--tol", "0"),
        ("grad", prog, "--wrt", "A", *ats, "--against", tmp_path / "right.npy"),
        ("grad", prog, "--wrt", "A", *ats, "--against", tmp_path / "wrong.npy"),
        ("grad", prog, "--wrt", "A", *ats, "--against", tmp_path / "shape.npy"),
        ("grad", prog, "--wrt", "x", *ats, "--against", tmp_path / "right.npy"))
    assert ok[0] == 0 and reported(ok[1] + ok[2])["A"][1] == "ok"
    assert tight[0] == 1 and "FAILED" in tight[2]
    assert good[0] == 0 and "right.npy" in good[2], good
    assert bad[0] == 1 and "wrong.npy" in bad[2] and "FAILED" in bad[2], bad
    assert shape[0] == 2 and "(4, 3)" in shape[2] and "(3, 4)" in shape[2], shape
    assert vs_x[0] == 2 and "right.npy" in vs_x[2], vs_x


def test_json(value_files):
    prog = "A: m x n; x: n; y: m; norm(A x - y)^2"
    rc, out, err = matd("grad", prog, "--wrt", "x", *at_args(prog, value_files), "--check",
                        "--format", "json")
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["wrt"] == ["x"] and obj["order"] == 1 and obj["shape"] == {"x": [n]}
    np.testing.assert_allclose(obj["derivative"]["x"], 2 * A_.T @ r_, rtol=1e-12)
    (check,) = obj["checks"]
    assert check["ok"] is True and check["error"] < 1e-6 and "x" in check["what"]


def test_float32(value_files, tmp_path):
    prog = "A: m x n; x: n; y: m; sum(tanh(A x - y)) + norm(A x)^2"
    ats = at_args(prog, value_files)
    r = many(("grad", prog, "--wrt", "A", *ats, "--out", tmp_path / "64.npy"),
             ("grad", prog, "--wrt", "A", *ats, "--dtype", "float32", "--out", tmp_path / "32.npy"),
             ("grad", prog, "--wrt", "A", *ats, "--dtype", "float32", "--order", "2",
              "--out", tmp_path / "h32.npy"),
             ("grad", prog, "--wrt", "A", *ats, "--order", "2", "--out", tmp_path / "h64.npy"))
    for rc, _, err in r:
        assert rc == 0, err
    a, b = np.load(tmp_path / "64.npy"), np.load(tmp_path / "32.npy")
    assert b.dtype == np.float32 and b.shape == a.shape == (m, n)
    assert rel_error(b, a) < 1e-4
    assert rel_error(np.load(tmp_path / "h32.npy"), np.load(tmp_path / "h64.npy")) < 1e-4


def test_float32_check_passes_on_a_well_conditioned_quadratic():
    """--check at float32 uses its own default tolerance (1e-3); the finite differences it
    compares with must be accurate enough at float32 for x^T A x to pass."""
    rc, out, err = matd("grad", "A: 3 x 3; x: 3; x^T A x", "--wrt", "x", "--random", "--seed",
                        "1", "--check", "--dtype", "float32")
    assert rc == 0, out + err


def test_numerical_trouble_and_bad_usage(tmp_path):
    np.save(tmp_path / "sing.npy", np.ones((3, 3)))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    r = many(("grad", "X: n x n; logdet(X)", "--wrt", "X", "--at", f"X={tmp_path}/sing.npy"),
             ("grad", "X, B: n x n; tr(inv(X) B)", "--wrt", "B", "--at", f"X={tmp_path}/sing.npy",
              "--random"),
             ("grad", "x: n; sum(exp(x))", "--wrt", "x", "--at", "x=[1000, 1]"),
             ("grad", "x: n; sum(x .* x)", "--wrt", "x", "--at", f"x={tmp_path}/nan.npy"),
             ("grad", "x: n; sum(x)", "--wrt", "y", "--random"),
             ("grad", "x: 3; norm(x)^2", "--wrt", "x"),
             ("grad", "A: m x n; x: n; norm(A x)^2", "--wrt", "x", "--wrt", "A", "--random",
              "--out", tmp_path / "two.npy"))
    (sing, sing2, over, nan, unknown, missing, two) = r
    assert sing[0] == 2 and "X^-1" in sing[2] and "singular" in sing[2], sing
    assert sing2[0] == 2 and "singular" in sing2[2], sing2
    assert over[0] == 2 and "exp(x)" in over[2], over
    assert nan[0] == 2 and "NaN" in nan[2], nan
    assert unknown[0] == 2 and "'y'" in unknown[2], unknown
    assert missing[0] == 2 and "no value for x" in missing[2], missing
    assert two[0] == 2 and ".npz" in two[2], two
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy", "sing.npy"]
