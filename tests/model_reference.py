"""Textbook values and gradients of the models of tests/test_models.py, in numpy/SciPy,
written apart from matd (no matd import): each ``*_reference(**point)`` returns
``(f, {variable: ∂f/∂variable})`` in matd's array conventions (scalars as floats, vectors 1-D),
the gradient by a `sym`/`spd` matrix symmetrized, (G + Gᵀ)/2, as matd gives it.

Where a factor's derivative has a textbook closed form only as a directional derivative
(the SVD and QR factors), the gradient is assembled exactly from that linear map on the basis
directions E_kl — by a route other than matd's rule (eigenvectors of XᵀX for the SVD,
Cholesky of XᵀX for QR), not by finite differences.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special


def sym(a):
    return (a + a.T) / 2


def largest_entry_positive(v, by=None):
    """v with each column's sign flipped so that the largest-magnitude entry of that column of
    ``by`` (default v) is positive: matd's convention for eigvecs and svd_u."""
    r = v if by is None else by
    rows = np.abs(r).argmax(axis=0)
    return v * np.sign(r[rows, np.arange(r.shape[1])])


def gradient_of_linear(directional, shape, cotangent):
    """∂⟨C, L(X)⟩/∂X for a linear map E ↦ L(E) given as a function: ⟨C, L(E_kl)⟩ per entry."""
    out = np.zeros(shape)
    for idx in np.ndindex(shape):
        e = np.zeros(shape)
        e[idx] = 1.0
        out[idx] = np.sum(cotangent * directional(e))
    return out


# --- attention (Vaswani et al. 2017) ---------------------------------------------------------
def attention_reference(Q, K, V, C):
    d = Q.shape[1]
    S = scipy.special.softmax(Q @ K.T / np.sqrt(d), axis=1)
    gS = C @ V.T
    gZ = S * (gS - np.sum(gS * S, axis=1, keepdims=True))
    return (float(np.sum(C * (S @ V))),
            {"Q": gZ @ K / np.sqrt(d), "K": gZ.T @ Q / np.sqrt(d), "V": S.T @ C})


# --- multinomial logistic (softmax) regression (Bishop 2006 §4.3.4, eq. 4.109) ---------------
def softmax_regression_reference(X, W, b, Y):
    Z = X @ W + b
    S = scipy.special.softmax(Z, axis=1)
    f = -float(np.sum(Y * (Z - scipy.special.logsumexp(Z, axis=1, keepdims=True))))
    R = S - Y                                  # rows of Y sum to 1 (one-hot)
    return f, {"W": X.T @ R, "b": R.sum(axis=0), "X": R @ W.T}


# --- layer norm (Ba et al. 2016) and batch norm (Ioffe & Szegedy 2015) ----------------------
def normalization_reference(X, g, h, eps, C, axis):
    """f = Σ C ∘ (Ŷ ∘ gᵀ + hᵀ), Ŷ = (X − μ)/√(σ² + ε) with the statistics along ``axis``
    (1: each row, layer norm; 0: each column, batch norm).  The backward pass of the papers:
    ∂f/∂X = (Ĝ − mean(Ĝ) − Ŷ ∘ mean(Ĝ ∘ Ŷ)) / √(σ² + ε), Ĝ = C ∘ gᵀ."""
    c = X - X.mean(axis=axis, keepdims=True)
    s = np.sqrt((c * c).mean(axis=axis, keepdims=True) + eps)
    Yh = c / s
    G = C * g
    gX = (G - G.mean(axis=axis, keepdims=True)
          - Yh * (G * Yh).mean(axis=axis, keepdims=True)) / s
    geps = -float(np.sum(G * Yh / (2 * s * s)))
    return (float(np.sum(C * (Yh * g + h))),
            {"X": gX, "g": np.sum(C * Yh, axis=0), "h": C.sum(axis=0), "eps": geps})


def layer_norm_reference(X, g, h, eps, C):
    return normalization_reference(X, g, h, eps, C, axis=1)


def batch_norm_reference(X, g, h, eps, C):
    return normalization_reference(X, g, h, eps, C, axis=0)


# --- soft-margin linear SVM, primal hinge loss (Cortes & Vapnik 1995; Shalev-Shwartz 2007) ---
def svm_reference(X, w, y, lam):
    r = 1 - y * (X @ w)
    active = (r > 0).astype(float)
    return (float(np.sum(np.maximum(r, 0)) + lam * w @ w),
            {"w": -X.T @ (active * y) + 2 * lam * w, "lam": float(w @ w),
             "X": -np.outer(active * y, w)})


# --- Gaussian-process negative log marginal likelihood (Rasmussen & Williams 2006) -----------
def gp_parts(K, y):
    """f = ½ yᵀK⁻¹y + ½ log|K| (eq. 5.8 without n/2 log 2π) and W = ∂f/∂K = ½(K⁻¹ − ααᵀ),
    α = K⁻¹y (from eq. 5.9)."""
    Ki = np.linalg.inv(K)
    alpha = Ki @ y
    f = 0.5 * y @ alpha + 0.5 * np.linalg.slogdet(K)[1]
    return float(f), 0.5 * (Ki - np.outer(alpha, alpha)), alpha


def gp_reference(K, y):
    f, W, alpha = gp_parts(K, y)
    return f, {"K": sym(W), "y": alpha}


def gp_low_rank_reference(A, s, y):
    """K = A Aᵀ + s I: ∂f/∂A = (W + Wᵀ) A, ∂f/∂s = tr W."""
    f, W, alpha = gp_parts(A @ A.T + s * np.eye(len(y)), y)
    return f, {"A": 2 * W @ A, "s": float(np.trace(W)), "y": alpha}


def rbf(X, ell):
    q = np.sum(X * X, axis=1)
    D = q[:, None] + q[None, :] - 2 * X @ X.T
    return np.exp(-D / (2 * ell ** 2)), D


def gp_rbf_reference(X, ell, s, y):
    """K = exp(−‖xᵢ − xⱼ‖² / 2ℓ²) + s I (eq. 2.31 plus noise): ∂K/∂ℓ = K_rbf ∘ D / ℓ³,
    ∂f/∂xᵢ = −(2/ℓ²) Σⱼ Mᵢⱼ (xᵢ − xⱼ) with M = W ∘ K_rbf."""
    Kr, D = rbf(X, ell)
    f, W, alpha = gp_parts(Kr + s * np.eye(len(y)), y)
    M = W * Kr
    gX = -(2 / ell ** 2) * (M.sum(axis=1)[:, None] * X - M @ X)
    return f, {"X": gX, "ell": float(np.sum(W * Kr * D) / ell ** 3),
               "s": float(np.trace(W)), "y": alpha}


# --- matrix exponential (Higham 2008 ch. 10; Al-Mohy & Higham 2009) -------------------------
def markov_reference(p, u, Q, t):
    """f = pᵀ e^{tQ} u: ∂f/∂t = pᵀ Q e^{tQ} u; ∂f/∂Q = t L(tQᵀ, p uᵀ) (the adjoint of the
    Fréchet derivative L(A, ·) is L(Aᵀ, ·))."""
    E = scipy.linalg.expm(t * Q)
    gQ = t * scipy.linalg.expm_frechet(t * Q.T, np.outer(p, u), compute_expm=False)
    return float(p @ E @ u), {"t": float(p @ Q @ E @ u), "Q": gQ, "p": E @ u, "u": E.T @ p}


def expm_trace_reference(A, C):
    """f = tr(Cᵀ e^A): ∂f/∂A = L(Aᵀ, C)."""
    return (float(np.sum(C * scipy.linalg.expm(A))),
            {"A": scipy.linalg.expm_frechet(A.T, C, compute_expm=False)})


def expm_trace_hessian(A, C):
    """∂²f/∂A∂A of f = tr(Cᵀ e^A): ∂f/∂A = [e^B]₁₂ with B = [[Aᵀ, C], [0, Aᵀ]], so the
    derivative along E is [L(B, diag(Eᵀ, Eᵀ))]₁₂ (Najfeld & Havel 1995's block form)."""
    n = len(A)
    B = np.block([[A.T, C], [np.zeros_like(A), A.T]])
    H = np.zeros((n, n, n, n))
    for k, l in np.ndindex(n, n):
        E = np.zeros((n, n))
        E[k, l] = 1.0
        dB = np.block([[E.T, np.zeros_like(E)], [np.zeros_like(E), E.T]])
        H[:, :, k, l] = scipy.linalg.expm_frechet(B, dB, compute_expm=False)[:n, n:]
    return H


# --- spectral functions of an spd matrix (Daleckii–Krein; Higham 2008 thm 3.11) -------------
def spectral_trace_reference(S, C, phi, divided_difference):
    """f = tr(C φ(S)): ∂f/∂S = U (F ∘ Uᵀ sym(C) U) Uᵀ with S = U Λ Uᵀ and
    Fᵢⱼ = (φ(λᵢ) − φ(λⱼ)) / (λᵢ − λⱼ) (φ'(λᵢ) on the diagonal)."""
    lam, U = np.linalg.eigh(S)
    F = divided_difference(np.sqrt(lam)[:, None], np.sqrt(lam)[None, :])
    return (float(np.trace(C @ U @ np.diag(phi(lam)) @ U.T)),
            {"S": U @ (F * (U.T @ sym(C) @ U)) @ U.T})


def sqrtm_trace_reference(S, C):
    return spectral_trace_reference(S, C, np.sqrt, lambda ri, rj: 1 / (ri + rj))


def whitening_reference(S, C):
    return spectral_trace_reference(S, C, lambda lam: lam ** -0.5,
                                    lambda ri, rj: -1 / (ri * rj * (ri + rj)))


# --- eigenvectors (Magnus & Neudecker 2019 §8.9; Giles 2008) ---------------------------------
def eigh_convention(S):
    lam, U = np.linalg.eigh(S)
    return lam, largest_entry_positive(U)


def eigvec_gap(lam):
    """Fᵢⱼ = 1/(λⱼ − λᵢ), 0 on the diagonal: (Uᵀ dU)ᵢⱼ = Fᵢⱼ (Uᵀ dS U)ᵢⱼ."""
    diff = lam[None, :] - lam[:, None]
    np.fill_diagonal(diff, np.inf)
    return 1 / diff


def eigvec_gradient(S, B):
    """∂⟨B, U(S)⟩/∂S within the symmetric matrices: sym(U (F ∘ Uᵀ B) Uᵀ)."""
    lam, U = eigh_convention(S)
    return sym(U @ (eigvec_gap(lam) * (U.T @ B)) @ U.T)


def pca_reference(S, P, A):
    """f = tr(Vᵀ A V), V = U P (the top-k eigenvectors): ⟨B, U⟩ with B = (A + Aᵀ) U P Pᵀ."""
    _, U = eigh_convention(S)
    V = U @ P
    return float(np.trace(V.T @ A @ V)), {"S": eigvec_gradient(S, (A + A.T) @ U @ P @ P.T)}


def eigen_factors_reference(S, C, w):
    """f = ⟨C, U⟩ + wᵀλ: ∂(wᵀλ)/∂S = U diag(w) Uᵀ."""
    lam, U = eigh_convention(S)
    return (float(np.sum(C * U) + w @ lam),
            {"S": eigvec_gradient(S, C) + U @ np.diag(w) @ U.T, "w": lam})


# --- singular value decomposition, through the eigenvectors of XᵀX (Townsend 2016) ----------
def svd_by_gram(X):
    """U (m×n), σ (descending), V (n×n) from XᵀX = V Σ² Vᵀ and U = X V Σ⁻¹, U's columns
    with their largest-magnitude entry positive and V's signs paired with them."""
    s2, V = np.linalg.eigh(X.T @ X)
    order = np.argsort(s2)[::-1]
    s2, V = s2[order], V[:, order]
    s = np.sqrt(s2)
    U = X @ V / s
    signs = np.sign(U[np.abs(U).argmax(axis=0), np.arange(U.shape[1])])
    return U * signs, s, V * signs


def svd_directional(X, E):
    """(dU, dV) along E: d(XᵀX) = EᵀX + XᵀE moves V and σ² as an eigenproblem, then
    dU = (E V + X dV − U dΣ) Σ⁻¹."""
    U, s, V = svd_by_gram(X)
    M = V.T @ (E.T @ X + X.T @ E) @ V
    dV = V @ (eigvec_gap(s ** 2) * M)
    ds = np.diag(M) / (2 * s)
    dU = (E @ V + X @ dV - U * ds) / s
    return dU, dV


def svdvals_reference(X):
    U, s, V = svd_by_gram(X)
    return float(s.sum()), {"X": U @ V.T}


def svd_u_reference(X, C):
    U, _, _ = svd_by_gram(X)
    return (float(np.sum(C * U)),
            {"X": gradient_of_linear(lambda e: svd_directional(X, e)[0], X.shape, C)})


def svd_v_reference(X, C):
    _, _, V = svd_by_gram(X)
    return (float(np.sum(C * V)),
            {"X": gradient_of_linear(lambda e: svd_directional(X, e)[1], X.shape, C)})


# --- thin QR, through the Cholesky factor of XᵀX (Murray 2016 for d chol) -------------------
def qr_by_cholesky(X):
    R = np.linalg.cholesky(X.T @ X).T
    return scipy.linalg.solve_triangular(R, X.T, trans="T").T, R


def qr_directional(X, E):
    """(dQ, dR) along E: XᵀX = Rᵀ R, so with L = Rᵀ, dL = L Φ(L⁻¹ d(XᵀX) L⁻ᵀ) (Φ: the
    strictly lower triangle plus half the diagonal), dR = dLᵀ, dQ = (E − Q dR) R⁻¹."""
    Q, R = qr_by_cholesky(X)
    L = R.T
    Li = np.linalg.inv(L)
    M = Li @ (E.T @ X + X.T @ E) @ Li.T
    dR = (L @ (np.tril(M, -1) + np.diag(np.diag(M)) / 2)).T
    return (E - Q @ dR) @ np.linalg.inv(R), dR


def qr_q_reference(X, C):
    Q, _ = qr_by_cholesky(X)
    return (float(np.sum(C * Q)),
            {"X": gradient_of_linear(lambda e: qr_directional(X, e)[0], X.shape, C)})


def qr_r_reference(X, C):
    _, R = qr_by_cholesky(X)
    return (float(np.sum(C * R)),
            {"X": gradient_of_linear(lambda e: qr_directional(X, e)[1], X.shape, C)})
