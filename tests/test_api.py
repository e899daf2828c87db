"""The Python API (`import matd`): what it returns agrees with the `matd` command, because the
command calls it; values are asserted against finite differences, not strings alone."""
from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matd

BIN = Path(sys.executable).parent
MATD = str(BIN / "matd")
ENV = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}


def run(*args, stdin: str | None = None):
    p = subprocess.run([MATD, *args], input=stdin.encode() if stdin else None,
                       capture_output=True, env=ENV)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err
    return p.returncode, out, err


def fd_grad(f, X, h=1e-6):
    X = np.asarray(X, float)
    out = np.zeros(np.shape(f(X)) + X.shape)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        out[(Ellipsis,) + idx] = (np.asarray(f(X + E)) - np.asarray(f(X - E))) / (2 * h)
    return out


@pytest.mark.parametrize("module", ["matd", "matd.symbolic", "matd.numbers",
                                    "matd.diagnostics", "matd.formats", "matd.cli.batch",
                                    "matd.cli.inputs"])
def test_docstring_examples_run(module):
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_public_surface_is_typed_and_documented():
    for name in ("diff", "grad", "eval", "check"):
        f = getattr(matd, name)
        assert f.__doc__ and ">>>" in f.__doc__ and f.__annotations__.get("return")
    assert matd.MatdError is __import__("matd.core.errors", fromlist=["x"]).MatdError
    root = Path(matd.__file__).parent
    assert (root / "py.typed").exists()
    from importlib.metadata import version
    assert matd.__version__ == version("matd")
    assert {"diff", "grad", "eval", "check", "MatdError", "__version__"} <= set(matd.__all__)


def test_import_matd_is_light():
    code = "import sys, matd; print(sorted(m for m in ('numpy', 'lark', 'rich', 'sympy') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_python_m_matd_runs_the_cli():
    p = subprocess.run([sys.executable, "-m", "matd", "--help"], capture_output=True,
                       text=True, cwd="/", env=ENV)
    assert p.returncode == 0 and "matd diff" not in p.stderr and "diff" in p.stdout
    p = subprocess.run([sys.executable, "-m", "matd", "diff", "X: n x n; logdet(X)",
                        "--format", "json"], capture_output=True, text=True, cwd="/", env=ENV)
    assert p.returncode == 0 and json.loads(p.stdout)["derivative"] == "X^-T"


def test_diff_result_matches_the_cli_in_every_format():
    prog = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w"
    r = matd.diff(prog, wrt=["w", "X"])
    assert r.wrt == ("w", "X")
    assert r["w"].kind == "gradient" and r["w"].shape == ("d",)
    assert r["X"].shape == ("m", "d")
    for fmt, text in (("json", r.json()), ("matd", r.matd()), ("latex", r.latex()),
                      ("numpy", r.numpy_source()), ("text", r.text())):
        rc, out, err = run("diff", prog, "--wrt", "w", "--wrt", "X", "--format", fmt)
        assert rc == 0, err
        assert out == text + "\n", fmt
    recs = json.loads(r.json())["results"]     # by several variables: one object
    assert [o["derivative"] for o in recs] == [r["w"].derivative, r["X"].derivative]


def test_single_variable_properties_and_several():
    r = matd.diff("X: n x n; logdet(X)")
    assert (r.derivative, r.shape, r.kind) == ("X^-T", ("n", "n"), "gradient")
    assert r.differential == "X: n x n; dX: n x n; tr(X^-1 dX)"
    several = matd.diff("A: m x n; x: n; norm(A x)^2")
    with pytest.raises(matd.MatdError, match="say which"):
        several.derivative
    with pytest.raises(matd.MatdError, match="no result for 'B'"):
        several["B"]


def test_printed_derivative_evaluates_to_grad_numbers():
    prog = "X: m x d; W: d x k; Y: m x k; 0.5 norm(tanh(X W) - Y)^2"
    rng = np.random.default_rng(3)
    X, W, Y = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), rng.standard_normal((5, 2))
    r = matd.diff(prog, "W")
    printed = matd.eval(r.derivative, X=X, W=W, Y=Y)
    g = matd.grad(prog, "W", X=X, W=W, Y=Y)
    ref = fd_grad(lambda W_: 0.5 * np.sum((np.tanh(X @ W_) - Y) ** 2), W)
    assert g.shape == (3, 2)
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(printed, g, rtol=1e-12, atol=1e-12)


def test_grad_shapes_follow_the_command():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((3, 2)), rng.standard_normal(2)
    out = matd.grad("W: m x n; x: n; tanh(W x)", ["W", "x"], W=W, x=x)
    assert out["W"].shape == (3, 3, 2) and out["x"].shape == (3, 2)
    np.testing.assert_allclose(out["x"], fd_grad(lambda x_: np.tanh(W @ x_), x), atol=1e-8)
    H = matd.grad("A: n x n; x: n; x^T A x", "x", order=2, A=np.diag([1.0, 2.0]), x=x)
    np.testing.assert_allclose(H, np.diag([2.0, 4.0]))


def test_eval_random_dims_and_at():
    v = matd.eval("S: n x n spd; logdet(S)", random=True, seed=1, dims={"n": 4})
    assert v.shape == ()
    rc, out, _ = run("eval", "S: n x n spd; logdet(S)", "--random", "--seed", "1", "--dims",
                     "n=4", "--format", "json")
    assert json.loads(out)["value"] == pytest.approx(float(v), rel=1e-15)
    # names that clash with a keyword go through at=
    assert matd.eval("seed: n; sum(seed)", at={"seed": [1.0, 2.0]}).item() == 3.0
    with pytest.raises(matd.MatdError, match="given twice"):
        matd.eval("x: n; sum(x)", at={"x": [1.0]}, x=[2.0])


def test_errors_raise_matd_error_with_place():
    with pytest.raises(matd.MatdError) as e:
        matd.diff("A: m x n; x: p; A x")
    assert e.value.span is not None and e.value.source.text == "A: m x n; x: p; A x"
    with pytest.raises(matd.MatdError, match="no value for x"):
        matd.eval("x: n; sum(x)")
    with pytest.raises(matd.MatdError, match="order"):
        matd.diff("x: n; sum(x)", order=3)
    with pytest.raises(matd.MatdError, match="string"):
        matd.diff(42)


def test_check_diagnostics_match_the_cli():
    text = "x: n; x^T x; tr(x)"
    (d,) = matd.check(text)
    assert (d.line, d.col, d.code) == (1, 17, "MD002") and d.message
    rc, out, _ = run("check", "-", "--format", "json", stdin=text + "\n")
    rec = json.loads(out)["files"][0]["errors"][0]
    assert rc == 1 and (rec["line"], rec["col"], rec["code"]) == (d.line, d.col, d.code)
    assert matd.check("A: m x n; x: n; A x") == []
    (s,) = matd.check("A: m x n; A +")
    assert s.code == "MD001" and s.name == "syntax"


def test_format_matd_with_several_variables_is_one_program():
    prog = "X: m x d; w: d; y: m; b: scalar; sum(softplus(X w + b)) - y^T (X w)"
    r = matd.diff(prog)
    text = r.matd()
    assert text.count("X: m x d") == 1                   # declarations once
    assert "# ∂f/∂w: d" in text and "grad_w = " in text and "grad_b = " in text
    assert text.splitlines()[-1] == "grad_X"             # the first variable's derivative
    rng = np.random.default_rng(5)
    env = {"X": rng.standard_normal((4, 3)), "w": rng.standard_normal(3),
           "y": rng.standard_normal(4), "b": np.array(0.3)}
    got = matd.eval(text, X=env["X"], w=env["w"], y=env["y"], b=env["b"])
    np.testing.assert_allclose(got, matd.grad(prog, "X", **env), rtol=1e-12)
    # each named derivative evaluates to grad's numbers
    for name in ("w", "y", "b"):
        alone = "\n".join(text.splitlines()[:-1] + [f"grad_{name}"])
        np.testing.assert_allclose(matd.eval(alone, **env), matd.grad(prog, name, **env),
                                   rtol=1e-12, atol=1e-14)
    rc, out, err = run("eval", text, "--random", "--seed", "2")
    assert rc == 0, err
    rc, out, err = run("check", "-", stdin=text)
    assert rc == 0, out + err


def test_format_matd_names_avoid_the_programs_names():
    r = matd.diff("grad_x: scalar; x: n; A: n x n; grad_x x^T A x", wrt=["x", "A"])
    text = r.matd()
    assert "grad_x_ = " in text and text.splitlines()[-1] == "grad_x_"
    assert matd.check(text) == []
