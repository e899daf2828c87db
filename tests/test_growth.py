"""Growth (issue 11): a derivation's work and its result grow with the input as they must.

Each family grows one construct by k (bench/growth.py times the same families; tests count,
never time): the result's size (distinct nodes, and their arguments) and the simplifier's
work (nodes it applies rules at, and their arguments: each rule is linear in them) are
compared between k and 2k, so a super-linear path shows as a ratio above its bound
(linear: about 2, quadratic: about 4, an exponential or cubic one: 8 and more).  And the
derivatives they grow are right: central finite differences at one size.
"""
from __future__ import annotations

import numpy as np
import pytest

from matd.core import algebra as A
from matd.core import simplify as S
from matd.core.derive import derive
from matd.core.evaluate import evaluate, size
from matd.core.fdcheck import central_jacobian, rel_error
from matd.core.printers import to_matd
from matd.grammar.parse import parse_program


def chain(k):            # tr(A1 X A2 X ⋯ Ak X)
    decl = "; ".join(f"A{i}: n x n" for i in range(1, k + 1))
    return f"X: n x n; {decl}; tr({' '.join(f'A{i} X' for i in range(1, k + 1))})", ["X"]


def gram(k):             # norm(Xᵀ X Xᵀ X ⋯)²
    return f"X: m x n; norm({' '.join('X^T' if i % 2 == 0 else 'X' for i in range(k))})^2", \
        ["X"]


def entrywise(k):        # sum(tanh(X) ∘ A1 ∘ tanh(X) ∘ A2 ⋯)
    decl = "; ".join(f"A{i}: m x n" for i in range(1, k + 1))
    return f"X: m x n; {decl}; sum({' .* '.join(f'tanh(X) .* A{i}' for i in range(1, k + 1))})", \
        ["X"]


def nestinv(k):          # tr(inv(A1 + inv(A2 + ⋯ inv(Ak + X))))
    e = "X"
    for i in range(k, 0, -1):
        e = f"inv(A{i} + {e})"
    return f"X: n x n; tr({e})", ["X"]


def longsum(k):          # norm(c1 A1 X + ⋯ + ck Ak X − B)²
    return "X: n x p; B: n x p; norm(" + " + ".join(f"c{i} A{i} X" for i in range(1, k + 1)) + \
        " - B)^2", ["X"]


def deepdef(k):          # t(i+1) = t(i) B(i) t(i)ᵀ: each definition uses the last twice
    lines = ["X, A: n x n", *(f"B{i}: n x n" for i in range(1, k)), "t1 = X A"]
    lines += [f"t{i + 1} = t{i} B{i} t{i}^T" for i in range(1, k)]
    return "; ".join(lines) + f"; tr(t{k})", ["X"]


def deepsum(k):          # t(i+1) = t(i) + t(i)ᵀ + B(i) t(i)
    lines = ["X, A: n x n", *(f"B{i}: n x n" for i in range(1, k)), "t1 = X A"]
    lines += [f"t{i + 1} = t{i} + t{i}^T + B{i} t{i}" for i in range(1, k)]
    return "; ".join(lines) + f"; tr(t{k})", ["X"]


def manyvars(k):         # norm(A1 x1 + ⋯ + Ak xk − y)², by every variable
    decl = "; ".join(f"A{i}: m x p; x{i}: p" for i in range(1, k + 1))
    terms = " + ".join(f"A{i} x{i}" for i in range(1, k + 1))
    return f"y: m; {decl}; norm({terms} - y)^2", None


def power(k):
    return f"X: n x n; tr(A X^{k})", ["X"]


def product(k):          # the same power written out
    return f"X: n x n; tr(A {' '.join(['X'] * k)})", ["X"]


def nested(k):           # norm(exp(exp(⋯ exp(A x))) - y)²: k nested entrywise functions
    e = "A x"
    for _ in range(k):
        e = f"exp({e})"
    return f"A: n x n; x, y: n; norm({e} - y)^2", ["x"]


def nested_matrix(k):    # the fuzzer's finding: k nested entrywise functions of a matrix
    e = "-U"
    for _ in range(k):
        e = f"exp({e})"
    return f"T: p x n; U: n x q; V: r x q; norm(T {e} V^T)^2", ["U"]


def results(src, wrt, order=1):
    d = derive(parse_program(src), wrt, order)
    return [x for r in d.results for x in (r.differential, r.derivative) if x is not None]


def dag(roots) -> tuple[int, int]:
    """(distinct nodes, their arguments) of the results together."""
    seen, stack = set(), list(roots)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.args)
    return len(seen), sum(len(n.args) for n in seen)


def work(monkeypatch, src, wrt, order=1) -> tuple[int, int]:
    """(nodes the simplifier applied its rules at, their arguments) deriving src."""
    count = [0, 0]
    node = S.Simplifier.node

    def counted(self, n, depth=0):
        count[0] += 1
        count[1] += len(n.args)
        return node(self, n, depth)
    with monkeypatch.context() as m:
        m.setattr(S.Simplifier, "node", counted)
        results(src, wrt, order)
    return count[0], count[1]


def built(monkeypatch, src, wrt, order=1) -> int:
    """How many nodes the algebra's constructors were asked for, deriving src."""
    count = [0]
    make = A.make

    def counted(op, *args, **kw):
        count[0] += 1
        return make(op, *args, **kw)
    with monkeypatch.context() as m:
        m.setattr(A, "make", counted)
        results(src, wrt, order)
    return count[0]


# family: (k, and how much the result's nodes, its edges and the simplifier's work may grow
# from k to 2k)
BOUNDS = {
    chain: (16, 2.2, 4.3, 4.5),        # Σᵢ (the chain rotated): k terms of 2k factors
    gram: (16, 1.1, 2.2, 4.5),         # the k terms collect into one
    entrywise: (16, 4.5, 4.5, 4.5),    # the product rule: k/2 terms of k factors
    nestinv: (16, 2.2, 2.2, 2.3),
    longsum: (16, 2.2, 2.2, 4.5),      # the parser's sums are binary: prefixes are simplified
    deepdef: (16, 2.2, 2.5, 2.5),      # was exponential: products of 3·2ᵏ factors
    deepsum: (8, 5.0, 6.0, 6.0),       # sums flatten: t(i) holds O(i) terms
    manyvars: (16, 2.2, 2.2, 4.5),
    power: (16, 2.2, 2.2, 2.3),
    # was cubic (X X merged pair by pair); the reverse pass makes Aᵀ Xᵀ ⋯ Xᵀ still: O(k²) args
    product: (16, 2.2, 2.2, 2.8),
    nested: (32, 2.2, 2.2, 2.3),
}


@pytest.mark.parametrize("fam", list(BOUNDS), ids=lambda f: f.__name__)
def test_growth_is_bounded(fam, monkeypatch):
    k, nodes, edges, simp = BOUNDS[fam]
    n1, e1 = dag(results(*fam(k)))
    n2, e2 = dag(results(*fam(2 * k)))
    w1, a1 = work(monkeypatch, *fam(k))
    w2, a2 = work(monkeypatch, *fam(2 * k))
    assert n2 <= nodes * n1, (n1, n2)
    assert e2 <= edges * e1, (e1, e2)
    assert w2 <= simp * w1 and a2 <= simp * a1, ((w1, a1), (w2, a2))


def test_nested_functions_have_a_hessian_linear_in_depth(monkeypatch):
    # the chain rule prepends a factor to a ∘ chain at each level: rebuilding the chain
    # each time (to keep it left-deep) was quadratic (3.3 s at depth 400)
    n1, e1 = dag(results(*nested(64), order=2))
    n2, e2 = dag(results(*nested(128), order=2))
    w1, a1 = work(monkeypatch, *nested(64), order=2)
    w2, a2 = work(monkeypatch, *nested(128), order=2)
    b1, b2 = built(monkeypatch, *nested(64), order=2), built(monkeypatch, *nested(128), order=2)
    assert n2 <= 2.2 * n1 and e2 <= 2.2 * e1, ((n1, e1), (n2, e2))
    assert w2 <= 2.3 * w1 and a2 <= 2.3 * a1, ((w1, a1), (w2, a2))
    assert b2 <= 2.3 * b1, (b1, b2)


def test_nested_functions_of_a_matrix_merge_their_diagonal_factors(monkeypatch):
    """Through k nested entrywise functions of a matrix the vec-Hessian multiplies k
    diagonal matrices; diag(a) diag(b) = diag(a ∘ b) merges them as they come, and a long
    run is one ∘ chain in a fixed order of its factors, so the k terms share it.  Before,
    each level rescanned the whole product (the simplifier's work grew x4.7 from depth 64
    to 128, and depth 200 took over the fuzzer's 2 s), and the terms' chains were k
    permutations of the same factors: a result of k² nodes.  Now the result is linear."""
    n1, e1 = dag(results(*nested_matrix(64), order=2))
    n2, e2 = dag(results(*nested_matrix(128), order=2))
    assert n2 <= 2.2 * n1 and e2 <= 2.2 * e1, ((n1, e1), (n2, e2))
    w1, a1 = work(monkeypatch, *nested_matrix(64), order=2)
    w2, a2 = work(monkeypatch, *nested_matrix(128), order=2)
    assert w2 <= 2.3 * w1 and a2 <= 3.0 * a1, ((w1, a1), (w2, a2))
    longest = max(len(m.args) for r in results(*nested_matrix(64), order=2)
                  for m in _nodes(r) if m.op == "matmul")
    assert longest <= 5, longest


def test_product_written_out_is_the_power():
    assert results(*product(24)) == results(*power(24))


def test_power_merge_is_one_pass():
    """X X ⋯ X (32 factors, built unmerged) becomes X³² in one rewrite, not 31."""
    from matd.core.shapes import Dim
    n = Dim.sym("n")
    X = A.var("X", (n, n))
    fired: list = []
    out = S.simplify(A.make("matmul", *[X] * 32), fired)
    assert out is A.mpow(X, 32)
    assert fired.count("power-merge") == 1


def test_long_chains_stay_whole_in_products():
    """A product of more than MAX_CHAIN factors is one factor of a product it is in: deep
    definitions (t2 = t1 B t1ᵀ, …) would double the length at each level."""
    from matd.core.shapes import Dim
    n = Dim.sym("n")
    X, B = A.var("X", (n, n)), A.var("B", (n, n))
    long = A.matmul(*[X, B] * A.MAX_CHAIN)
    assert long.op == "matmul" and len(long.args) == 2 * A.MAX_CHAIN
    assert A.matmul(long, B, A.transpose(long)).args == (long, B, A.transpose(long))
    short = A.matmul(X, B)
    assert A.matmul(short, short).args == (X, B, X, B)
    longest = max((len(m.args) for r in results(*deepdef(12)) for m in _nodes(r)
                   if m.op == "matmul"), default=0)
    assert longest <= 2 * A.MAX_CHAIN + 1


def _nodes(root):
    seen, stack = set(), [root]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.args)
    return seen


@pytest.mark.parametrize("fam", [entrywise, deepsum, longsum, manyvars],
                         ids=lambda f: f.__name__)
def test_the_same_program_prints_the_same(fam):
    """No order that depends on memory addresses (a set or frozenset of nodes)."""
    texts = {tuple(to_matd(x) for x in results(*fam(10))) for _ in range(3)}
    assert len(texts) == 1


SIZES = {"m": 4, "n": 3, "p": 2}
NUMERIC = [(chain, 5), (gram, 4), (entrywise, 4), (nestinv, 4), (longsum, 4), (deepdef, 4),
           (deepsum, 4), (manyvars, 3), (power, 5), (product, 5)]


def inputs(prog, fam, seed=0):
    rng = np.random.default_rng(seed)
    env = {}
    for name, v in prog.variables.items():
        shape = (size(v.shape[0], SIZES), size(v.shape[1], SIZES))
        M = rng.standard_normal(shape) * 0.5
        if fam is nestinv and name != "X":   # A + inv(·) well away from singular
            M = M + 3 * np.eye(shape[0])
        env[name] = M
    return env


@pytest.mark.parametrize("fam,k", NUMERIC, ids=lambda x: getattr(x, "__name__", str(x)))
def test_gradients_match_finite_differences(fam, k):
    src, wrt = fam(k)
    prog = parse_program(src)
    env = inputs(prog, fam)
    d = derive(prog, wrt)
    for r in d.results:
        got = evaluate(r.derivative, env, SIZES)

        def f(V, name=r.wrt):
            return evaluate(prog.result, {**env, name: V}, SIZES)
        fd = central_jacobian(f, env[r.wrt])[0, 0]
        assert rel_error(got, fd) < 1e-6, (src, r.wrt)
