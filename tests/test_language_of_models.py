"""Issue 9: the language of real models, through the real `matd` command — axis arguments
and their errors, elementwise max/min, the spellings people type, suggestions that stay
within a family of functions, and the printed forms of the bugs found in these models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matd_cli import derivative, matd


def evaluate(program: str, *at: str) -> np.ndarray:
    args = [a for kv in at for a in ("--at", kv)]
    rc, out, err = matd("eval", program, *args, "--format", "json")
    assert rc == 0, err
    return np.asarray(json.loads(out)["value"], dtype=float)


X = "X=[[1,2,3],[4,5,6]]"
XA = np.array([[1.0, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("expr, want", [
    ("sum(X, 1)", XA.sum(axis=0)), ("sum(X, 2)", XA.sum(axis=1)), ("sum(X)", XA.sum()),
    ("mean(X)", XA.mean()), ("mean(X, 1)", XA.mean(axis=0)), ("mean(X, 2)", XA.mean(axis=1)),
    ("logsumexp(X, 2)", np.log(np.exp(XA).sum(axis=1))),
    ("softmax(X, 2)", np.exp(XA) / np.exp(XA).sum(axis=1, keepdims=True)),
    ("softmax(X, 1)", np.exp(XA) / np.exp(XA).sum(axis=0, keepdims=True)),
    ("X - mean(X, 1)", XA - XA.mean(axis=0)), ("X - mean(X, 2)", XA - XA.mean(axis=1)[:, None]),
    ("max(X, 3)", np.maximum(XA, 3)), ("min(2.5, X)", np.minimum(XA, 2.5)),
    ("trace(X^T X)", np.trace(XA.T @ XA)), ("transpose(X)", XA.T),
    ("inverse(X X^T)", np.linalg.inv(XA @ XA.T)), ("tril(X)", np.tril(XA)),
    ("triu(X, 1)", np.triu(XA, 1)), ("tril(X, -1)", np.tril(XA, -1)),
])
def test_axis_forms_and_spellings_evaluate(expr, want):
    got = evaluate(f"X: m x n; {expr}", X)
    np.testing.assert_allclose(got.reshape(np.shape(want)) if np.ndim(want) else got, want,
                               rtol=1e-12)


def test_axis_results_keep_their_orientation():
    rc, out, _ = matd("shape", "X: m x n; sum(X, 1)")
    assert rc == 0 and "# result: 1 x n" in out
    rc, out, _ = matd("shape", "X: m x n; mean(X, 2)")
    assert rc == 0 and "# result: m\n" in out


def test_softmax_of_a_matrix_needs_a_dimension():
    rc, _, err = matd("diff", "Z: m x n; sum(softmax(Z))")
    assert rc == 2
    assert "softmax(Z, 2)" in err and "softmax(Z, 1)" in err and "^" in err


@pytest.mark.parametrize("call", ["sum(X, 3)", "mean(X, k)", "softmax(X, 0)"])
def test_a_dimension_is_1_or_2(call):
    rc, _, err = matd("diff", f"X: m x n; sum({call})")
    assert rc == 2 and "is 1 or 2" in err and "^" in err


@pytest.mark.parametrize("typo, never", [
    ("logm", ("log", "logdet")), ("cosm", ("cos",)), ("tanhm", ("tanh",)),
])
def test_suggestions_stay_in_the_family(typo, never):
    rc, _, err = matd("diff", f"X: n x n; tr({typo}(X))")
    assert rc == 2 and f"unknown function '{typo}'" in err
    assert "matd functions" in err
    for name in never:
        assert f"'{name}'" not in err


@pytest.mark.parametrize("typo, meant", [
    ("expmm", "expm"), ("sqrtmm", "sqrtm"), ("sofmax", "softmax"), ("trcae", "trace"),
    ("cholesky", "chol"), ("maximum", "max(A, B)"), ("svd", "svdvals"),
])
def test_suggestions_for_typos_and_other_libraries_names(typo, meant):
    rc, _, err = matd("diff", f"X: n x n; sum({typo}(X))")
    assert rc == 2 and meant in err and "matd functions" in err


def test_max_and_min_broadcast_and_take_relus_subgradient():
    got = evaluate("x: n; sum(max(0, x)) + sum(min(x, 0))", "x=[-1, 2, 0.5]")
    assert got == pytest.approx(2.5 - 1)
    assert derivative("x: n; y: n; sum(max(0, 1 - y .* x))", "x") == \
        "-(step(1 − y ∘ x) ∘ y)"


# --- bugs found in these models (issue 9, item 7) -----------------------------------------
def test_vec_jacobian_of_diag_in_plain_form():
    assert derivative("x: n; A: n x n; diag(x) A x", "x") == "diag(A x) + diag(x) A"


def test_hessian_through_diag_is_2I():
    rc, out, err = matd("diff", "x: n; tr(diag(x)^2)", "--wrt", "x", "--order", "2")
    assert rc == 0, err
    assert "∂²f/∂x² = 2 Iₙ" in out and "∂f/∂x   = 2 x" in out


def test_textbook_forms_of_the_models():
    assert derivative("X: m x d; W: d x k; Y: m x k simplex; "
                      "-sum(Y .* log(softmax(X W, 2)))", "W") == "Xᵀ (softmax(X W, 2) − Y)"
    assert derivative("p, u: n; Q: n x n; t: scalar; p^T expm(t Q) u", "t") == \
        "pᵀ Q expm(t Q) u"
    assert derivative("S: n x n spd; logdet(chol(S))", "S") in ("½ S⁻¹", "0.5 S⁻¹")
