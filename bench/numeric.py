"""matd's compiled gradient and Hessian evaluation against hand-written numpy closed forms,
jax.jit(jax.grad(f)) (compile time reported apart) and PyTorch autograd, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/numeric.py [--quick]

Goal: matd within 1.2x of the hand-written numpy closed form at n >= 1000. Every matd
result is checked against the closed form before it is timed.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import time_fn  # noqa: E402


def sig(z):
    return 1 / (1 + np.exp(-z))


def problems(n: int, rng):
    """(name, matd program, wrt, order, inputs, numpy closed form, jax f, torch f)."""
    r = max(10, n // 10)
    h = max(10, n // 10)
    X = rng.standard_normal((n, n)) / np.sqrt(n)
    w = rng.standard_normal(n)
    y = rng.standard_normal(n)
    yb = (rng.random(n) > 0.5).astype(float)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    B = rng.standard_normal((n, n)) / np.sqrt(n)
    M = rng.standard_normal((n, n))
    S = M @ M.T / n + np.eye(n)
    Asym = (A + A.T) / 2
    T = rng.standard_normal((n, n))
    U = rng.standard_normal((n, r))
    V = rng.standard_normal((n, r))
    W1 = rng.standard_normal((n, h)) / np.sqrt(n)
    W2 = rng.standard_normal((h, 10)) / np.sqrt(h)
    Y = rng.standard_normal((n, 10))
    x = rng.standard_normal(n)
    lam = 0.1
    return [
        ("least squares", "X: n x n; w, y: n; norm(X w - y)^2", "w", 1,
         {"X": X, "w": w, "y": y}, lambda: 2 * X.T @ (X @ w - y),
         lambda j: (lambda w: j.sum((X @ w - y) ** 2)), (lambda t: lambda w: ((t(X) @ w - t(y)) ** 2).sum(), w)),
        ("ridge", "X: n x n; w, y: n; lam: scalar; norm(X w - y)^2 + lam norm(w)^2", "w", 1,
         {"X": X, "w": w, "y": y, "lam": np.array(lam)},
         lambda: 2 * X.T @ (X @ w - y) + 2 * lam * w,
         lambda j: (lambda w: j.sum((X @ w - y) ** 2) + lam * j.sum(w ** 2)),
         (lambda t: lambda w: ((t(X) @ w - t(y)) ** 2).sum() + lam * (w ** 2).sum(), w)),
        ("logistic", "X: n x n; w, y: n; sum(softplus(X w)) - y^T X w", "w", 1,
         {"X": X, "w": w, "y": yb}, lambda: X.T @ (sig(X @ w) - yb),
         lambda j: (lambda w: j.sum(jax_softplus(j, X @ w)) - yb @ (X @ w)),
         (lambda t: lambda w: torch_softplus(t(X) @ w).sum() - t(yb) @ (t(X) @ w), w)),
        ("factorization", "T: n x n; U, V: n x r; norm(T - U V^T)^2", "U", 1,
         {"T": T, "U": U, "V": V}, lambda: 2 * (U @ V.T - T) @ V,
         lambda j: (lambda U: j.sum((T - U @ V.T) ** 2)),
         (lambda t: lambda U: ((t(T) - U @ t(V).T) ** 2).sum(), U)),
        ("gaussian Σ", "S: n x n spd; A: n x n sym; logdet(S) + tr(inv(S) A)", "S", 1,
         {"S": S, "A": Asym},
         lambda: (lambda Si: Si - Si @ Asym @ Si)(np.linalg.inv(S)),
         lambda j: (lambda S: j.linalg.slogdet(S)[1] + j.trace(j.linalg.solve(S, Asym))),
         (lambda t: lambda S: t.linalg.slogdet(S)[1] + t.trace(t.linalg.solve(S, t(Asym))), S)),
        ("MLP (2 tanh layers)",
         "X: n x n; W1: n x h; W2: h x k; Y: n x k; 0.5 norm(tanh(X W1) W2 - Y)^2", "W1", 1,
         {"X": X, "W1": W1, "W2": W2, "Y": Y},
         lambda: (lambda H: X.T @ (((H @ W2 - Y) @ W2.T) * (1 - H ** 2)))(np.tanh(X @ W1)),
         lambda j: (lambda W1: 0.5 * j.sum((j.tanh(X @ W1) @ W2 - Y) ** 2)),
         (lambda t: lambda W1: 0.5 * ((t.tanh(t(X) @ W1) @ t(W2) - t(Y)) ** 2).sum(), W1)),
        ("tr(A X B Xᵀ)", "A, X, B: n x n; tr(A X B X^T)", "X", 1,
         {"A": A, "X": X, "B": B}, lambda: A.T @ X @ B.T + A @ X @ B,
         lambda j: (lambda X: j.trace(A @ X @ B @ X.T)),
         (lambda t: lambda X: t.trace(t(A) @ X @ t(B) @ X.T), X)),
        ("quadratic xᵀAx", "A: n x n; x: n; x^T A x", "x", 1,
         {"A": A, "x": x}, lambda: A @ x + A.T @ x,
         lambda j: (lambda x: x @ A @ x), (lambda t: lambda x: x @ t(A) @ x, x)),
        ("Hessian xᵀAx", "A: n x n; x: n; x^T A x", "x", 2,
         {"A": A, "x": x}, lambda: A + A.T,
         lambda j: (lambda x: x @ A @ x), (lambda t: lambda x: x @ t(A) @ x, x)),
        ("Hessian logistic", "X: n x n; w, y: n; sum(softplus(X w)) - y^T X w", "w", 2,
         {"X": X, "w": w, "y": yb},
         lambda: (lambda s: X.T @ ((s * (1 - s))[:, None] * X))(sig(X @ w)),
         lambda j: (lambda w: j.sum(jax_softplus(j, X @ w)) - yb @ (X @ w)),
         (lambda t: lambda w: torch_softplus(t(X) @ w).sum() - t(yb) @ (t(X) @ w), w)),
    ]


def jax_softplus(j, z):
    import jax.numpy as jnp
    return jnp.logaddexp(0.0, z)


def torch_softplus(z):
    import torch
    return torch.nn.functional.softplus(z)


def matd_runner(src, wrt, order, inputs):
    from matd.core.derive import derive
    from matd.core.plan import Plan
    from matd.grammar.parse import parse_program
    given = {k: ((1, 1) if v.ndim == 0 else (v.shape[0], 1) if v.ndim == 1 else v.shape)
             for k, v in inputs.items()}
    prog = parse_program(src, given=given)
    res = derive(prog, [wrt], order).results[0]
    sizes = {}
    for name, var in prog.variables.items():
        for d, k in zip(var.shape, given[name]):
            if d.factors and d.coef == 1 and len(d.factors) == 1:
                sizes[d.factors[0]] = k
    spd = frozenset(n for n, v in prog.variables.items() if "spd" in v.params[1])
    plan = Plan([res.derivative], sizes, spd)
    env = {k: (v.reshape(1, 1) if v.ndim == 0 else v.reshape(-1, 1) if v.ndim == 1 else v)
           for k, v in inputs.items()}
    import array_api_compat.numpy as xp
    return lambda: plan.run(env, xp, check=False)[0], plan


def jax_runner(make_f, wrt_value, order):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, None
    jax.config.update("jax_enable_x64", True)
    f = make_f(jnp)
    g = jax.jit(jax.hessian(f) if order == 2 else jax.grad(f))
    x = jnp.asarray(wrt_value)
    t = time.perf_counter()
    g(x).block_until_ready()
    compile_ms = (time.perf_counter() - t) * 1000
    return (lambda: g(x).block_until_ready()), compile_ms


def torch_runner(spec, order):
    try:
        import torch
    except ImportError:
        return None
    make, value = spec

    class _T:
        """t(a): a float64 tensor; t.anything: torch.anything."""

        def __call__(self, a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float64)

        def __getattr__(self, name):
            return getattr(torch, name)
    t = _T()
    f = make(t)
    x0 = t(value)
    if order == 2:
        return lambda: torch.autograd.functional.hessian(f, x0)

    def grad():
        x = x0.clone().requires_grad_(True)
        f(x).backward()
        return x.grad
    return grad


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
        return "; ".join(f"{d.get('internal_api')} {d.get('version')} "
                         f"({d.get('architecture')}, {d.get('num_threads')} threads)"
                         for d in threadpool_info() if d.get("user_api") == "blas")
    except ImportError:
        return "threadpoolctl not installed"


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = (100, 1000) if quick else (100, 1000, 3000)
    rng = np.random.default_rng(0)
    print(f"BLAS: {blas_info()}")
    print(f"{'problem':22} {'n':>5} {'matd ms':>9} {'numpy ms':>9} {'matd/np':>8} "
          f"{'jax ms':>8} {'(compile)':>10} {'torch ms':>9}  check")
    worst = []
    for n in sizes:
        for name, src, wrt, order, inputs, closed, jf, tf in problems(n, rng):
            if order == 2 and n > 1000 and "logistic" not in name:
                continue
            run, plan = matd_runner(src, wrt, order, inputs)
            ref = np.asarray(closed())
            got = np.asarray(run())
            err = np.max(np.abs(got.reshape(ref.shape) - ref)) / max(1.0, np.max(np.abs(ref)))
            budget = 2.0 if n >= 1000 else 0.5
            t_m = time_fn(run, budget)
            t_n = time_fn(closed, budget)
            jrun, jcomp = jax_runner(jf, inputs[wrt], order)
            t_j = time_fn(jrun, budget) if jrun else float("nan")
            trun = torch_runner(tf, order) if not (order == 2 and n > 1000) else None
            t_t = time_fn(trun, budget) if trun else float("nan")
            ratio = t_m / t_n
            if n >= 1000:
                worst.append((ratio, name, n))
            flag = "" if ratio <= 1.2 or n < 1000 else "  <- above 1.2x"
            print(f"{name:22} {n:5d} {t_m:9.3f} {t_n:9.3f} {ratio:8.2f} {t_j:8.3f} "
                  f"{jcomp if jcomp else float('nan'):10.1f} {t_t:9.3f}  {err:.1e}{flag}")
    if worst:
        print(f"\nworst matd/numpy at n >= 1000: {max(worst)[0]:.2f} ({max(worst)[1]}, "
              f"n={max(worst)[2]}); goal <= 1.2")
    hvp_rows(1000 if quick else 3000, rng)


def hvp_rows(n: int, rng) -> None:
    """--hvp: the Hessian applied to v, never formed, against forming it and multiplying."""
    from matd.core.derive import derive
    from matd.core.differentiate import differential
    from matd.core.plan import Plan
    from matd.core.simplify import simplify
    from matd.grammar.parse import parse_program
    print(f"\nHessian-vector products at n={n} (ms): matd --hvp | full Hessian then H v | "
          "numpy closed form of H v")
    X = rng.standard_normal((n, n)) / np.sqrt(n)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    w, v = rng.standard_normal(n), rng.standard_normal(n)
    y = (rng.random(n) > 0.5).astype(float)
    cases = [("quadratic xᵀAx", "A: n x n; x: n; x^T A x", "x", {"A": A, "x": w},
              lambda: A @ v + A.T @ v),
             ("logistic", "X: n x n; w, y: n; sum(softplus(X w)) - y^T X w", "w",
              {"X": X, "w": w, "y": y},
              lambda: (lambda s: X.T @ (s * (1 - s) * (X @ v)))(sig(X @ w)))]
    for name, src, wrt, inputs, closed in cases:
        prog = parse_program(src)
        r = derive(prog, [wrt], 2).results[0]
        dG = simplify(differential(r.gradient, [wrt]))
        env = {k: (a.reshape(-1, 1) if a.ndim == 1 else a) for k, a in inputs.items()}
        hvp_plan = Plan([dG], {"n": n})
        full = Plan([r.derivative], {"n": n})
        V = v.reshape(-1, 1)
        got = hvp_plan.run(env, denv={wrt: V}, check=False)[0][:, 0]
        assert np.allclose(got, closed(), atol=1e-8)
        t_h = time_fn(lambda: hvp_plan.run(env, denv={wrt: V}, check=False), 1.0)
        t_f = time_fn(lambda: full.run(env, check=False)[0] @ V, 1.0)
        t_c = time_fn(closed, 1.0)
        print(f"  {name:16} {t_h:9.3f} | {t_f:9.3f} | {t_c:9.3f}")


if __name__ == "__main__":
    main()
