"""The plan's in-place steps never write into a buffer another argument still reads.

A temporary that dies at a step may take the step's result, unless another argument of
the same step is a view of it: in tril(M, -1) + tril(M, -1)ᵀ the transpose reads the
buffer the sum would write (found on a Gaussian process through a low-rank kernel, where
the Cholesky adjoint adds a triangle to its own transpose)."""
from __future__ import annotations

import numpy as np
import pytest

from matd.core.evaluate import evaluate
from matd.grammar.parse import parse_program

RNG = np.random.default_rng(7)
X = RNG.normal(size=(5, 5))
T = np.tril(X, -1)
D = np.diag(np.diag(X))

CASES = [  # program, what numpy gives
    ("X: n x n; tril(X, -1) + tril(X, -1)^T + X + X", T + T.T + 2 * X),
    ("X: n x n; tril(X, -1) - tril(X, -1)^T", T - T.T),
    ("X: n x n; tril(X, -1) .* tril(X, -1)^T .* X", T * T.T * X),
    ("X: n x n; D = diag(diag(X)); 0.5 D + tril(X, -1)^T + 0.5 D + tril(X, -1)",
     D + T.T + T),
    ("X: n x n; tanh(X) + tanh(X)^T", np.tanh(X) + np.tanh(X).T),
]


@pytest.mark.parametrize("program, want", CASES, ids=[c[0] for c in CASES])
def test_in_place_steps_do_not_overwrite_what_they_read(program, want):
    got = evaluate(parse_program(program).result, {"X": X}, {"n": 5})
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_an_n_ary_sum_does_not_read_its_buffer_through_a_view():
    """Σ built by the derivation as one n-ary node: c D + Tᵀ + c D + T (the sum of the
    Cholesky adjoint), with T's buffer the one that dies here."""
    import matd.core.algebra as A
    t = parse_program("X: n x n; tril(X, -1)").result
    for s, want in ((parse_program("X: n x n; 0.5 X").result, X + T.T + T),
                    (parse_program("X: n x n; 0.5 diag(diag(X))").result, D + T.T + T),
                    (parse_program("X: n x n; tanh(X)").result, 2 * np.tanh(X) + T.T + T)):
        n = A.add(s, A.transpose(t), s, t)
        got = evaluate(n, {"X": X}, {"n": 5})
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12), parse_program
