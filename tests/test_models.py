"""Model-level tests of the batch and matrix-function language (DESIGN §1): whole models as ML
and statistics code writes them, by their numbers.  For each model, at a fixed random point of
small size, matd's value and gradient (the Python API, and the real `matd grad` / `matd eval`
commands) are compared with

  (1) central finite differences of matd's own value (``matd.eval``), along symmetric
      directions for `sym`/`spd` variables, and
  (2) a closed-form numpy/SciPy gradient from the literature, written independently in
      tests/model_reference.py (which does not import matd);

and the derivative matd prints, evaluated back, with (2).  Hessians (``--order 2``) with
finite differences of the gradient (and, for expm, an exact block formula); degenerate points
(repeated eigen/singular values, rank deficiency, an indefinite K) with the error the command
must give (exit 2, the function named, no traceback).

The models and their sources:

  attention            sum(C ∘ softmax(Q Kᵀ/√d, 2) V) by Q, K, V — Vaswani et al. 2017, eq. 1
  softmax_regression   −Σ Y ∘ log softmax(X W + bᵀ, 2) by W, b, X — Bishop 2006, §4.3.4
                       (eq. 4.109: Xᵀ(S − Y) for one-hot rows of Y)
  layer_norm           rows normalized, scaled by g and shifted by h — Ba, Kiros & Hinton 2016
  batch_norm           the same by columns — Ioffe & Szegedy 2015 (their backward pass, §3)
  svm_hinge            Σ max(0, 1 − y ∘ X w) + λ‖w‖² — Cortes & Vapnik 1995;
                       Shalev-Shwartz et al. 2007 (Pegasos) for the subgradient
  gp_nll, gp_low_rank, gp_rbf
                       ½ yᵀK⁻¹y + ½ log|K| through chol and solve — Rasmussen & Williams 2006,
                       eq. 5.8 (algorithm 2.1), gradient eq. 5.9: ½ tr((K⁻¹ − ααᵀ) ∂K/∂θ);
                       K by itself (spd), K = A Aᵀ + s I, and the squared-exponential kernel
                       (eq. 2.31) with noise s by X, ℓ and s
  markov               pᵀ e^{tQ} u of a CTMC generator Q by t, Q, p, u — Higham 2008, ch. 10
                       (Fréchet derivative of expm and its adjoint L(Aᵀ, ·))
  expm_trace           tr(Cᵀ e^A) by A, orders 1 and 2 — Najfeld & Havel 1995 (block form)
  whitening, sqrtm_trace
                       tr(C S^{-1/2}), tr(C S^{1/2}) by S, orders 1 and 2 — the Daleckii–Krein
                       formula (Higham 2008, thm 3.11)
  pca_projector        tr(Vᵀ A V), V the top-k eigenvectors — Magnus & Neudecker 2019, §8.9
  eigen_factors        ⟨C, eigvecs(S)⟩ + wᵀ eigvals(S) — the same, and Giles 2008
  svdvals, svd_u, svd_v
                       Σσ (∂ = U Vᵀ) and ⟨C, U⟩, ⟨C, V⟩ — Townsend 2016 (via XᵀX here)
  qr_q, qr_r           ⟨C, Q⟩, ⟨C, R⟩ of the thin QR — via Cholesky of XᵀX, Murray 2016
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import matd
import model_reference as ref

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}
FD_TOL = 1e-6          # matd against central differences (DESIGN §6)
EXACT_TOL = 1e-8       # matd against a closed form: two exact computations


# --- helpers ---------------------------------------------------------------------------------
def rel_error(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def assert_close(got, want, tol, what=""):
    err = rel_error(got, want)
    assert err < tol, f"{what}: relative error {err:.2e} (tolerance {tol:.0e})\n" \
                      f"got\n{np.asarray(got)}\nwant\n{np.asarray(want)}"


def central_differences(f, x, symmetric=False, h=1e-6):
    """∂f/∂x, shape(f) + shape(x), by central differences; symmetric (2-D x): along the
    directions E_ij + E_ji, i.e. the symmetrized gradient (G + Gᵀ)/2."""
    x = np.asarray(x, float)
    step = h * max(1.0, float(np.max(np.abs(x))))
    out = np.zeros(np.shape(f(x)) + x.shape)
    for idx in np.ndindex(x.shape):
        if symmetric and idx[1] < idx[0]:
            continue
        e = np.zeros_like(x)
        e[idx] = step
        if symmetric:
            e[idx[::-1]] = step
        d = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * step)
        if symmetric and idx[0] != idx[1]:
            out[(..., *idx)] = out[(..., *idx[::-1])] = d / 2
        else:
            out[(..., *idx)] = d
    return out


def symmetric_variables(program: str) -> set[str]:
    """The variables declared `sym` or `spd` (e.g. 'S: n x n spd')."""
    out = set()
    for stmt in program.split(";"):
        names, colon, kind = stmt.partition(":")
        if colon and "=" not in stmt and re.search(r"\b(sym|spd)\b", kind):
            out |= {n.strip() for n in names.split(",")}
    return out


def run_matd(*args):
    p = subprocess.run([MATD, *map(str, args)], capture_output=True, env=ENV, text=True)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


def at_args(point: dict, folder: Path) -> list[str]:
    """--at NAME=VALUE for every input: scalars as literals, arrays as .npy files."""
    args = []
    for name, value in point.items():
        if np.ndim(value) == 0:
            args += ["--at", f"{name}={float(value)!r}"]
        else:
            np.save(folder / f"{name}.npy", value)
            args += ["--at", f"{name}={folder / name}.npy"]
    return args


# --- the models ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    name: str
    program: str
    point: dict
    wrt: tuple[str, ...]
    reference: Callable            # (**point) -> (f, {variable: gradient})
    hessian: tuple[str, ...] = ()  # variables also checked at order 2
    symmetric: set = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "symmetric", symmetric_variables(self.program))

    def value(self, **change):
        return matd.eval(self.program, **(self.point | change))

    def grad(self, var, order=1, **change):
        return matd.grad(self.program, var, order, **(self.point | change))

    def textbook(self, **change):
        return self.reference(**(self.point | change))


def spd(rng, n, floor=1.0):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + floor * np.eye(n)


def orthogonal(rng, n):
    return np.linalg.qr(rng.standard_normal((n, n)))[0]


def with_spectrum(rng, values):
    """A symmetric matrix U diag(values) Uᵀ with a random orthogonal U."""
    U = orthogonal(rng, len(values))
    return U @ np.diag(values) @ U.T


def with_singular_values(rng, m, values):
    U = orthogonal(rng, m)[:, :len(values)]
    return U @ np.diag(values) @ orthogonal(rng, len(values)).T


def attention():
    r = np.random.default_rng(1)
    m, n, d, p = 4, 5, 3, 2
    return Model("attention",
                 "Q: m x d; K: n x d; V: n x p; C: m x p; "
                 "sum(C .* (softmax(Q K^T / sqrt(d), 2) V))",
                 {"Q": r.standard_normal((m, d)), "K": r.standard_normal((n, d)),
                  "V": r.standard_normal((n, p)), "C": r.standard_normal((m, p))},
                 ("Q", "K", "V"), ref.attention_reference)


def softmax_regression():
    r = np.random.default_rng(2)
    m, d, k = 6, 3, 4
    return Model("softmax_regression",
                 "X: m x d; W: d x k; b: k; Y: m x k; -sum(Y .* log(softmax(X W + b^T, 2)))",
                 {"X": r.standard_normal((m, d)), "W": 0.5 * r.standard_normal((d, k)),
                  "b": r.standard_normal(k), "Y": np.eye(k)[r.integers(0, k, m)]},
                 ("W", "b", "X"), ref.softmax_regression_reference)


def normalization(name, axis, reference, seed):
    r = np.random.default_rng(seed)
    m, n = (4, 5) if axis == 2 else (5, 3)
    return Model(name,
                 f"X: m x n; g, h: n; eps: scalar; C: m x n; "
                 f"mu = mean(X, {axis}); c = X - mu; v = mean(c .* c, {axis}); "
                 f"Y = c ./ sqrt(v + eps); sum(C .* (Y .* g^T + h^T))",
                 {"X": 2 * r.standard_normal((m, n)) + 1, "g": r.standard_normal(n),
                  "h": r.standard_normal(n), "eps": 0.1, "C": r.standard_normal((m, n))},
                 ("X", "g", "h", "eps"), reference)


def svm_hinge():
    r = np.random.default_rng(5)
    m, n = 6, 4
    while True:     # a point at least 0.05 away from every kink of the hinge
        X, w = r.standard_normal((m, n)), 0.5 * r.standard_normal(n)
        y = r.choice([-1.0, 1.0], m)
        margins = 1 - y * (X @ w)
        if np.min(np.abs(margins)) > 0.05 and 0 < np.sum(margins > 0) < m:
            break
    return Model("svm_hinge",
                 "X: m x n; w: n; y: m; lam: scalar; "
                 "sum(max(0, 1 - y .* (X w))) + lam norm(w)^2",
                 {"X": X, "w": w, "y": y, "lam": 0.3}, ("w", "lam", "X"), ref.svm_reference)


GP_TAIL = "L = chol(K); a = solve(L, y); 0.5 a^T a + sum(log(diag(L)))"


def gp_nll():
    r = np.random.default_rng(6)
    n = 5
    return Model("gp_nll", f"K: n x n spd; y: n; {GP_TAIL}",
                 {"K": spd(r, n), "y": r.standard_normal(n)}, ("K", "y"), ref.gp_reference)


def gp_low_rank():
    r = np.random.default_rng(7)
    n, p = 5, 2
    return Model("gp_low_rank", f"A: n x p; s: scalar; y: n; K = A A^T + s I; {GP_TAIL}",
                 {"A": r.standard_normal((n, p)), "s": 0.5, "y": r.standard_normal(n)},
                 ("A", "s", "y"), ref.gp_low_rank_reference)


def gp_rbf():
    r = np.random.default_rng(8)
    n, p = 5, 2
    return Model("gp_rbf",
                 "X: n x p; ell, s: scalar; y: n; q = sum(X .* X, 2); "
                 "D = q ones(n)^T + ones(n) q^T - 2 X X^T; "
                 f"K = exp(-D / (2 ell^2)) + s I; {GP_TAIL}",
                 {"X": r.standard_normal((n, p)), "ell": 1.3, "s": 0.2,
                  "y": r.standard_normal(n)},
                 ("X", "ell", "s", "y"), ref.gp_rbf_reference)


def markov():
    r = np.random.default_rng(9)
    n = 4
    Q = r.uniform(0.1, 1.0, (n, n))
    np.fill_diagonal(Q, 0)
    Q -= np.diag(Q.sum(axis=1))              # a generator: rates ≥ 0, rows sum to 0
    p = r.uniform(0.1, 1.0, n)
    return Model("markov", "p, u: n; Q: n x n; t: scalar; p^T expm(t Q) u",
                 {"p": p / p.sum(), "u": r.standard_normal(n), "Q": Q, "t": 0.7},
                 ("t", "Q", "p", "u"), ref.markov_reference)


def expm_trace():
    r = np.random.default_rng(10)
    n = 4
    return Model("expm_trace", "A: n x n; C: n x n; tr(C^T expm(A))",
                 {"A": 0.5 * r.standard_normal((n, n)), "C": r.standard_normal((n, n))},
                 ("A",), ref.expm_trace_reference, hessian=("A",))


def spectral_trace(name, body, reference, seed):
    r = np.random.default_rng(seed)
    n = 4
    return Model(name, f"S: n x n spd; C: n x n; {body}",
                 {"S": spd(r, n, floor=0.5), "C": r.standard_normal((n, n))},
                 ("S",), reference, hessian=("S",))


def pca_projector():
    r = np.random.default_rng(13)
    n, k = 5, 2
    return Model("pca_projector", "S: n x n sym; P: n x k; A: n x n; V = eigvecs(S) P; "
                                  "tr(V^T A V)",
                 {"S": with_spectrum(r, [-1.0, 0.3, 1.5, 2.6, 4.0]),
                  "P": np.eye(n)[:, n - k:],           # the top k (eigvals ascend)
                  "A": r.standard_normal((n, n))},
                 ("S",), ref.pca_reference)


def eigen_factors():
    r = np.random.default_rng(14)
    n = 4
    return Model("eigen_factors",
                 "S: n x n sym; C: n x n; w: n; sum(C .* eigvecs(S)) + w^T eigvals(S)",
                 {"S": with_spectrum(r, [-2.0, -0.5, 1.0, 2.5]),
                  "C": r.standard_normal((n, n)), "w": r.standard_normal(n)},
                 ("S", "w"), ref.eigen_factors_reference)


def factor_model(name, body, reference, seed, cotangent_rows=None):
    """⟨C, F(X)⟩ of a factor F of X (5×3, singular values 3.5, 2.2, 1); C has
    ``cotangent_rows`` rows ('m' or 'n') and n columns, or is absent."""
    r = np.random.default_rng(seed)
    m, n = 5, 3
    point = {"X": with_singular_values(r, m, [3.5, 2.2, 1.0])}
    decl = "X: m x n; "
    if cotangent_rows:
        point["C"] = r.standard_normal(({"m": m, "n": n}[cotangent_rows], n))
        decl += f"C: {cotangent_rows} x n; "
    return Model(name, decl + body, point, ("X",), reference)


MODELS = [
    attention(), softmax_regression(),
    normalization("layer_norm", 2, ref.layer_norm_reference, 3),
    normalization("batch_norm", 1, ref.batch_norm_reference, 4),
    svm_hinge(), gp_nll(), gp_low_rank(), gp_rbf(), markov(), expm_trace(),
    spectral_trace("whitening", "tr(C inverse(sqrtm(S)))", ref.whitening_reference, 11),
    spectral_trace("sqrtm_trace", "trace(C sqrtm(S))", ref.sqrtm_trace_reference, 12),
    pca_projector(), eigen_factors(),
    factor_model("svdvals", "sum(svdvals(X))", ref.svdvals_reference, 15),
    factor_model("svd_u", "sum(C .* svd_u(X))", ref.svd_u_reference, 16, "m"),
    factor_model("svd_v", "sum(C .* svd_v(X))", ref.svd_v_reference, 17, "n"),
    factor_model("qr_q", "tr(C^T qr_q(X))", ref.qr_q_reference, 18, "m"),
    factor_model("qr_r", "tr(transpose(C) qr_r(X))", ref.qr_r_reference, 19, "n"),
]
BY_VARIABLE = [pytest.param(m, v, id=f"{m.name}-{v}") for m in MODELS for v in m.wrt]
BY_MODEL = [pytest.param(m, id=m.name) for m in MODELS]
BY_HESSIAN = [pytest.param(m, v, id=f"{m.name}-{v}") for m in MODELS for v in m.hessian]


# --- order 1 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model", BY_MODEL)
def test_value_matches_textbook(model):
    assert_close(model.value(), model.textbook()[0], EXACT_TOL, f"{model.name} value")


@pytest.mark.parametrize("model, var", BY_VARIABLE)
def test_gradient_matches_finite_differences(model, var):
    fd = central_differences(lambda x: model.value(**{var: x}), model.point[var],
                             symmetric=var in model.symmetric)
    assert_close(model.grad(var), fd, FD_TOL, f"∂{model.name}/∂{var} vs differences")


@pytest.mark.parametrize("model, var", BY_VARIABLE)
def test_gradient_matches_textbook(model, var):
    assert_close(model.grad(var), model.textbook()[1][var], EXACT_TOL,
                 f"∂{model.name}/∂{var} vs textbook")


@pytest.mark.parametrize("model", BY_MODEL)
def test_matd_commands_match_textbook(model, tmp_path):
    """The real `matd eval` and `matd grad` (every variable at once, --out .npz)."""
    ats = at_args(model.point, tmp_path)
    rc, _, err = run_matd("eval", model.program, *ats, "--out", tmp_path / "f.npy")
    assert rc == 0, err
    rc, _, err = run_matd("grad", model.program, *[a for v in model.wrt for a in ("--wrt", v)],
                          *ats, "--out", tmp_path / "g.npz")
    assert rc == 0, err
    f, grads = model.textbook()
    assert_close(np.load(tmp_path / "f.npy"), f, EXACT_TOL, "matd eval")
    with np.load(tmp_path / "g.npz") as got:
        assert set(got.files) == set(model.wrt)
        for var in model.wrt:
            assert_close(got[var], grads[var], EXACT_TOL, f"matd grad --wrt {var}")


@pytest.mark.parametrize("model, var", BY_VARIABLE)
def test_printed_derivative_evaluates_to_textbook(model, var):
    """The derivative matd prints (a program, DESIGN §3: with expm_frechet, sylvester, gapinv
    where the model needs them), evaluated back by matd eval, is the textbook gradient."""
    printed = matd.diff(model.program, wrt=var).derivative
    used = {k: x for k, x in model.point.items() if re.search(rf"\b{k}\b", printed)}
    assert_close(matd.eval(printed, **used), model.textbook()[1][var], EXACT_TOL,
                 f"printed ∂{model.name}/∂{var} = {printed}")


# --- order 2 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model, var", BY_HESSIAN)
def test_hessian_matches_differences_of_gradients(model, var):
    """matd's Hessian against central differences of matd's gradient and of the textbook
    gradient (along symmetric directions by an spd S: the P H P of the README)."""
    H = model.grad(var, order=2)
    x, symmetric = model.point[var], var in model.symmetric
    assert H.shape == x.shape * 2
    of_matd = central_differences(lambda y: model.grad(var, **{var: y}), x, symmetric, h=1e-5)
    of_textbook = central_differences(lambda y: model.textbook(**{var: y})[1][var], x,
                                      symmetric, h=1e-5)
    assert_close(H, of_matd, FD_TOL, f"∂²{model.name}/∂{var}² vs differences of matd's ∂")
    assert_close(H, of_textbook, FD_TOL, f"∂²{model.name}/∂{var}² vs differences of textbook ∂")


@pytest.mark.parametrize("model, var", BY_HESSIAN)
def test_matd_grad_order_2_command(model, var, tmp_path):
    rc, _, err = run_matd("grad", model.program, "--wrt", var, "--order", "2",
                          *at_args(model.point, tmp_path), "--out", tmp_path / "H.npy")
    assert rc == 0, err
    assert_close(np.load(tmp_path / "H.npy"), model.grad(var, order=2), EXACT_TOL,
                 "matd grad --order 2 vs matd.grad")


def test_expm_hessian_matches_block_formula():
    model = next(m for m in MODELS if m.name == "expm_trace")
    assert_close(model.grad("A", order=2), ref.expm_trace_hessian(**model.point), EXACT_TOL,
                 "∂²tr(Cᵀe^A)/∂A²")


# --- degenerate points -----------------------------------------------------------------------
RANK_TWO = np.array([[1.0, 2, 2], [0, 1, 1], [3, 0, 0], [1, 1, 1], [2, 0, 0]])  # 5×3, rank 2
DEGENERATE = {
    # id: (program, variable, point, the function the message must name)
    "eigvecs_of_identity": ("S: n x n sym; C: n x n; sum(C .* eigvecs(S))", "S",
                            {"S": np.eye(4), "C": np.arange(16.0).reshape(4, 4)}, "eigvecs"),
    "svd_u_of_orthonormal_columns": (
        "X: m x n; C: m x n; sum(C .* svd_u(X))", "X",
        {"X": np.eye(5)[:, :3], "C": np.ones((5, 3))}, "svd_u"),
    "qr_q_of_rank_deficient": (
        "X: m x n; C: m x n; tr(C^T qr_q(X))", "X",
        {"X": RANK_TWO, "C": np.ones((5, 3))}, "qr_q"),
    "svd_u_of_rank_deficient": (
        "X: m x n; C: m x n; sum(C .* svd_u(X))", "X",
        {"X": RANK_TWO, "C": np.ones((5, 3))}, "svd_u"),
    "chol_of_indefinite": (f"K: n x n; y: n; {GP_TAIL}", "K",
                           {"K": np.diag([1.0, -1.0, 2.0]), "y": np.ones(3)}, "chol"),
}


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_point_is_a_clear_error(case, tmp_path):
    program, var, point, function = DEGENERATE[case]
    rc, out, err = run_matd("grad", program, "--wrt", var, *at_args(point, tmp_path))
    assert rc == 2, f"exit {rc}, stdout:\n{out}\nstderr:\n{err}"
    assert "error:" in err and function in err, err
    assert "internal error" not in err, err
