"""matd's symbolic differentiation against SymPy's matrix calculus (MatrixSymbol.diff), in one
run, on the textbook cases (tests/data/cases.json) SymPy can write down.

What is timed (median over many repeats, after a warm-up):
  matd   parse_program(text) + derive(prog, [wrt], order) + to_matd(derivative)
         (to_matd(differential) where no closed matrix form exists) -- from text to printed text.
  SymPy  expr.diff(X) only (twice for order 2) on an expression built beforehand from
         MatrixSymbols with symbolic dims, as matd's are.  No simplify(): where SymPy succeeds
         its answer is already a matrix formula, and simplify() would only add time.  Timed
         twice: "warm" (SymPy's global cache kept between repeats, so repeats are partly cache
         hits -- the conservative figure) and "cold" (sympy.core.cache.clear_cache() before each
         repeat, untimed; matd keeps nothing between calls: its node table is weak and its
         memos live for one call).

Whether each answer is right: both are evaluated at the same random inputs (the case's dims
and input kinds) and compared as arrays of shape f + X; matd's is also compared with central
finite differences of f.  SymPy's answer is evaluated by SymPy itself (dims substituted,
MatrixSymbols replaced by the arrays, as_explicit()); SymPy's layout is X + f, which is
transposed into matd's f + X.  For a variable declared sym/spd, SymPy's unconstrained
gradient G is compared after symmetrizing, (G + G^T)/2, the convention of DESIGN §2.

    python bench/symbolic.py [--quick] [CASE_ID ...]      (goal: matd >= 10x faster than SymPy)
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import corpus, time_fn  # noqa: E402

# Cases SymPy's matrix expressions cannot state, and why.
SKIP = {
    "lambda_max": "no eigenvalue of a MatrixSymbol in SymPy's matrix-expression algebra",
    "spectral_norm": "no singular value / spectral norm of a MatrixSymbol in SymPy",
}


def _builders():
    """case id -> function(V) -> SymPy expression; V holds the case's variables and dims."""
    import sympy as sp
    t = sp.Dummy("t")
    tanh = sp.Lambda(t, sp.tanh(t))
    sigmoid = sp.Lambda(t, 1 / (1 + sp.exp(-t)))
    softplus = sp.Lambda(t, sp.log(1 + sp.exp(t)))
    half = sp.Rational(1, 2)
    T, inv, det = sp.Trace, (lambda M: M.I), sp.Determinant

    def logdet(M):
        return sp.log(sp.Determinant(M))

    def sq(M):                                  # norm(M)^2 = tr(M^T M)
        return sp.Trace(M.T * M)

    def ew(fn, M):                              # an elementwise function
        return M.applyfunc(fn)

    def total(M):                               # sum of the entries
        return sp.OneMatrix(1, M.shape[0]) * M * sp.OneMatrix(M.shape[1], 1)

    def gauss(V):
        return logdet(V.S) + T((V.x - V.mu).T * inv(V.S) * (V.x - V.mu))

    def matnormal(V):
        return -half * T(inv(V.U) * (V.X - V.M) * inv(V.V) * (V.X - V.M).T)

    def mlp2(V):
        return half * sq(ew(tanh, V.X * V.W1) * V.W2 - V.Y)

    def logistic(V):
        return total(ew(softplus, V.X * V.w)) - V.y.T * V.X * V.w

    def batchnorm(V):
        n = V.x.shape[0]
        xc = V.x - sp.OneMatrix(n, 1) * total(V.x) / n
        return xc * (1 / sp.sqrt(T(xc.T * xc) / n + sp.Rational(1, 1000)))

    return {
        "tr_AtX": lambda V: T(V.A.T * V.X),
        "tr_XtX": lambda V: T(V.X.T * V.X),
        "fro2": lambda V: sq(V.X),
        "logdet": lambda V: logdet(V.X),
        "logdet_nonsym": lambda V: logdet(V.X),
        "tr_invX_A": lambda V: T(inv(V.X) * V.A),
        "aTx": lambda V: V.a.T * V.x,
        "xTAx": lambda V: V.x.T * V.A * V.x,
        "xTAx_sym": lambda V: V.x.T * V.A * V.x,
        "norm2sq": lambda V: sq(V.x),
        "tr_AXB": lambda V: T(V.A * V.X * V.B),
        "tr_AtXB": lambda V: T(V.A.T * V.X * V.B),
        "tr_AX": lambda V: T(V.A * V.X),
        "tr_XAXt": lambda V: T(V.X * V.A * V.X.T),
        "tr_AXBXt": lambda V: T(V.A * V.X * V.B * V.X.T),
        "lsq_half": lambda V: half * sq(V.X * V.w - V.y),
        # with 1x1 products: written with traces, as a sum of scalars, SymPy returns 0 (NOTES)
        "ridge": lambda V: half * (V.X * V.w - V.y).T * (V.X * V.w - V.y)
        + V.lam / 2 * V.w.T * V.w,
        "logistic": logistic,
        "mse_W": lambda V: half * sq(V.X * V.W - V.Y),
        "upstream_W": lambda V: T(V.G.T * V.X * V.W),
        "upstream_X": lambda V: T(V.G.T * V.X * V.W),
        "det_jacobi": lambda V: det(V.X),
        "matnormal_M": matnormal,
        "matnormal_U": lambda V: -V.p / 2 * logdet(V.U) + matnormal(V),
        "gauss_mu": gauss,
        "gauss_S": gauss,
        "tr_A_invX_B": lambda V: T(V.A * inv(V.X) * V.B),
        "sym_trSA": lambda V: T(V.S * V.A),
        "sym_logdet_tr": lambda V: logdet(V.S) + T(V.A * V.S),
        "mlp2_W2": mlp2,
        "mlp2_W1": mlp2,
        # b^T + (an m x h matrix) broadcasts the row; SymPy needs it spelled ones(m) b^T
        "bias_broadcast": lambda V: half * sq(V.X * V.W + sp.OneMatrix(V.X.shape[0], 1) * V.b.T
                                              - V.Y),
        "softplus_layer": lambda V: V.c.T * ew(softplus, V.W * V.x),
        "jac_Ax": lambda V: V.A * V.x,
        "jac_sigmoid_Ax": lambda V: ew(sigmoid, V.A * V.x),
        "jac_tanh_Wx": lambda V: ew(tanh, V.W * V.x),
        "vec_AXB": lambda V: V.A * V.X * V.B,
        "inv_matrix": lambda V: inv(V.X),
        "square_matrix": lambda V: V.X ** 2,
        "hess_xTAx": lambda V: V.x.T * V.A * V.x,
        "hess_lsq": lambda V: half * sq(V.A * V.x - V.b),
        "hess_logistic": logistic,
        "batchnorm_vec": batchnorm,
    }


class Vars:
    """The case's variables as SymPy objects, and the SymPy symbols of its dims."""

    def __init__(self, prog):
        import sympy as sp
        self._dims = {}

        def dim(d):
            out = sp.Integer(d.coef)
            for f in d.factors:
                if f not in self._dims:
                    self._dims[f] = sp.Symbol(f, integer=True, positive=True)
                out = out * self._dims[f]
            return out
        self._vars = {}
        for name, var in prog.variables.items():
            r, c = var.shape
            if r.is_one and c.is_one:
                self._vars[name] = sp.Symbol(name)
            else:
                self._vars[name] = sp.MatrixSymbol(name, dim(r), dim(c))
        for name, d in prog.dims.items():     # dims used as scalars (p in matnormal_U)
            dim(d)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        got = self._vars.get(name)
        return got if got is not None else self._dims[name]


def sympy_numbers(expr, V: Vars, env: dict, sizes: dict) -> np.ndarray:
    """SymPy's own value of ``expr`` at the arrays ``env`` (2-D), dims ``sizes``."""
    import sympy as sp
    if expr.has(sp.Derivative):
        raise LookupError("unevaluated Derivative")
    dims = {sym: sizes[name] for name, sym in V._dims.items() if name in sizes}
    e = expr.subs(dims) if dims else expr
    rep = {}
    for name, sym in V._vars.items():
        a = env[name]
        if isinstance(sym, sp.MatrixSymbol):
            key = sp.MatrixSymbol(name, *(sp.sympify(s).subs(dims) for s in sym.shape))
            rep[key] = sp.ImmutableMatrix(a)
        else:
            rep[sym] = sp.Float(float(a.reshape(-1)[0]))
    e = e.xreplace(rep)
    special = (sp.OneMatrix, sp.Identity, sp.ZeroMatrix)
    e = e.replace(lambda z: isinstance(z, special), lambda z: sp.ImmutableMatrix(z.as_explicit()))
    if isinstance(e, sp.MatrixExpr):    # evaluates traces, determinants, inverses of numbers
        e = e.doit()
    if hasattr(e, "as_explicit"):
        e = e.as_explicit()
    if hasattr(e, "doit"):
        e = e.doit()
    if isinstance(e, sp.MatrixBase):
        return np.array(e.evalf().tolist(), dtype=float)
    if isinstance(e, sp.NDimArray):
        return np.array(e.applyfunc(lambda z: sp.N(z)).tolist(), dtype=float)
    return np.array(float(e))


def time_cold(fn, runs: int = 15, budget: float = 3.0) -> float:
    """Median ms of fn() with SymPy's cache cleared (untimed) before each run."""
    from sympy.core.cache import clear_cache
    xs = []
    start = time.perf_counter()
    while len(xs) < runs and (len(xs) < 3 or time.perf_counter() - start < budget):
        clear_cache()
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return statistics.median(xs) * 1000


def short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def sizes_of(shape, sizes):
    from matd.core.plan import size
    return size(shape[0], sizes), size(shape[1], sizes)


def main(argv: list[str]) -> None:
    import sympy
    from matd.core.derive import derive
    from matd.core.fdcheck import rel_error
    from matd.core.numeric import bind, derivative_array, fd_derivative
    from matd.core.printers import to_matd
    from matd.core.randomize import random_inputs
    from matd.grammar.parse import parse_program

    quick = "--quick" in argv
    only = [a for a in argv if not a.startswith("-")]
    builders = _builders()
    print(f"SymPy {sympy.__version__}, numpy {np.__version__}, Python "
          f"{sys.version.split()[0]}")
    print("matd: parse + derive + to_matd (median);  SymPy: expr.diff(X) only, expression "
          "prebuilt;\nwarm = SymPy's cache kept across repeats, cold = cleared before each; "
          "ratio = SymPy / matd\n")
    head = (f"{'case':15} {'matd ms':>8} {'sympy ms':>9} {'cold ms':>8} {'ratio':>6} "
            f"{'cold':>6}  {'matd-FD':>7}  SymPy's answer")
    print(head)
    print("-" * len(head) + "-" * 30)
    right, right_cold, timed_all, bad, skipped, matd_bad = [], [], [], [], [], []
    for case in corpus():
        cid = case["id"]
        if only and cid not in only:
            continue
        if cid in SKIP or cid not in builders:
            skipped.append((cid, SKIP.get(cid, "no SymPy form written for this case")))
            continue
        wrt, order = case["wrt"], case["order"]

        def matd_run(case=case):
            p = parse_program(case["program"])
            r = derive(p, [case["wrt"]], case["order"]).results[0]
            return to_matd(r.derivative if r.derivative is not None else r.differential)
        t_matd = time_fn(matd_run, min_time=0.1 if quick else 0.3)

        # matd's numbers, and finite differences of f, at the case's random inputs
        prog = parse_program(case["program"])
        env, sizes = random_inputs(prog, dict(case["dims"]), np.random.default_rng(0),
                                   case["inputs"])
        b = bind(prog, env, sizes)
        d = derive(prog, [wrt], order)
        r = d.results[0]
        mine = derivative_array(prog, b, r, d.f)
        fd_err = rel_error(mine, fd_derivative(prog, b, r, d.f))
        if fd_err > 1e-5:
            matd_bad.append(cid)

        V = Vars(prog)
        f = builders[cid](V)
        X = getattr(V, wrt)

        def sdiff(f=f, X=X, order=order):
            g = f.diff(X)
            return g.diff(X) if order == 2 else g
        try:
            res = sdiff()
        except Exception as e:  # noqa: BLE001 - report what SymPy does
            t0 = time.perf_counter()
            try:
                sdiff()
            except Exception:  # noqa: BLE001
                pass
            t_fail = (time.perf_counter() - t0) * 1000
            verdict = f"raises {type(e).__name__}: {short(str(e), 50)}"
            print(f"{cid:15} {t_matd:8.3f} {t_fail:9.3f} {'-':>8} {'-':>6} {'-':>6}  "
                  f"{fd_err:7.0e}  {verdict}")
            bad.append((cid, verdict))
            continue
        t_sym = time_fn(sdiff, min_time=0.2 if quick else 0.5, max_runs=50)
        t_cold = time_cold(sdiff, runs=5 if quick else 15)

        # SymPy's numbers, in matd's layout f + X
        xr, xc = env[wrt].shape
        if order == 2:
            fr, fc = xr, xc
        else:
            fr, fc = (sizes_of(d.f.shape, b.sizes))
        attrs = prog.variables[wrt].params[1]
        note = ""
        try:
            theirs = sympy_numbers(res, V, env, b.sizes)
            if theirs.size != mine.size:
                raise ValueError(f"ill-shaped: {theirs.size} numbers, want {mine.size}")
            s4 = theirs.reshape(xr, xc, fr, fc).transpose(2, 3, 0, 1)
            if order == 1 and r.kind == "gradient" and ({"sym", "spd"} & set(attrs)):
                g = s4.reshape(xr, xc)
                s4 = (g + g.T) / 2
                note = " (after symmetrizing)"
            err = rel_error(s4.reshape(mine.shape), mine)
            ok = err < 1e-6
            verdict = f"right{note}" if ok else \
                f"WRONG (err {err:.1e}): {short(sympy.sstr(res))}"
        except LookupError:
            ok, verdict = False, f"no answer: {short(sympy.sstr(res))}"
        except Exception as e:  # noqa: BLE001 - SymPy's answer could not be evaluated
            ok = False
            if isinstance(e, sympy.ShapeError) or str(e).startswith("ill-shaped"):
                verdict = f"ill-shaped ({short(str(e), 45)}): {short(sympy.sstr(res), 50)}"
            else:
                verdict = (f"not evaluable ({short(f'{type(e).__name__}: {e}', 45)}): "
                           f"{short(sympy.sstr(res), 50)}")
        ratio, ratio_c = t_sym / t_matd, t_cold / t_matd
        timed_all.append(ratio)
        if ok:   # the speed of a wrong answer is no comparison
            right.append(ratio)
            right_cold.append(ratio_c)
        else:
            bad.append((cid, verdict))
        print(f"{cid:15} {t_matd:8.3f} {t_sym:9.3f} {t_cold:8.3f} {ratio:6.1f} {ratio_c:6.1f}  "
              f"{fd_err:7.0e}  {verdict}")

    def gm(xs):
        return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")
    n_cases = len(right) + len(bad)
    print(f"\nSymPy right on {len(right)} of {n_cases} cases it can state; "
          f"wrong, failing or unevaluable on {len(bad)}.")
    print(f"geometric mean SymPy/matd over the {len(right)} cases SymPy gets right: "
          f"{gm(right):.1f}x warm cache, {gm(right_cold):.1f}x cold   (goal >= 10x)")
    if right:
        print(f"  range (warm): {min(right):.1f}x .. {max(right):.1f}x")
    print(f"geometric mean over all {len(timed_all)} cases SymPy answered at all (wrong "
          f"answers included; a fast 0 counts): {gm(timed_all):.1f}x")
    if matd_bad:
        print(f"matd differs from finite differences (rel err > 1e-5) on: {', '.join(matd_bad)}")
    else:
        print("matd agrees with central finite differences on every case above "
              "(column matd-FD: max relative error).")
    if bad:
        print("\nSymPy wrong / failing:")
        for cid, v in bad:
            print(f"  {cid:15} {v}")
    if skipped:
        print("\nskipped (SymPy cannot state them):")
        for cid, why in skipped:
            print(f"  {cid:15} {why}")


if __name__ == "__main__":
    main(sys.argv[1:])
