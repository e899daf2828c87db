"""The real `matd` command, through subprocess: outputs, error format, exit statuses."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MATD = str(Path(sys.executable).parent / "matd")


def run(*args, stdin: str | bytes | None = None):
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([MATD, *args], input=data, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err
    return p.returncode, out, err


def test_design_card_example():
    rc, out, _ = run("diff", "A: m x n; X: m x p; B: p x n; tr(A^T X B)", "--wrt", "X")
    assert rc == 0
    lines = out.splitlines()
    assert lines[1] == "df    = tr(B Aᵀ dX)"
    assert lines[2].split() == ["∂f/∂X", "=", "A", "Bᵀ", "m×p"]


def test_json_contract():
    rc, out, _ = run("diff", "X: n x n; logdet(X)", "--wrt", "X", "--format", "json")
    obj = json.loads(out)
    assert rc == 0
    assert {k: obj[k] for k in ("expression", "wrt", "order", "shape", "differential",
                                "derivative")} == {
        "expression": "logdet(X)", "wrt": "X", "order": 1, "shape": ["n", "n"],
        # read alone, `X^-1 dX` would scale by a scalar dX (the naming rule): declared
        "differential": "X: n x n; dX: n x n; tr(X^-1 dX)", "derivative": "X^-T"}


def test_derivative_evaluates_back(tmp_path):
    """The JSON derivative is a matd program that `matd eval` accepts."""
    prog = "X: m x d; W1: d x h; W2: h x k; Y: m x k; 0.5 norm(tanh(X W1) W2 - Y)^2"
    rc, out, _ = run("diff", prog, "--wrt", "W1", "--format", "json")
    deriv = json.loads(out)["derivative"]
    rng = np.random.default_rng(0)
    arrays = {"X": (5, 3), "W1": (3, 4), "W2": (4, 2), "Y": (5, 2)}
    args = []
    for name, shape in arrays.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, rng.standard_normal(shape))
        args += ["--at", f"{name}={path}"]
    rc, out, err = run("eval", deriv, *args, "--out", str(tmp_path / "g.npy"))
    assert rc == 0, err
    rc, _, err = run("grad", prog, "--wrt", "W1", *args, "--against", str(tmp_path / "g.npy"))
    assert rc == 0, err


def test_grad_check_and_shapes(tmp_path):
    rc, out, err = run("grad", "A: 3 x 3; x: 3; x^T A x", "--wrt", "x", "--random", "--seed",
                       "1", "--check")
    assert rc == 0 and "(ok)" in out + err
    out_file = tmp_path / "j.npz"
    rc, _, err = run("grad", "W: m x n; x: n; tanh(W x)", "--wrt", "W", "--wrt", "x",
                     "--random", "--dims", "m=3,n=2", "--out", str(out_file))
    assert rc == 0, err
    with np.load(out_file) as z:
        assert z["W"].shape == (3, 3, 2) and z["x"].shape == (3, 2)


@pytest.mark.parametrize("args,message,place,carets", [
    (("shape", "A: m x n; x: p; A x"), "matrix product of m×n and p (a vector)",
     "<expr>:17", "                  ^ -"),
    (("shape", "x: n; x^2"), "'^2' is a matrix power", "<expr>:7", "        ^"),
    (("shape", "A: m x n; tr(A)"), "tr needs a square matrix, got m×n", "<expr>:14",
     "               ^"),
    (("shape", "A: m x n; A +"), "unexpected end of input", "<expr>:14", None),
    (("shape", "foo(x)"), "unknown function 'foo'", "<expr>:1", "  ^^^"),
    (("shape", "A: m x n; A: n x n; A"), "'A' is declared twice", "<expr>:11", None),
    (("shape", "x: n; y: m; x + y"), "sum: shapes n (a vector) and m (a vector) differ",
     "<expr>:13", None),
    (("shape", "S: m x n spd; S"), "'spd' needs a square matrix", "<expr>:10", None),
    (("diff", "x: n; x", "--wrt", "y"), "--wrt y: no variable 'y'", "matd", None),
    (("diff", "W: m x n; x: n; W x", "--order", "2"), "--order 2 needs a scalar", "matd",
     None),
])
def test_errors(args, message, place, carets):
    rc, out, err = run(*args)
    assert rc == 2
    first = err.splitlines()[0]
    assert first.startswith(f"{place}: error: ") and message in first
    if carets:
        assert carets in err.splitlines()
    assert "hint:" in err or place == "matd"


def test_hint_for_elementwise_power():
    _, _, err = run("shape", "x: n; x^2")
    assert "hint: for the elementwise power use .^" in err


def test_check_files(tmp_path):
    good = tmp_path / "good.matd"
    good.write_text("A: m x n\nx: n\nnorm(A x)^2\n")
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\n# matd: A: m x n; x: p\n# matd: A x\nx = 1\n")
    rc, out, _ = run("check", str(good))
    assert rc == 0 and out == ""
    rc, out, _ = run("check", str(good), str(bad))
    assert rc == 1
    assert out.splitlines() == [f"{bad}:3:9: error: matrix product of m×n and p (a vector) "
                                "(hint: the inner dimensions n and p must agree)  [MD002]"]
    rc, out, _ = run("check", str(tmp_path / "missing.matd"))
    assert rc == 2
    rc, out, _ = run("check", "-", "--format", "json", stdin="x: n; x^T x; tr(x)\n")
    report = json.loads(out)
    assert rc == 1 and report["errors"] == 1
    assert report["files"][0]["errors"][0]["col"] == 17


def test_numerical_trouble_is_named():
    rc, _, err = run("eval", "X: n x n; inv(X)", "--at", "X=[[1,2],[2,4]]")
    assert rc == 2 and "X^-1" in err and "singular" in err
    rc, _, err = run("eval", "x: n; exp(x)", "--at", "x=[1000, 1]")
    assert rc == 2 and "exp(x)" in err


def test_gpu_without_cupy_is_a_clear_error():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: the GPU path runs instead")
    except ImportError:
        pass
    rc, _, err = run("eval", "x: n; sum(x)", "--at", "x=[1,2]", "--device", "gpu")
    assert rc == 2 and "CuPy" in err


def test_numpy_format_runs():
    rc, src, _ = run("diff", "A: m x n; x: n; b: m; 0.5 norm(A x - b)^2", "--wrt", "x",
                     "--format", "numpy")
    ns: dict = {}
    exec(src, ns)  # noqa: S102 - the generated source is the thing under test
    rng = np.random.default_rng(0)
    A, x, b = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    value, g = ns["matd_f"](A, x, b)
    assert np.isclose(value, 0.5 * np.sum((A @ x - b) ** 2))
    assert np.allclose(g, A.T @ (A @ x - b))


def test_subgradients_at_kinks():
    """relu, abs and norm at 0 take the subgradient 0 (man page, CONVENTIONS)."""
    for src in ("x: n; norm(x)", "x: n; sum(relu(x))", "x: n; sum(abs(x))", "x: n; norm1(x)"):
        rc, out, err = run("grad", src, "--wrt", "x", "--at", "x=[0,0,0]", "--format", "json")
        assert rc == 0, (src, err)
        assert json.loads(out)["derivative"]["x"] == [0.0, 0.0, 0.0], src
