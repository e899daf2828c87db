"""`orth` for a non-square Q (n×p, QᵀQ = I: the Stiefel manifold), through the real `matd`
command: declarations, random draws, input checks, `grad --check`, and the Riemannian
gradient of `matd diff` (text and JSON) — by its values: tangent at Q, the projection of the
Euclidean gradient, and the derivative along a curve on the manifold (a QR retraction)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matd_cli import matd


def sym(M):
    return (M + M.T) / 2


def retract(Q, V):
    """The Q factor of Q + V (diagonal of R positive): a point of the manifold."""
    q, r = np.linalg.qr(Q + V)
    return q * np.sign(np.diag(r))


def stiefel(n, p, rng):
    return retract(rng.standard_normal((n, p)), 0)


# (declarations of the other variables, f): f smooth in Q
CASES = [("A: n x p", "tr(A^T Q)"),
         ("B: n x n; C: p x p", "tr(Q^T B Q C)"),
         ("A: n x p", "sum(exp(Q .* A))"),
         ("A: n x p", "norm(Q - A)^2 + logsumexp(vec(Q))")]


def program_of(decls: str, f: str, n: int, p: int) -> str:
    """The case with Q n×p, n×n (the orthogonal group) or n (the unit sphere)."""
    if p == 1:
        return f"Q: n orth; {decls.replace('n x p', 'n').replace('p x p', '1 x 1')}; {f}"
    if n == p:
        return f"Q: n x n orth; {decls.replace('p', 'n')}; {f}"
    return f"Q: n x p orth; {decls}; {f}"


def values(program: str, n: int, p: int, rng) -> dict:
    """Gaussian arrays for the variables other than Q, in the shapes --at takes."""
    from matd.core.evaluate import size
    from matd.grammar.parse import parse_program
    env = {}
    for name, v in parse_program(program).variables.items():
        if name != "Q":
            r, c = (size(d, {"n": n, "p": p}) for d in v.shape)
            env[name] = rng.standard_normal((r, c) if not v.shape[1].is_one or r == 1 else r)
    return env


def at_flags(env: dict, tmp_path) -> list:
    flags = []
    for name, a in env.items():
        np.save(tmp_path / f"{name}.npy", a)
        flags += ["--at", f"{name}={tmp_path / f'{name}.npy'}"]
    return flags


@pytest.mark.parametrize("n,p", [(5, 2), (4, 4), (3, 1)])
@pytest.mark.parametrize("decls,f", CASES)
def test_riemannian_gradient_is_the_tangent_projection(decls, f, n, p, tmp_path):
    program = program_of(decls, f, n, p)
    rc, out, err = matd("diff", program, "--wrt", "Q", "--format", "json")
    assert rc == 0, err
    got = json.loads(out)
    rc, text, err = matd("diff", program, "--wrt", "Q")
    assert rc == 0 and "grad_R f (Q orth)" in text, err
    rng = np.random.default_rng(n * 10 + p + len(f))
    env = values(program, n, p, rng)
    Q = stiefel(n, p, rng)
    env["Q"] = Q[:, 0] if p == 1 else Q
    flags = at_flags(env, tmp_path)
    rc, out, err = matd("eval", got["riemannian"], *flags, "--format", "json")
    assert rc == 0, err
    R = np.asarray(json.loads(out)["value"]).reshape(n, p)
    rc, out, err = matd("grad", program, "--wrt", "Q", *flags, "--format", "json", "--check")
    assert rc == 0, err
    G = np.asarray(json.loads(out)["derivative"]["Q"]).reshape(n, p)
    scale = max(1.0, float(np.abs(G).max()))
    # tangent: sym(QᵀR) = 0; and R is the projection of the Euclidean gradient
    assert np.abs(sym(Q.T @ R)).max() < 1e-10 * scale
    np.testing.assert_allclose(R, G - Q @ sym(Q.T @ G), atol=1e-10 * scale)
    # the derivative of f along t ↦ qr(Q + t ξ), ξ tangent, is ⟨R, ξ⟩
    items, directions, h = [], [], 1e-5
    for _ in range(3):
        V = rng.standard_normal((n, p))
        xi = V - Q @ sym(Q.T @ V)
        directions.append(xi)
        for t in (h, -h):
            point = dict(env)
            Qt = retract(Q, t * xi)
            point["Q"] = Qt[:, 0] if p == 1 else Qt
            items.append(json.dumps({"expression": program,
                                     "at": {k: np.asarray(v).tolist() for k, v in point.items()}}))
    rc, out, err = matd("eval", "--batch", stdin="\n".join(items) + "\n")
    assert rc == 0, err
    vals = [json.loads(line)["value"] for line in out.splitlines()]
    for k, xi in enumerate(directions):
        fd = (vals[2 * k] - vals[2 * k + 1]) / (2 * h)
        assert abs(fd - np.sum(R * xi)) < 1e-6 * max(1.0, abs(fd)), (fd, np.sum(R * xi))


def test_square_orth_prints_the_orthogonal_group_form():
    rc, out, err = matd("diff", "Q: n x n orth; A: n x n; tr(A^T Q)", "--wrt", "Q",
                        "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["riemannian"].endswith("0.5 (A - Q A^T Q)")


def test_orth_declarations():
    rc, out, err = matd("diff", "Q: n x p orth; A: n x p; tr(A^T Q)", "--wrt", "Q")
    assert rc == 0, err
    assert "grad_R f (Q orth) = A − ½ Q (Qᵀ A + Aᵀ Q)" in out and "n×p" in out
    rc, out, err = matd("diff", "Q: 2 x 3 orth; tr(Q ones(3, 2))", "--wrt", "Q")
    assert rc == 2
    assert err.startswith("<expr>:10: error: 'orth' (QᵀQ = I) needs at least as many rows")
    assert "           ^^^^" in err and "hint: declare its transpose: 3 x 2 orth" in err
    for attr in ("sym", "spd", "diag"):   # these stay square-only
        rc, _, err = matd("diff", f"S: n x p {attr}; sum(S)", "--wrt", "S")
        assert rc == 2 and f"'{attr}' needs a square matrix" in err


def test_random_orth_and_input_checks(tmp_path):
    rc, _, err = matd("eval", "Q: n x p orth; Q", "--random", "--seed", "2", "--dims", "n=6,p=3",
                      "--out", tmp_path / "q.npy")
    assert rc == 0, err
    Q = np.load(tmp_path / "q.npy")
    assert Q.shape == (6, 3)
    np.testing.assert_allclose(Q.T @ Q, np.eye(3), atol=1e-12)
    rc, _, err = matd("eval", "Q: n x p orth; Q", "--random", "--dims", "n=2,p=3")
    assert rc == 2 and "Q is declared orth (QᵀQ = I) but is 2 x 3 here" in err
    good = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 2)))[0]
    np.save(tmp_path / "good.npy", good)
    rc, out, err = matd("eval", "Q: n x p orth; tr(Q^T Q)", "--at", f"Q={tmp_path / 'good.npy'}")
    assert rc == 0 and abs(float(out) - 2) < 1e-12, err
    rc, _, err = matd("eval", "Q: n x p orth; sum(Q)", "--at", "Q=[[1,0],[0,2],[0,0]]")
    assert rc == 2 and "Q is declared orth but is not orthogonal" in err and "Qᵀ Q - I" in err
    rc, _, err = matd("eval", "Q: n x p orth; sum(Q)", "--at", "Q=[[1,0,0],[0,1,0]]")
    assert rc == 2 and "has more columns than rows (2 x 3)" in err


def test_grad_check_by_a_nonsquare_orth():
    rc, out, err = matd("grad", "Q: n x p orth; A: n x p; tr(A^T Q)", "--wrt", "Q", "--random",
                        "--dims", "n=5,p=2", "--check", "--seed", "3")
    assert rc == 0, err
    assert np.loadtxt(out.splitlines()).shape == (5, 2)
    assert "Q: max relative error vs central differences" in err and "(ok)" in err
