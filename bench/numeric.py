"""matd's compiled gradient and Hessian evaluation against hand-written numpy closed forms,
jax.jit(jax.grad(f)) / jax.jit(jax.hessian(f)) (compile time reported apart) and PyTorch
autograd, in one run: time (interleaved rounds, medians) and peak memory (tracemalloc).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/numeric.py [--quick]

Goals at n >= 1000: every case within 1.2x of the hand-written numpy closed form in time
and in memory, the geometric mean of matd/numpy time at most 1.1, and every Hessian ahead
of jax.jit(jax.hessian).  Every matd result is checked against the closed form before it
is timed.  All frameworks run on one thread.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"            # one BLAS thread for every framework, set before imports
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402



def interleaved(fns: dict, min_time: float = 1.0, max_rounds: int = 200,
                rounds: dict | None = None) -> dict:
    """Median ms of each function, timed in interleaved rounds (one call of each per round,
    in a random order), so that a load that comes and goes weighs on all alike, and so does
    what one leaves behind for the next (XLA's worker threads spin for a while after a
    call: a fixed rotation would always put the same function after jax).  ``rounds``, if
    given, receives each function's times, round by round."""
    import random
    fns = {k: f for k, f in fns.items() if f is not None}
    for f in fns.values():
        f()                               # warm-up
    xs: dict = {k: [] for k in fns}
    names = list(fns)
    shuffle = random.Random(0).shuffle
    start, r = time.perf_counter(), 0
    while r < max_rounds and (time.perf_counter() - start < min_time or r < 7):
        shuffle(names)
        for k in names:
            t = time.perf_counter()
            fns[k]()
            xs[k].append(time.perf_counter() - t)
        r += 1
    if rounds is not None:
        rounds.update(xs)
    return {k: statistics.median(v) * 1000 for k, v in xs.items()}


def ratio_of(rounds: dict, a: str, b: str) -> float:
    """The median over rounds of a's time / b's in the same round: the two calls of a round
    are close together, so this is steadier than a ratio of medians while other work on
    the machine comes and goes."""
    return statistics.median(x / y for x, y in zip(rounds[a], rounds[b]))


def peak_mb(fn) -> float:
    """Peak memory that one call of fn allocates (its result included), by tracemalloc:
    numpy and matd's plan report their array buffers to it."""
    import tracemalloc
    fn()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        del out
        return (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
    finally:
        tracemalloc.stop()


def jax_peak_mb(g, x) -> float:
    """XLA's own account of a compiled function's memory: temporaries plus the output."""
    try:
        m = g.lower(x).compile().memory_analysis()
        return (m.temp_size_in_bytes + m.output_size_in_bytes) / 2 ** 20
    except Exception:  # noqa: BLE001 - an older jax without memory_analysis
        return float("nan")


def geomean(xs) -> float:
    xs = [x for x in xs if x == x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def sig(z):
    return 1 / (1 + np.exp(-z))


def problems(n: int, rng):
    """(name, matd program, wrt, order, inputs, numpy closed form, jax f, torch f).  The
    closed forms are written with care: a scalar multiplies the product, not the matrix
    (2 * (X.T @ r), not 2 * X.T @ r, which scales all of X first)."""
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
    ypm = np.where(rng.random(n) > 0.5, 1.0, -1.0)      # ±1 labels
    lam = 0.1
    pm = "X: n x n; w, y: n; sum(log(1 + exp(-y .* (X w))))"

    def pm_grad():
        z = ypm * (X @ w)
        return -(X.T @ (ypm * sig(-z)))

    def pm_hess():                        # y² = 1: Xᵀ diag(s (1 - s)) X, s = σ(y ∘ X w)
        s = sig(ypm * (X @ w))
        return X.T @ ((s * (1 - s))[:, None] * X)
    return [
        ("least squares", "X: n x n; w, y: n; norm(X w - y)^2", "w", 1,
         {"X": X, "w": w, "y": y}, lambda: 2 * (X.T @ (X @ w - y)),
         lambda j: (lambda w: j.sum((X @ w - y) ** 2)), (lambda t: lambda w: ((t(X) @ w - t(y)) ** 2).sum(), w)),
        ("ridge", "X: n x n; w, y: n; lam: scalar; norm(X w - y)^2 + lam norm(w)^2", "w", 1,
         {"X": X, "w": w, "y": y, "lam": np.array(lam)},
         lambda: 2 * (X.T @ (X @ w - y)) + 2 * lam * w,
         lambda j: (lambda w: j.sum((X @ w - y) ** 2) + lam * j.sum(w ** 2)),
         (lambda t: lambda w: ((t(X) @ w - t(y)) ** 2).sum() + lam * (w ** 2).sum(), w)),
        ("logistic", "X: n x n; w, y: n; sum(softplus(X w)) - y^T X w", "w", 1,
         {"X": X, "w": w, "y": yb}, lambda: X.T @ (sig(X @ w) - yb),
         lambda j: (lambda w: j.sum(jax_softplus(j, X @ w)) - yb @ (X @ w)),
         (lambda t: lambda w: torch_softplus(t(X) @ w).sum() - t(yb) @ (t(X) @ w), w)),
        ("factorization", "T: n x n; U, V: n x r; norm(T - U V^T)^2", "U", 1,
         {"T": T, "U": U, "V": V}, lambda: 2 * ((U @ V.T - T) @ V),
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
        ("logistic ±1", pm, "w", 1, {"X": X, "w": w, "y": ypm}, pm_grad,
         lambda j: (lambda w: j.sum(j.log(1 + j.exp(-ypm * (X @ w))))),
         (lambda t: lambda w: t.log(1 + t.exp(-t(ypm) * (t(X) @ w))).sum(), w)),
        ("Hessian logistic ±1", pm, "w", 2, {"X": X, "w": w, "y": ypm}, pm_hess,
         lambda j: (lambda w: j.sum(j.log(1 + j.exp(-ypm * (X @ w))))),
         (lambda t: lambda w: t.log(1 + t.exp(-t(ypm) * (t(X) @ w))).sum(), w)),
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
    from matd.core.backend import namespace
    xp = namespace("cpu")[0]                # what `matd grad` uses: numpy itself (>= 2.1)
    return (lambda: plan.run(env, xp, check=False)[0]), (lambda: plan.run(env, xp)[0]), plan


def jax_runner(make_f, wrt_value, order):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, None, float("nan")
    jax.config.update("jax_enable_x64", True)
    f = make_f(jnp)
    g = jax.jit(jax.hessian(f) if order == 2 else jax.grad(f))
    x = jnp.asarray(wrt_value)
    t = time.perf_counter()
    g(x).block_until_ready()
    compile_ms = (time.perf_counter() - t) * 1000
    return (lambda: g(x).block_until_ready()), compile_ms, jax_peak_mb(g, x)


def torch_runner(spec, order):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
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
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    print(f"BLAS: {blas_info()}")
    print("times: ms, medians of interleaved rounds; matd/np: the median of the rounds' "
          "ratios; memory: MiB at peak (result included)")
    print(f"{'problem':22} {'n':>5} {'matd':>8} {'checked':>8} {'numpy':>8} {'matd/np':>7} "
          f"{'matd MiB':>8} {'np MiB':>7} {'mem':>5} {'jax':>8} {'(compile)':>9} {'jax MiB':>7} "
          f"{'torch':>8}  check")
    rows = []
    for n in sizes:
        for name, src, wrt, order, inputs, closed, jf, tf in problems(n, rng):
            if order == 2 and n > 1000 and "logistic" not in name:
                continue
            run, checked, plan = matd_runner(src, wrt, order, inputs)
            ref = np.asarray(closed())
            got = np.asarray(run())
            err = np.max(np.abs(got.reshape(ref.shape) - ref)) / max(1.0, np.max(np.abs(ref)))
            jrun, jcomp, jmem = jax_runner(jf, inputs[wrt], order)
            trun = torch_runner(tf, order) if not (order == 2 and n > 1000) else None
            per: dict = {}
            t = interleaved({"matd": run, "checked": checked, "numpy": closed, "jax": jrun,
                             "torch": trun}, 2.0 if n >= 1000 else 0.5, rounds=per)
            nan = float("nan")
            t_m, t_c, t_n = t["matd"], t["checked"], t["numpy"]
            t_j, t_t = t.get("jax", nan), t.get("torch", nan)
            m_m, m_n = peak_mb(run), peak_mb(closed)
            ratio, mem = ratio_of(per, "matd", "numpy"), m_m / max(m_n, 1e-9)
            rows.append((name, n, order, ratio, mem,
                         ratio_of(per, "matd", "jax") if "jax" in per else nan))
            flag = "" if n < 1000 or (ratio <= 1.2 and mem <= 1.2) else "  <- above 1.2x"
            if n >= 1000 and order == 2 and rows[-1][5] >= 1:
                flag += "  <- behind jax"
            print(f"{name:22} {n:5d} {t_m:8.3f} {t_c:8.3f} {t_n:8.3f} {ratio:7.2f} "
                  f"{m_m:8.1f} {m_n:7.1f} {mem:5.2f} {t_j:8.3f} "
                  f"{jcomp if jcomp else nan:9.1f} {jmem:7.1f} {t_t:8.3f}  {err:.1e}{flag}",
                  flush=True)
    big = [r for r in rows if r[1] >= 1000]
    for label, sel in (("n >= 1000", big), ("all n", rows)):
        if sel:
            print(f"\ngeometric mean matd/numpy over {len(sel)} cases at {label}: time "
                  f"{geomean([r[3] for r in sel]):.2f}, memory {geomean([r[4] for r in sel]):.2f}")
    if big:
        w = max(big, key=lambda r: r[3])
        wm = max(big, key=lambda r: r[4])
        print(f"worst matd/numpy at n >= 1000: time {w[3]:.2f} ({w[0]}, n={w[1]}), memory "
              f"{wm[4]:.2f} ({wm[0]}, n={wm[1]}); goals: each <= 1.2, geometric mean <= 1.1")
        hs = [r for r in big if r[2] == 2]
        if hs:
            print("Hessians at n >= 1000, matd/jax time: " + ", ".join(
                f"{r[0]} n={r[1]} {r[5]:.2f}" for r in hs) + "; goal < 1")
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
        t = interleaved({"hvp": lambda: hvp_plan.run(env, denv={wrt: V}, check=False),
                         "full": lambda: full.run(env, check=False)[0] @ V, "closed": closed})
        t_h, t_f, t_c = t["hvp"], t["full"], t["closed"]
        print(f"  {name:16} {t_h:9.3f} | {t_f:9.3f} | {t_c:9.3f}")


if __name__ == "__main__":
    main()
