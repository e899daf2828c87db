"""matd's symbolic differentiation against SymPy's matrix calculus (MatrixSymbol.diff), in
one run: time per expression (parse + derive + print for matd; diff for SymPy), and
whether SymPy's answer is right (checked numerically against matd's, itself checked
against finite differences by the tests).

    python bench/symbolic.py            (goal: matd >= 10x faster than SymPy)
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import corpus, time_fn  # noqa: E402

SIZES = {"m": 3, "n": 4, "p": 2, "d": 3, "k": 2, "h": 4}

# The corpus cases in SymPy's notation: (shapes, expression builder).  Elementwise
# functions (softplus, tanh, sigmoid), logdet of non-spd, eigen and norm functions have no
# MatrixSymbol form SymPy differentiates; they are listed as skipped.
SYMPY = {
    "tr_AtX": (("A", "m", "n"), ("X", "m", "n")), "tr_XtX": (("X", "m", "n"),),
    "fro2": (("X", "m", "n"),), "logdet": (("X", "n", "n"),),
    "logdet_nonsym": (("X", "n", "n"),), "tr_invX_A": (("X", "n", "n"), ("A", "n", "n")),
    "aTx": (("a", "n", 1), ("x", "n", 1)), "xTAx": (("A", "n", "n"), ("x", "n", 1)),
    "norm2sq": (("x", "n", 1),), "tr_AXB": (("A", "p", "m"), ("X", "m", "n"), ("B", "n", "p")),
    "tr_AtXB": (("A", "m", "n"), ("X", "m", "p"), ("B", "p", "n")),
    "tr_AX": (("A", "n", "m"), ("X", "m", "n")),
    "tr_XAXt": (("X", "n", "p"), ("A", "p", "p")),
    "tr_AXBXt": (("A", "m", "m"), ("X", "m", "n"), ("B", "n", "n")),
    "lsq_half": (("X", "m", "d"), ("w", "d", 1), ("y", "m", 1)),
    "mse_W": (("X", "m", "d"), ("W", "d", "k"), ("Y", "m", "k")),
    "upstream_W": (("G", "m", "k"), ("X", "m", "d"), ("W", "d", "k")),
    "upstream_X": (("G", "m", "k"), ("X", "m", "d"), ("W", "d", "k")),
    "det_jacobi": (("X", "n", "n"),),
    "gauss_mu": (("S", "n", "n"), ("x", "n", 1), ("mu", "n", 1)),
    "gauss_S": (("S", "n", "n"), ("x", "n", 1), ("mu", "n", 1)),
    "tr_A_invX_B": (("A", "k", "n"), ("X", "n", "n"), ("B", "n", "k")),
    "hess_xTAx": (("A", "n", "n"), ("x", "n", 1)),
    "hess_lsq": (("A", "m", "n"), ("x", "n", 1), ("b", "m", 1)),
}


def sympy_expr(cid, S):
    import sympy as sp
    T = sp.Trace
    g = S.get
    e = {
        "tr_AtX": lambda: T(g("A").T * g("X")), "tr_XtX": lambda: T(g("X").T * g("X")),
        "fro2": lambda: T(g("X").T * g("X")), "logdet": lambda: sp.log(sp.Determinant(g("X"))),
        "logdet_nonsym": lambda: sp.log(sp.Determinant(g("X"))),
        "tr_invX_A": lambda: T(g("X").I * g("A")), "aTx": lambda: (g("a").T * g("x")),
        "xTAx": lambda: g("x").T * g("A") * g("x"), "norm2sq": lambda: g("x").T * g("x"),
        "tr_AXB": lambda: T(g("A") * g("X") * g("B")),
        "tr_AtXB": lambda: T(g("A").T * g("X") * g("B")), "tr_AX": lambda: T(g("A") * g("X")),
        "tr_XAXt": lambda: T(g("X") * g("A") * g("X").T),
        "tr_AXBXt": lambda: T(g("A") * g("X") * g("B") * g("X").T),
        "lsq_half": lambda: sp.Rational(1, 2) * (g("X") * g("w") - g("y")).T
        * (g("X") * g("w") - g("y")),
        "mse_W": lambda: sp.Rational(1, 2) * T((g("X") * g("W") - g("Y")).T
                                               * (g("X") * g("W") - g("Y"))),
        "upstream_W": lambda: T(g("G").T * g("X") * g("W")),
        "upstream_X": lambda: T(g("G").T * g("X") * g("W")),
        "det_jacobi": lambda: sp.Determinant(g("X")),
        "gauss_mu": lambda: sp.log(sp.Determinant(g("S"))) + T((g("x") - g("mu")).T * g("S").I
                                                               * (g("x") - g("mu"))),
        "gauss_S": lambda: sp.log(sp.Determinant(g("S"))) + T((g("x") - g("mu")).T * g("S").I
                                                              * (g("x") - g("mu"))),
        "tr_A_invX_B": lambda: T(g("A") * g("X").I * g("B")),
        "hess_xTAx": lambda: g("x").T * g("A") * g("x"),
        "hess_lsq": lambda: sp.Rational(1, 2) * (g("A") * g("x") - g("b")).T
        * (g("A") * g("x") - g("b")),
    }[cid]
    return e()


def run_sympy(case, shapes):
    import sympy as sp
    S = {name: sp.MatrixSymbol(name, SIZES.get(r, r) if r != 1 else 1,
                               SIZES.get(c, c) if c != 1 else 1) for name, r, c in shapes}
    f = sympy_expr(case["id"], S)
    X = S[case["wrt"]]

    def diff():
        d = f.diff(X)
        if case["order"] == 2:
            d = d.diff(X)
        return d
    return S, diff


def sympy_value(expr, S, env):
    import sympy as sp
    names = list(S)
    fn = sp.lambdify([S[n] for n in names], expr, "numpy")
    return np.asarray(fn(*[env[n] for n in names]), dtype=float)


def main() -> None:
    from matd.core.derive import derive
    from matd.core.evaluate import evaluate
    from matd.core.printers import to_matd
    from matd.core.randomize import random_inputs
    from matd.grammar.parse import parse_program
    import sympy

    print(f"SymPy {sympy.__version__}; sizes {SIZES}\n")
    print(f"{'case':15} {'matd ms':>9} {'sympy ms':>9} {'ratio':>8}  sympy's answer")
    ratios, wrong, skipped = [], [], []
    for case in corpus():
        cid = case["id"]
        if cid not in SYMPY:
            skipped.append(cid)
            continue

        def matd_run(case=case):
            p = parse_program(case["program"])
            r = derive(p, [case["wrt"]], case["order"]).results[0]
            return to_matd(r.derivative)
        t_matd = time_fn(matd_run)
        try:
            S, sdiff = run_sympy(case, SYMPY[cid])
            t_sym = time_fn(sdiff, min_time=0.5, max_runs=50)
            res = sdiff()
        except Exception as e:  # noqa: BLE001 - report what SymPy does
            print(f"{cid:15} {t_matd:9.3f} {'-':>9} {'-':>8}  fails: {type(e).__name__}: "
                  f"{str(e)[:40]}")
            wrong.append(cid)
            continue
        p = parse_program(case["program"])
        env, sizes = random_inputs(p, dict(case["dims"]), np.random.default_rng(0),
                                   case["inputs"])
        mine = evaluate(derive(p, [case["wrt"]], case["order"]).results[0].derivative, env,
                        sizes)
        try:
            theirs = sympy_value(res, S, {k: (v if v.shape != (1, 1) else v) for k, v in
                                          env.items()})
            ok = theirs.size == mine.size and np.allclose(theirs.reshape(mine.shape), mine,
                                                          atol=1e-8)
            verdict = "right" if ok else f"WRONG ({sympy.sstr(res)[:40]})"
        except Exception as e:  # noqa: BLE001
            ok, verdict = False, f"not evaluable ({type(e).__name__}: {sympy.sstr(res)[:30]})"
        if not ok:
            wrong.append(cid)
        ratio = t_sym / t_matd
        if ok:  # a fast wrong answer is no comparison
            ratios.append(ratio)
        print(f"{cid:15} {t_matd:9.3f} {t_sym:9.3f} {ratio:8.1f}  {verdict}")
    gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"\ngeometric mean sympy/matd over the cases SymPy gets right: {gm:.1f}x "
          "(goal >= 10x)")
    print(f"SymPy wrong, failing or unevaluable on: {', '.join(wrong) or 'none'}")
    print(f"skipped (no MatrixSymbol form in SymPy): {', '.join(skipped)}")


if __name__ == "__main__":
    main()
