"""The evaluation plan: its optimizations, checked by inspecting the compiled steps,
and its numbers, checked against naive numpy evaluation of the same formula."""
from __future__ import annotations

import numpy as np
import pytest

from matd.core.errors import MatdError
from matd.core.plan import NumericError, Plan
from matd.core.randomize import draw
from matd.grammar.parse import parse_program


def compile_(src, sizes, outputs=None):
    prog = parse_program(src)
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    return prog, Plan(outputs or [prog.result], dict(sizes), spd)


def inputs(prog, plan, kinds=None, seed=0):
    """float64 2-D arrays for every variable (gauss unless a kind is named)."""
    rng = np.random.default_rng(seed)
    env = {}
    for name, var in prog.variables.items():
        shape = next(st.shape for st in plan.steps
                     if st.kind == "input" and st.extra == ("var", name))
        kind = (kinds or {}).get(name, "spd" if "spd" in var.params[1] else "gauss")
        env[name] = draw(kind, shape, rng)
    return env


def labels(plan, kind="kernel"):
    return [st.label for st in plan.steps if st.kind == kind]


def run(plan, env):
    out = plan.run(env)
    return out[0] if len(out) == 1 else out


def close(got, ref):
    np.testing.assert_allclose(got, np.asarray(ref).reshape(np.shape(got)), rtol=1e-10,
                               atol=1e-12)


inv = np.linalg.inv

# (program, sizes, the step kind it must use, naive numpy formula of env)
SOLVES = [
    ("X, B: n x n; inv(X) B", {"n": 5}, "solve", lambda e: inv(e["X"]) @ e["B"]),
    ("X, B: n x n; X^-1 B", {"n": 5}, "solve", lambda e: inv(e["X"]) @ e["B"]),
    ("X, B: n x n; B inv(X)", {"n": 5}, "rsolve", lambda e: e["B"] @ inv(e["X"])),
    ("X, B: n x n; X^-T B", {"n": 5}, "solve", lambda e: inv(e["X"]).T @ e["B"]),
    ("X, B: n x n; inv(X)^T B", {"n": 5}, "solve", lambda e: inv(e["X"]).T @ e["B"]),
    ("X, B: n x n; B X^-T", {"n": 5}, "rsolve", lambda e: e["B"] @ inv(e["X"]).T),
    ("X: n x n; B: n x k; inv(X) B", {"n": 5, "k": 2}, "solve", lambda e: inv(e["X"]) @ e["B"]),
    ("X: n x n; B: k x n; B X^-T", {"n": 5, "k": 2}, "rsolve",
     lambda e: e["B"] @ inv(e["X"]).T),
    ("X: n x n; b: n; inv(X) b", {"n": 5}, "solve", lambda e: inv(e["X"]) @ e["b"]),
    ("X: n x n; b: n; b^T inv(X)", {"n": 5}, "rsolve", lambda e: e["b"].T @ inv(e["X"])),
    ("X: n x n; b: n; b^T X^-T b", {"n": 5}, None, lambda e: e["b"].T @ inv(e["X"]).T @ e["b"]),
    ("X: n x n; A: k x n; B: n x k; tr(A inv(X) B)", {"n": 5, "k": 3}, None,
     lambda e: np.trace(e["A"] @ inv(e["X"]) @ e["B"])),
]


@pytest.mark.parametrize("src,sizes,kind,naive", SOLVES, ids=[s[0].split("; ")[-1] for s in SOLVES])
def test_inverse_in_a_product_is_a_solve(src, sizes, kind, naive):
    prog, plan = compile_(src, sizes)
    assert "inv" not in labels(plan), plan.describe()
    if kind:
        assert kind in plan.kinds(), plan.describe()
    assert {"solve", "rsolve"} & set(plan.kinds())
    env = inputs(prog, plan, {"X": "wellcond"})
    close(run(plan, env), naive(env))


@pytest.mark.parametrize("src", ["X, B: n x n; inv(X) B + inv(X)",
                                 "X, B: n x n; tr(inv(X) B) + sum(inv(X))",
                                 "X, B, C: n x n; inv(X) B + C inv(X)"])
def test_inverse_needed_alone_is_computed_once(src):
    prog, plan = compile_(src, {"n": 4})
    assert labels(plan).count("inv") == 1, plan.describe()
    assert not {"solve", "rsolve"} & set(plan.kinds()), plan.describe()
    env = inputs(prog, plan, {"X": "wellcond"})
    Xi = inv(env["X"])
    naive = {"X, B: n x n; inv(X) B + inv(X)": lambda: Xi @ env["B"] + Xi,
             "X, B: n x n; tr(inv(X) B) + sum(inv(X))": lambda: np.trace(Xi @ env["B"]) + Xi.sum(),
             "X, B, C: n x n; inv(X) B + C inv(X)": lambda: Xi @ env["B"] + env["C"] @ Xi}[src]
    close(run(plan, env), naive())


def test_inverse_shared_by_two_outputs_is_computed_once():
    prog = parse_program("X, B: n x n; inv(X) B")
    from matd.core.algebra import fn, inv as inv_node
    X = prog.variables["X"]
    outputs = [prog.result, fn("sum", inv_node(X))]
    plan = Plan(outputs, {"n": 4})
    assert labels(plan).count("inv") + plan.kinds().count("solve") == 1, plan.describe()
    env = inputs(prog, plan, {"X": "wellcond"})
    a, b = plan.run(env)
    close(a, inv(env["X"]) @ env["B"])
    close(b, inv(env["X"]).sum())


DIAGS = [
    ("v: n; A: n x n; diag(v) A", ["rowscale"], lambda e: np.diag(e["v"][:, 0]) @ e["A"]),
    ("v: n; A: n x n; A diag(v)", ["colscale"], lambda e: e["A"] @ np.diag(e["v"][:, 0])),
    ("v: n; A: n x k; diag(v) A", ["rowscale"], lambda e: np.diag(e["v"][:, 0]) @ e["A"]),
    ("v: n; A: k x n; A diag(v)", ["colscale"], lambda e: e["A"] @ np.diag(e["v"][:, 0])),
    ("v, w: n; A: n x n; diag(v) A diag(w)", ["rowscale", "colscale"],
     lambda e: np.diag(e["v"][:, 0]) @ e["A"] @ np.diag(e["w"][:, 0])),
    ("v, x: n; diag(v) x", ["rowscale"], lambda e: e["v"] * e["x"]),
    ("v: n; A: n x n; tr(diag(v) A)", ["rowscale"],
     lambda e: np.trace(np.diag(e["v"][:, 0]) @ e["A"])),
]


@pytest.mark.parametrize("src,kinds,naive", DIAGS, ids=[s[0].split("; ")[-1] for s in DIAGS])
def test_diagonal_matrix_products_are_scalings(src, kinds, naive):
    prog, plan = compile_(src, {"n": 6, "k": 3})
    assert "diag" not in labels(plan), plan.describe()
    for k in kinds:
        assert k in plan.kinds(), plan.describe()
    if "A" not in prog.variables:          # nothing n×n may exist at all
        assert not any(st.shape == (6, 6) for st in plan.steps), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), naive(env))


KRONS = [
    ("A: m x n; B: p x q; x: n*q; kron(A, B) x", lambda e: np.kron(e["A"], e["B"]) @ e["x"]),
    ("A: m x n; B: p x q; X: n*q x k; kron(A, B) X", lambda e: np.kron(e["A"], e["B"]) @ e["X"]),
    ("A: m x n; B: p x q; X: n*q x k; sum(kron(A, B) X)",
     lambda e: (np.kron(e["A"], e["B"]) @ e["X"]).sum()),
    ("A: m x n; B: p x q; x: n*q; y: m*p; y^T kron(A, B) x",
     lambda e: e["y"].T @ np.kron(e["A"], e["B"]) @ e["x"]),
    ("A: m x n; B: p x q; X: n x q; kron(A, B) vec(X^T)",
     lambda e: np.kron(e["A"], e["B"]) @ e["X"].reshape(-1, 1)),
    # applied from the left, or transposed: (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ, still only applied
    ("A: m x n; B: p x q; y: m*p; kron(A, B)^T y", lambda e: np.kron(e["A"], e["B"]).T @ e["y"]),
    ("A: m x n; B: p x q; y: m*p; y^T kron(A, B)", lambda e: e["y"].T @ np.kron(e["A"], e["B"])),
]


@pytest.mark.parametrize("src,naive", KRONS, ids=[s[0].split("; ")[-1] for s in KRONS])
def test_kron_applied_is_never_formed(src, naive):
    prog, plan = compile_(src, {"m": 2, "n": 3, "p": 4, "q": 5, "k": 2})
    assert "kron" not in labels(plan), plan.describe()
    assert "kron_apply" in plan.kinds(), plan.describe()
    assert not any(st.shape == (8, 15) for st in plan.steps), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), naive(env))


def test_logdet_spd_uses_cholesky_else_slogdet():
    prog, plan = compile_("S: n x n spd; logdet(S)", {"n": 5})
    assert "cholesky_logdet" in plan.kinds() and "logdet" not in labels(plan), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), np.linalg.slogdet(env["S"])[1])

    prog, plan = compile_("S: n x n; logdet(S)", {"n": 5})
    assert "cholesky_logdet" not in plan.kinds() and labels(plan) == ["logdet"], plan.describe()
    env = inputs(prog, plan, {"S": "spd"})
    close(run(plan, env), np.linalg.slogdet(env["S"])[1])
    X = draw("wellcond", (5, 5), np.random.default_rng(2))
    X[[0, 1]] = X[[1, 0]]                 # negative determinant: log|det X|
    assert np.linalg.det(X) < 0
    close(run(plan, {"S": X}), np.log(abs(np.linalg.det(X))))


def test_logdet_spd_not_positive_definite_is_a_numeric_error():
    prog, plan = compile_("S: n x n spd; logdet(S)", {"n": 3})
    with pytest.raises(NumericError, match="S is declared spd but is not positive definite"):
        plan.run({"S": -np.eye(3)})


def test_shared_subexpression_is_one_step():
    prog, plan = compile_("A: n x n; x: n; exp(A x) + sin(exp(A x))", {"n": 4})
    assert plan.kinds().count("matmul") == 1 and labels(plan).count("exp") == 1
    assert len(plan.steps) == 6, plan.describe()    # A, x, A x, exp, sin, +
    env = inputs(prog, plan)
    e = np.exp(env["A"] @ env["x"])
    close(run(plan, env), e + np.sin(e))

    prog, plan = compile_("A: n x n; x: n; r = A x; exp(r) .* r + r", {"n": 4})
    assert plan.kinds().count("matmul") == 1, plan.describe()
    env = inputs(prog, plan)
    r = env["A"] @ env["x"]
    close(run(plan, env), np.exp(r) * r + r)


def test_shared_subexpression_across_outputs():
    prog = parse_program("A: n x n; x: n; tanh(A x)")
    from matd.core.algebra import fn
    f = prog.result
    plan = Plan([f, fn("sum", f)], {"n": 4})
    assert plan.kinds().count("matmul") == 1 and labels(plan).count("tanh") == 1
    env = inputs(prog, plan)
    a, b = plan.run(env)
    close(a, np.tanh(env["A"] @ env["x"]))
    close(b, np.tanh(env["A"] @ env["x"]).sum())


def test_gradient_plan_computes_the_forward_pass_once():
    from matd.core.derive import derive
    prog = parse_program("X: m x d; W1: d x h; W2: h x k; Y: m x k; "
                         "0.5 norm(tanh(X W1) W2 - Y)^2")
    G = derive(prog, ["W1"]).results[0].derivative
    plan = Plan([G], {"m": 5, "d": 3, "h": 4, "k": 2})
    assert labels(plan).count("tanh") == 1, plan.describe()
    env = inputs(prog, plan)
    T = np.tanh(env["X"] @ env["W1"])
    R = T @ env["W2"] - env["Y"]
    close(run(plan, env), env["X"].T @ ((R @ env["W2"].T) * (1 - T ** 2)))


def test_chain_matrix_times_matrix_times_vector_multiplies_the_vector_first():
    n = 40
    prog, plan = compile_("A, B: n x n; v: n; A B v", {"n": n})
    mm = [st.shape for st in plan.steps if st.kind == "matmul"]
    assert mm == [(n, 1), (n, 1)], plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), env["A"] @ env["B"] @ env["v"])

    prog, plan = compile_("A, B: n x n; v: n; v^T A B", {"n": n})
    assert [st.shape for st in plan.steps if st.kind == "matmul"] == [(1, n), (1, n)]
    env = inputs(prog, plan)
    close(run(plan, env), env["v"].T @ env["A"] @ env["B"])


def test_chain_order_follows_the_sizes():
    """(A B) C costs 10·100·5 + 10·5·50 flops, A (B C) 100·5·50 + 10·100·50."""
    prog, plan = compile_("A: p x q; B: q x r; C: r x s; A B C",
                          {"p": 10, "q": 100, "r": 5, "s": 50})
    assert [st.shape for st in plan.steps if st.kind == "matmul"] == [(10, 5), (10, 50)]
    env = inputs(prog, plan)
    close(run(plan, env), env["A"] @ env["B"] @ env["C"])

    prog, plan = compile_("A: p x q; B: q x r; C: r x s; A B C",
                          {"p": 50, "q": 5, "r": 100, "s": 10})
    assert [st.shape for st in plan.steps if st.kind == "matmul"] == [(5, 10), (50, 10)]
    env = inputs(prog, plan)
    close(run(plan, env), env["A"] @ env["B"] @ env["C"])


@pytest.mark.parametrize("src,naive", [
    ("A: n x n; x: n; (A + A^T) x", lambda e: (e["A"] + e["A"].T) @ e["x"]),
    ("A: n x n; x: n; x^T (A + A^T) x", lambda e: e["x"].T @ (e["A"] + e["A"].T) @ e["x"]),
    ("A, B: n x n; x: n; (A - B) x", lambda e: (e["A"] - e["B"]) @ e["x"]),
])
def test_sum_times_thin_factor_is_distributed(src, naive):
    n = 16
    prog, plan = compile_(src, {"n": n})
    formed = [st for st in plan.steps if st.shape == (n, n) and st.kind in ("kernel", "combine")
              and st.label in ("add", "combine")]
    assert formed == [], plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), naive(env))


def test_elementwise_chains_do_not_touch_inputs_and_rerun_identically():
    """On numpy elementwise steps reuse dying temporaries: never an input, never an output."""
    src = "X: m x n; W: n x n; Z = X W; t = tanh(Z); (1 - t .^ 2) .* exp(-Z) + sigmoid(Z) - t"
    prog, plan = compile_(src, {"m": 5, "n": 4})
    env = inputs(prog, plan)
    kept = {k: v.copy() for k, v in env.items()}
    first = run(plan, env).copy()
    second = run(plan, env)
    for k in env:
        np.testing.assert_array_equal(env[k], kept[k])
    np.testing.assert_array_equal(first, second)
    Z = env["X"] @ env["W"]
    t = np.tanh(Z)
    close(first, (1 - t ** 2) * np.exp(-Z) + 1 / (1 + np.exp(-Z)) - t)


@pytest.mark.parametrize("src,naive", [
    ("A: n x n; B = exp(A); C = B^T; sin(B) + C", lambda A: np.sin(np.exp(A)) + np.exp(A).T),
    ("A: n x n; B = exp(A); C = B^T; C .* sin(B)", lambda A: np.exp(A).T * np.sin(np.exp(A))),
    ("A: n x n; B = exp(A); C = B^T; B - C", lambda A: np.exp(A) - np.exp(A).T),
    ("A: n x n; B = exp(A); C = B^T; C - B", lambda A: np.exp(A).T - np.exp(A)),
    ("A: n x n; B = exp(A); d = diag(B); sin(B) + diag(d)",
     lambda A: np.sin(np.exp(A)) + np.diag(np.diag(np.exp(A)))),
    ("A: n x n; B = exp(A); C = vec(B); sum(sin(B)) + sum(exp(C))",
     lambda A: np.sin(np.exp(A)).sum() + np.exp(np.exp(A)).sum()),
    ("A: n x n; z = A^T; w = -z; w + z .* z", lambda A: -A.T + A.T ** 2),
])
def test_views_of_temporaries_survive_in_place_reuse(src, naive):
    """A transpose, diagonal or vec of a temporary may be a view of its memory: a fused
    elementwise step must not overwrite a buffer a later step still reads through a view."""
    prog, plan = compile_(src, {"n": 4})
    env = inputs(prog, plan)
    close(run(plan, env), naive(env["A"]))


def test_outputs_that_share_a_buffer_stay_distinct():
    prog = parse_program("X: m x n; exp(X)")
    from matd.core.algebra import fn
    f = prog.result
    g = fn("sin", f)
    plan = Plan([f, g, fn("exp", g)], {"m": 3, "n": 2})
    env = inputs(prog, plan)
    a, b, c = plan.run(env)
    close(a, np.exp(env["X"]))
    close(b, np.sin(np.exp(env["X"])))
    close(c, np.exp(np.sin(np.exp(env["X"]))))


@pytest.mark.parametrize("src,env,what", [
    ("X: n x n; inv(X)", {"X": np.ones((3, 3))}, "X^-1"),
    ("X, B: n x n; inv(X) B", {"X": np.ones((3, 3)), "B": np.eye(3)}, "X^-1 B"),
    ("X, B: n x n; B inv(X)", {"X": np.zeros((3, 3)), "B": np.eye(3)}, "B X^-1"),
    ("x: n; exp(x)", {"x": np.array([[1000.0], [1.0]])}, "exp(x)"),
    ("x: n; exp(2 x)", {"x": np.array([[400.0], [1.0]])}, "exp(2 x)"),
    ("x: n; sum(exp(-x) + 1)", {"x": np.array([[-800.0], [1.0]])}, "exp(-x)"),
    ("x: n; sum(log(x))", {"x": np.array([[-1.0], [1.0]])}, "log(x)"),
])
def test_numerical_trouble_names_the_subexpression(src, env, what):
    prog = parse_program(src)
    n = next(iter(env.values())).shape[0]
    plan = Plan([prog.result], {"n": n})
    with pytest.raises(NumericError) as info:
        plan.run(env)
    assert what in info.value.message, info.value.message


def test_missing_input_is_an_error():
    prog, plan = compile_("A: n x n; x: n; A x", {"n": 2})
    with pytest.raises(MatdError, match="no value for x"):
        plan.run({"A": np.eye(2)})


def test_float32_plan():
    prog, plan = compile_("X: n x n; B: n x k; v: n; S: n x n spd; "
                          "sum(inv(X) B) + v^T diag(v) X v + logdet(S) + sum(tanh(X B))",
                          {"n": 6, "k": 2})
    env = inputs(prog, plan, {"X": "wellcond"})
    ref = run(plan, env)
    got = plan.run({k: v.astype(np.float32) for k, v in env.items()}, dtype=np.float32)[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-4)


# -- diagonal matrices are vectors ------------------------------------------------------------
def dg(v):
    return np.diag(v[:, 0])


# (program, the step kinds it must use, naive numpy formula of env); n = 6, k = 3: no n×n
# array may be formed (every program's n×n matrices are diagonal)
DIAGONALS = [
    ("a, b, c: n; A: n x k; (diag(a) - diag(b) diag(c)) A", ["rowscale"],
     lambda e: (dg(e["a"]) - dg(e["b"]) @ dg(e["c"])) @ e["A"]),
    ("v: n; A: n x k; B: k x n; sum(diag(v) A) + tr(B diag(v) A)", ["rowscale"],
     lambda e: (dg(e["v"]) @ e["A"]).sum() + np.trace(e["B"] @ dg(e["v"]) @ e["A"])),
    ("v: n; B: k x n; B diag(v) diag(v)", ["colscale"], lambda e: e["B"] @ dg(e["v"]) ** 2),
    ("v: n; A: n x k; c: scalar; -(A^T diag(v) A) + c A^T diag(v) diag(v) A", ["rowscale"],
     lambda e: -e["A"].T @ dg(e["v"]) @ e["A"] + e["c"] * e["A"].T @ dg(e["v"]) ** 2 @ e["A"]),
    ("v: n; A: n x k; (2 I - diag(v)^2) A", ["rowscale"],
     lambda e: (2 * np.eye(6) - dg(e["v"]) @ dg(e["v"])) @ e["A"]),
    ("v, w: n; A: n x k; (diag(v) + diag(w)^T) A", ["rowscale"],
     lambda e: (dg(e["v"]) + dg(e["w"])) @ e["A"]),
    ("v: n; tr(diag(v) diag(v)) + sum(diag(v) - I)", [],
     lambda e: (e["v"] ** 2).sum() + e["v"].sum() - 6),
    ("v: n; A: n x k; x: k; (diag(v) diag(exp(v)) - 3 I) A x", ["rowscale"],
     lambda e: (dg(e["v"] * np.exp(e["v"])) - 3 * np.eye(6)) @ e["A"] @ e["x"]),
]


@pytest.mark.parametrize("src,kinds,naive", DIAGONALS,
                         ids=[s[0].split("; ")[-1] for s in DIAGONALS])
def test_diagonals_stay_vectors(src, kinds, naive):
    prog, plan = compile_(src, {"n": 6, "k": 3})
    assert not any(st.shape == (6, 6) for st in plan.steps), plan.describe()
    for k in kinds:
        assert k in plan.kinds(), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), naive(env))


@pytest.mark.parametrize("src,kind,naive", [
    ("v: n; A: n x n; A + diag(v)", "adddiag", lambda e: e["A"] + dg(e["v"])),
    ("v: n; c: scalar; A: n x n; A^T - c I + diag(v) - A", "adddiag",
     lambda e: e["A"].T - e["c"] * np.eye(6) + dg(e["v"]) - e["A"]),
    ("a, b: n; diag(a) - diag(b) diag(a)", "diagonal", lambda e: dg(e["a"] - e["b"] * e["a"])),
    ("v: n; A: n x n; diag(v) .* A", "diagonal", lambda e: dg(e["v"]) * e["A"]),
])
def test_a_diagonal_in_a_dense_result_is_added_or_formed_once(src, kind, naive):
    """Only the result is n×n (and A, A^T where given): no n×n diagonal alongside."""
    prog, plan = compile_(src, {"n": 6})
    assert kind in plan.kinds(), plan.describe()
    made = [st for st in plan.steps if st.shape == (6, 6) and st.kind not in ("input",)
            and st.label != "transpose" and st.kind not in ("adddiag", "diagonal")
            and st.kind != "combine"]
    assert made == [], plan.describe()
    env = inputs(prog, plan)
    kept = {k: v.copy() for k, v in env.items()}
    close(run(plan, env), naive(env))
    close(run(plan, env), naive(env))              # a second run: the same numbers
    for k in env:
        np.testing.assert_array_equal(env[k], kept[k])


def test_logistic_hessian_has_no_m_by_m_intermediate():
    """sum(log(1 + exp(-y ∘ X w))): its Hessian Xᵀ diag(y) (diag(…) - diag(…)) X is one
    vector scaling X's rows and one product; nothing m×m, one m×n, the n×n result."""
    from matd.core.derive import derive
    prog = parse_program("X: m x n; w: n; y: m; sum(log(1 + exp(-y .* (X w))))")
    H = derive(prog, ["w"], 2).results[0].derivative
    m, n = 40, 7
    plan = Plan([H], {"m": m, "n": n})
    big = [st for st in plan.steps if st.shape[0] * st.shape[1] > m and st.kind != "input"
           and st.label != "transpose"]
    assert [st.shape for st in big] == [(m, n), (n, n)], plan.describe()
    assert not any(st.kind == "kernel" and st.label == "neg" and st.shape == (n, n)
                   for st in plan.steps), plan.describe()   # the sign is on the vector
    rng = np.random.default_rng(3)
    X, w = rng.standard_normal((m, n)), rng.standard_normal((n, 1))
    y = np.where(rng.random((m, 1)) > 0.5, 1.0, -1.0)
    s = 1 / (1 + np.exp(-y * (X @ w)))
    close(plan.run({"X": X, "w": w, "y": y})[0], X.T @ (s * (1 - s) * X))


# -- finiteness: inputs and results checked once; a step blamed only on trouble ----------------
def test_a_run_checks_inputs_and_results_not_every_step(monkeypatch):
    import matd.core.execute as plan_module
    prog, plan = compile_("X: m x n; W: n x n; Z = X W; sum(tanh(Z) .* exp(-Z)) + sum(X)",
                          {"m": 5, "n": 4})
    env = inputs(prog, plan)
    seen = []
    real = plan_module.all_finite
    monkeypatch.setattr(plan_module, "all_finite", lambda xp, v: seen.append(v) or real(xp, v))
    plan.run(env)
    assert len(seen) == 3, len(seen)         # X, W and the result
    seen.clear()
    plan.run(env, inputs_checked=True)
    assert len(seen) == 1                    # the result alone


@pytest.mark.parametrize("src,env,what", [
    ("x: n; sum(log(x - 1) + x)", {"x": np.array([[0.5], [2.0]])}, "log(x - 1)"),
    ("x: n; A: n x n; A exp(x .* x)", {"x": np.array([[30.0], [1.0]]), "A": np.eye(2)},
     "exp(x .* x)"),
])
def test_a_nonfinite_intermediate_is_blamed_on_its_step(src, env, what):
    prog = parse_program(src)
    plan = Plan([prog.result], {"n": 2})
    for checked in (False, True):
        with pytest.raises(NumericError) as info:
            plan.run(env, inputs_checked=checked)
        assert what in info.value.message and "not finite" in info.value.message, \
            info.value.message


def test_a_nonfinite_input_is_named_even_when_said_to_be_checked():
    prog, plan = compile_("x: n; sum(exp(x))", {"n": 2})
    with pytest.raises(NumericError, match="value of x is not finite"):
        plan.run({"x": np.array([[np.nan], [1.0]])}, inputs_checked=True)
    with pytest.raises(NumericError, match="value of x is not finite"):
        plan.run({"x": np.array([[np.inf], [1.0]])})


def test_read_only_inputs_are_never_written():
    """Elementwise steps reuse dying temporaries in place, never a given array (even one
    that a kernel hands back as it is)."""
    src = "X: m x n; W: n x n; Z = X W; (1 - tanh(Z) .^ 2) .* exp(-X) + sigmoid(X) - X + X .* X"
    prog, plan = compile_(src, {"m": 5, "n": 4})
    env = inputs(prog, plan)
    for v in env.values():
        v.setflags(write=False)
    X, W = env["X"], env["W"]
    Z = X @ W
    close(run(plan, env), (1 - np.tanh(Z) ** 2) * np.exp(-X) + 1 / (1 + np.exp(-X)) - X + X * X)


GAUSS = "X: m x d; mu: d; S: d x d spd; R = X - ones(m) mu^T; m logdet(S) + tr(R inv(S) R^T)"


def test_gaussian_over_a_sample_is_linear_in_the_sample():
    # value and both gradients in one plan, at m = 2,000,000 (compiled, not run): nothing
    # m x m, no ones(m) mu^T formed (X - 1 muᵀ broadcasts the row), R formed once (Rᵀ is
    # its view: the gradient's Xᵀ - mu 1ᵀ too), the Gram matrix Rᵀ R once for all three
    from matd.core.derive import derive
    prog = parse_program(GAUSS)
    d = derive(prog, ["mu", "S"], 1)
    m, k = 2_000_000, 50
    plan = Plan([prog.result] + [r.derivative for r in d.results], {"m": m, "d": k},
                frozenset(["S"]))
    big = [st for st in plan.steps if st.kind != "input" and st.shape[0] * st.shape[1] > m * k]
    assert not big, plan.describe()
    formed = [st for st in plan.steps if st.shape == (m, k) and st.kind != "input"]
    assert len(formed) == 1 and formed[0].kind == "combine", plan.describe()
    assert not [st for st in plan.steps if st.kind == "const" and st.shape[0] == m]
    grams = [st for st in plan.steps if st.kind == "matmul" and st.shape == (k, k) and
             any(plan.steps[a].shape[1] == m for a in st.args)]
    assert len(grams) == 1, plan.describe()
    small = Plan([prog.result] + [r.derivative for r in d.results], {"m": 9, "d": 3},
                 frozenset(["S"]))
    env = inputs(prog, small, seed=3)
    R = env["X"] - env["mu"].T
    Si = inv(env["S"])
    want = [9 * np.linalg.slogdet(env["S"])[1] + np.trace(R @ Si @ R.T),
            -2 * Si @ R.T @ np.ones((9, 1)), 9 * Si - Si @ R.T @ R @ Si]
    for got, ref in zip(small.run(env), want):
        close(got, ref)


@pytest.mark.parametrize("src,naive", [
    ("A: m x n; B: n x m; tr(A B)", lambda e: np.trace(e["A"] @ e["B"])),
    ("A: n x k; B: k x n; tr(A B)", lambda e: np.trace(e["A"] @ e["B"])),
    ("A: m x k; B: k x k; tr(A B A^T)", lambda e: np.trace(e["A"] @ e["B"] @ e["A"].T)),
    ("A, C: m x k; B, D: k x m; tr(A B C D)",
     lambda e: np.trace(e["A"] @ e["B"] @ e["C"] @ e["D"])),
    ("A, B, C: n x n; tr(A B C)", lambda e: np.trace(e["A"] @ e["B"] @ e["C"])),
])
def test_a_trace_of_a_product_never_forms_a_large_square(src, naive):
    # m = 40 rows against n = 6 and k = 2: no step of the plan is m x m (1600 entries)
    prog, plan = compile_(src, {"m": 40, "n": 6, "k": 2})
    assert all(st.shape[0] * st.shape[1] <= 240 for st in plan.steps), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), naive(env))


def test_products_with_ones_are_sums():
    prog, plan = compile_("A: m x n; ones(1, m) A ones(n)", {"m": 5, "n": 4})
    assert "sums" in plan.kinds() and "const" not in plan.kinds(), plan.describe()
    env = inputs(prog, plan)
    close(run(plan, env), env["A"].sum())
    prog, plan = compile_("A: m x n; A ones(n, 3)", {"m": 5, "n": 4})
    env = inputs(prog, plan)
    close(run(plan, env), env["A"] @ np.ones((4, 3)))
