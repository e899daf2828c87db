"""Issue 7: every printed formula means what matd computed, and no input crashes matd.

Regression tests for the reproducers, through the real `matd` command: numbers spell what
they say, printers keep broadcasts and parentheses, printed programs stand alone, user
functions always differentiate, Hessians without a Kronecker form, divisions by zero,
and bounded work for long products and high powers.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MATD = str(Path(sys.executable).with_name("matd"))


def matd(*args: str, stdin: str | None = None, timeout: float = 60):
    p = subprocess.run([MATD, *args], input=stdin, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "NO_COLOR": "1"})
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode != 3, p.stderr
    return p.returncode, p.stdout, p.stderr


def value(*args: str) -> np.ndarray:
    rc, out, err = matd(*args, "--format", "json")
    assert rc == 0, err
    return np.asarray(json.loads(out)["value"], dtype=float)


# --- 1. numbers --------------------------------------------------------------------------
EXPONENTS = [  # (spelling of c^p or c.^p, p)
    ("c^-1.5", -1.5), ("c^{-1.5}", -1.5), ("c^(-1.5)", -1.5), ("c.^-1.5", -1.5),
    ("c^-1e3", -1e3), ("c^-1e-1", -0.1), ("c^-1E+1", -10), ("c^1e-3", 1e-3), ("c^-.5", -0.5),
    ("c^.5", 0.5), ("c^2.5", 2.5), ("c^-1", -1), ("c^{-1}", -1), ("c⁻¹", -1), ("c^-10", -10),
    ("c⁻²", -2), ("c²", 2), ("c¹⁰", 10), ("c^-0.5", -0.5), ("c.^2", 2), ("c^(1/2)", 0.5),
]


@pytest.mark.parametrize("text, p", EXPONENTS, ids=[t for t, _ in EXPONENTS])
def test_exponent_spellings_mean_their_number(text, p):
    got = value("eval", f"c: scalar; {text}", "--at", "c=2")
    assert got == pytest.approx(2.0 ** p, rel=1e-12)


def test_inverse_followed_by_a_product_still_reads_as_the_inverse():
    assert value("eval", "c: scalar; c^-1 .5", "--at", "c=2") == pytest.approx(0.25)
    assert value("eval", "c: scalar; c^-1 c", "--at", "c=2") == pytest.approx(1.0)


def test_printed_fractional_exponent_parses_back():
    rc, out, _ = matd("diff", "c: scalar; c^-0.5", "--format", "json")
    deriv = json.loads(out)["derivative"]
    assert "c^-1.5" in deriv
    assert value("eval", f"c: scalar; {deriv}" if "c:" not in deriv else deriv,
                 "--at", "c=2") == pytest.approx(-0.5 * 2 ** -1.5)


def test_a_number_that_overflows_is_a_clear_error():
    rc, _, err = matd("diff", "x: n; 1e999 sum(x)")
    assert rc == 2 and "too large" in err and "^^^^^" in err


# --- 2 and 3. printed programs -------------------------------------------------------------
def grad_numbers(expr: str, wrt: str, at: list[str]) -> np.ndarray:
    args = ["grad", expr, "--wrt", wrt, "--format", "json"]
    for a in at:
        args += ["--at", a]
    rc, out, err = matd(*args)
    assert rc == 0, err
    return np.asarray(json.loads(out)["derivative"][wrt], dtype=float)


def printed_value(program: str, at: list[str]) -> np.ndarray:
    args = ["eval", program, "--format", "json"]
    for a in at:
        args += ["--at", a]
    rc, out, err = matd(*args)
    assert rc == 0, (program, err)
    return np.asarray(json.loads(out)["value"], dtype=float)


A3 = "[[1,2,0],[0,1,3],[2,0,1]]"
X3 = "[[0.5,1,2],[1,-1,0],[3,0.25,1]]"
CASES = [  # expression, wrt, --at values
    ("A, X: n x n; t: scalar; A (X + t)", "t", [f"A={A3}", f"X={X3}", "t=0.7"]),
    ("y: m; b: scalar; y + b", "b", ["y=[1,2,3,4]", "b=0.5"]),
    ("A, B, C: n x n; t: scalar; A .* (-(t B) C)", "t",
     [f"A={A3}", f"B={X3}", f"C={A3}", "t=2"]),
    ("X: m x n; sum(X) / m + sum(X .* X) / n", "X", ["X=[[1,2,3],[4,5,6]]"]),
    ("sq(t) = t^3; X: m x n; c: scalar; c sum(sq(X))", "c", ["X=[[1,2],[3,4]]", "c=2"]),
    ("X: m x n; b: n; y: m; sum(exp(X b + y + 1))", "b",
     ["X=[[1,0.5],[0.25,1],[0,1]]", "b=[0.1,0.2]", "y=[1,2,3]"]),
]


@pytest.mark.parametrize("expr, wrt, at", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("key", ["derivative", "matd"])
def test_printed_derivative_evaluates_to_grads_numbers(expr, wrt, at, key):
    """The JSON derivative and the --format matd program, each alone, evaluate to what
    `matd grad` computes (broadcasts kept, parentheses kept, dims and functions declared)."""
    if key == "matd":
        rc, program, err = matd("diff", expr, "--wrt", wrt, "--format", "matd")
    else:
        rc, out, err = matd("diff", expr, "--wrt", wrt, "--format", "json")
        program = json.loads(out)["derivative"]
    assert rc == 0, err
    assert "inf" not in program and "nan" not in program
    want = grad_numbers(expr, wrt, at)
    code = "\n".join(ln for ln in program.splitlines() if not ln.startswith("#"))
    got = printed_value(program, [a for a in at
                                  if re.search(rf"\b{a.split('=')[0]}\b", code)])
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-12, atol=1e-12)


def test_broadcast_is_printed_not_dropped():
    rc, out, _ = matd("diff", "A, X: n x n; t: scalar; A (X + t)", "--wrt", "t",
                      "--format", "json")
    assert json.loads(out)["derivative"] == "A: n x n; A ones(n, n)"
    rc, out, _ = matd("diff", "y: m; b: scalar; y + b", "--wrt", "b", "--format", "json")
    assert json.loads(out)["derivative"] == "y: m; ones(m)"   # y declares m's size


def test_a_negated_product_keeps_its_parentheses():
    rc, out, _ = matd("eval", "A, B, C: n x n; A .* (-(B C))", "--random", "--format", "json")
    assert rc == 0
    from matd.core.printers import to_matd
    from matd.grammar.parse import parse_program
    f = parse_program("A, B, C: n x n; A .* (-(B C))").result
    assert to_matd(f) == "A .* (-B C)"          # not A .* -B C, which is (A .* -B) C
    rc, out, _ = matd("diff", "A, B, C: n x n; t: scalar; A .* (-(t B) C)", "--wrt", "t",
                      "--format", "json")
    assert json.loads(out)["derivative"].endswith("; -((B C) .* A)")


def test_a_dim_used_as_a_number_is_declared():
    rc, out, _ = matd("diff", "X: m x n; sum(X) / m + sum(X) / n", "--wrt", "X",
                      "--format", "json")
    deriv = json.loads(out)["derivative"]
    assert deriv.startswith("X: m x n;")
    rc, out, err = matd("shape", deriv)
    assert rc == 0, err


def test_format_matd_defines_the_user_functions_it_uses():
    rc, out, _ = matd("diff", "sq(t) = t^3; g(t) = sq(t) + 1; X: m x n; c: scalar; "
                      "c sum(g(X))", "--wrt", "c", "--format", "matd")
    assert "sq(t) = t^3" in out and "g(t) = sq(t) + 1" in out
    assert out.index("sq(t)") < out.index("g(t) =")
    rc, out2, err = matd("eval", out, "--random", "--seed", "1")
    assert rc == 0, err


def test_constants_that_would_overflow_are_not_folded_to_inf():
    for expr in ("x: n; (1e308 + 1e308) sum(x)", "x: n; 1e308 sum(x) + 1e308 sum(x)",
                 "x: n; 1e308 (1e308 sum(x))"):
        rc, out, err = matd("diff", expr, "--format", "json")
        assert rc == 0, err
        obj = json.loads(out)
        assert "inf" not in obj["derivative"] and "nan" not in obj["derivative"]


# --- 5. user functions, Hessians, zeros ------------------------------------------------------
BODIES = ["tanh(t)", "sigmoid(t)", "abs(t)^3", "step(t) t", "t^t", "norm(t)", "2^t",
          "sign(t) t^2", "sqrt(t)", "exp(t) / t", "inv(t)", "1 / (1 + t^2)", "relu(t) + t"]


@pytest.mark.parametrize("body", BODIES)
def test_every_user_function_body_differentiates(body):
    expr = f"g(t) = {body}; x: 4; sum(g(x))"
    rc, out, err = matd("diff", expr, "--wrt", "x")
    assert rc == 0, err
    rc, out, err = matd("grad", expr, "--wrt", "x", "--at", "x=[0.3,1.2,0.7,2.1]", "--check")
    assert rc == 0, err
    assert "(ok)" in err + out


@pytest.mark.parametrize("body", ["eigvec_max(t)", "unvec(t, 1)", "eye(3)"])
def test_a_body_without_an_entrywise_meaning_is_a_user_error(body):
    rc, _, err = matd("check", "-", stdin=f"g(t) = {body}\n")
    assert rc in (1, 2) and "user function" in err + _


@pytest.mark.parametrize("expr, at", [
    ("u: 2; logdet(diag(u))", "u=[0.3,0.7]"),
    ("x: 3; tr(diag(x)^2)", "x=[0.3,-0.7,2]"),
])
def test_hessians_through_diag(expr, at):
    rc, out, err = matd("grad", expr, "--wrt", expr.split(":")[0], "--order", "2", "--at", at,
                        "--check")
    assert rc == 0, err
    rc, out, err = matd("diff", expr, "--order", "2", "--format", "json")
    assert rc == 0 and json.loads(out)["derivative"] is not None, err


@pytest.mark.parametrize("expr", ["c: scalar; c / 0", "x: n; 0^-1 x", "x: n; sum(x) / (1 - 1)"])
def test_division_by_zero_is_not_a_crash(expr):
    rc, out, err = matd("diff", expr, "--format", "json")
    assert rc == 0, err
    assert "inf" not in out


# --- 6. bounded work -------------------------------------------------------------------------
def test_a_long_product_of_one_matrix_is_differentiated_right():
    k = 25
    expr = "A: 3 x 3; tr(" + " ".join(["A"] * k) + ")"
    A = "[[0.3,0.1,0],[0.1,0.2,0.1],[0,0.2,0.3]]"
    rc, out, err = matd("grad", expr, "--wrt", "A", "--at", f"A={A}", "--check", timeout=60)
    assert rc == 0, err
    got = grad_numbers(expr, "A", [f"A={A}"])
    Am = np.array(json.loads(A))
    want = k * np.linalg.matrix_power(Am, k - 1).T            # ∂ tr(Aᵏ)/∂A = k (Aᵏ⁻¹)ᵀ
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)


def test_a_high_matrix_power_is_a_clear_error_to_differentiate_and_fine_to_evaluate():
    rc, _, err = matd("diff", "X: n x n; tr(X^100000)", "--wrt", "X")
    assert rc == 2 and "X^100000" in err and "64" in err
    got = value("eval", "X: 2 x 2; tr(X^1000001)", "--at", "X=[[1,0],[0,-1]]")
    assert got == pytest.approx(0.0)
    assert math.isfinite(float(got))


# --- printers that read back: sized identities; Hessians within a structure -----------------
def test_identities_carry_their_size_where_nothing_else_gives_it():
    sys.path.insert(0, str(Path(__file__).parent))
    from printed_readers import latex_to_matd, read_text_output, unicode_to_matd
    rc, out, err = matd("diff", "M: m x n; norm(M)^4", "--wrt", "M", "--order", "2")
    rows, _ = read_text_output(out)
    text = rows["∂²f/∂vec M²"][0]
    assert "vec(Iₙ)ᵀ (Iₙ ⊗ Mᵀ)" in text
    assert "eye(n)" in unicode_to_matd(text)
    rc, out, err = matd("diff", "M: m x n; norm(M)^4", "--wrt", "M", "--order", "2",
                        "--format", "latex")
    assert r"\mathrm{I}_{n}" in out and "eye(n)" in latex_to_matd(r"\mathrm{I}_{n}")
    rc, out, err = matd("diff", "S: n x n; logdet(4 eye(n) + S)", "--wrt", "S")
    assert "(4 I + S)⁻ᵀ" in out            # beside S, a plain I


@pytest.mark.parametrize("attr", ["sym", "spd", "diag"])
def test_hessian_by_a_structured_matrix_is_the_restricted_operator(attr):
    """P H P (sym/spd, P = (I + K)/2) or D H D (diag), against JAX's unconstrained Hessian
    projected the same way."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    S = np.array([[1.0, 0.3, 0.1], [0.3, 0.5, 0.2], [0.1, 0.2, 0.9]])
    if attr == "diag":
        S = np.diag(np.diag(S))
    A = np.array([[0.2, 1.0, 0.0], [0.5, -0.3, 0.4], [0.1, 0.0, 0.7]])
    expr = f"S: 3 x 3 {attr}; A: 3 x 3; logdet(4 eye(3) + S) + tr(S A S)"
    rc, out, err = matd("grad", expr, "--wrt", "S", "--order", "2", "--format", "json",
                        "--at", f"S={S.tolist()}", "--at", f"A={A.tolist()}", "--check")
    assert rc == 0, err
    got = np.asarray(json.loads(out)["derivative"]["S"])
    f = lambda X: jnp.linalg.slogdet(4 * jnp.eye(3) + X)[1] + jnp.trace(X @ A @ X)  # noqa: E731
    H = np.asarray(jax.hessian(f)(jnp.asarray(S)))
    if attr == "diag":
        keep = np.eye(3, dtype=bool)
        H = H * keep[:, :, None, None] * keep[None, None, :, :]
    else:
        H = (H + H.transpose(1, 0, 2, 3)) / 2
        H = (H + H.transpose(0, 1, 3, 2)) / 2
    np.testing.assert_allclose(got, H, rtol=1e-9, atol=1e-12)


def test_a_deep_chain_of_scalar_functions_is_linear_work_and_right():
    """d exp(exp(…exp(c)…)) is a product as long as the chain: simplified in linear work
    (operation counts, not time: the printed text grows linearly with the depth)."""
    sizes, tex = [], []
    for k in (100, 200):
        expr = "c: scalar; " + "sin(" * k + "c" + ")" * k
        rc, out, err = matd("diff", expr, "--order", "2", "--format", "json")
        assert rc == 0, err
        sizes.append(len(out))
        rc, out, err = matd("diff", expr, "--order", "2", "--format", "latex")
        assert rc == 0, err
        tex.append(len(out))    # shared parts named once (\text{where } t_{1} &= …)
        rc, out, err = matd("grad", expr, "--wrt", "c", "--order", "2", "--at", "c=0.3",
                            "--check")
        assert rc == 0, err
    assert sizes[1] < 2.5 * sizes[0] and tex[1] < 2.5 * tex[0]


def test_numbers_that_do_not_fold_are_left_alone_in_linear_work():
    """1e308 · 2 overflows: the simplifier leaves such a product whole instead of moving its
    numbers around pass after pass (2.3 s before); the value is then reported as Inf."""
    rc, out, err = matd("diff", "v: n; sum(sqrt(1e308 * v))", "--order", "2", "--format",
                        "json", timeout=20)
    assert rc == 0, err
    assert "inf" not in out
    rc, out, err = matd("grad", "v: 3; sum(sqrt(1e300 * v))", "--wrt", "v", "--order", "2",
                        "--at", "v=[1,2,3]")   # 1e300 · 2e300 overflows on the way: reported
    assert rc == 2 and "not finite" in err, err
