"""Growth: how derive time grows with the size of the input, one family per construct.

Each family is a program grown by k (the number of factors, terms, nestings, definitions,
variables or the power), for k = 4, 8, 16, 32, 64 where feasible:

  chain      tr(A1 X A2 X ⋯ Ak X)                    X repeated k times; peer: SymPy
  gram       norm(Xᵀ X Xᵀ X ⋯)^2                     k factors, X each time
  quadsum    tr(A1 X B1 Xᵀ) + ⋯ + tr(Ak X Bk Xᵀ)      k terms, X twice in each
  entrywise  sum(tanh(X) .* A1 .* tanh(X) .* A2 ⋯)   k Hadamard factors
  nestinv    tr(inv(A1 + inv(A2 + ⋯ inv(Ak + X))))   k nested inverses
  longsum    norm(c1 A1 X + ⋯ + ck Ak X - B)^2       k terms
  deepdef    t1 = X A; t(i+1) = t(i) B(i) t(i)ᵀ; tr(tk)   k definitions, each using the last twice
  deepsum    t1 = X A; t(i+1) = t(i) + t(i)ᵀ + B(i) t(i); tr(tk)   the same in sums
  manyvars   norm(A1 x1 + ⋯ + Ak xk - y)^2           by all 2k + 1 variables
  power      tr(A X^k)                               a matrix power
  product    tr(A X X ⋯ X)                           the same power written out
  nested     norm(exp(exp(⋯ exp(A x))) - y)^2        k nested entrywise functions

What is timed, per k (in-process, median over repeats after a warm-up): parse_program +
derive (every variable the family asks for) + printing each result's differential and
derivative with to_matd, repeated parts named the way `matd diff` names them
(printers.shared_names, printers.with_where), so that printing a DAG does not expand it into
a tree.  Also printed: the results' size (their distinct nodes, and those nodes' arguments:
a product of k factors is one node with k edges) and the printed characters (a named part's
text counted once).  A family stops at the first k whose single run takes over the budget
(5 s).

The exponent is the log-log slope of time between the last two sizes measured (1: linear,
2: quadratic), printed next to that of the results' edges; the verdict flags an exponent of
2.5 or more, or a family that ran out of budget.  For the chain, SymPy's
`Trace(A1*X*⋯*Ak*X).diff(X)` (MatrixSymbols, the expression built beforehand,
`clear_cache()` untimed before each run) is timed in the same rounds, interleaved with
matd's, and the ratio of the medians is printed (the goal: k = 20 under 50 ms, at least 50×
faster than SymPy).

    python bench/growth.py [--quick] [FAMILY ...]     # about 2 minutes (--quick: k <= 32)
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import time_fn  # noqa: E402

KS = (4, 8, 16, 32, 64)
BUDGET = 5.0          # seconds for one run: the family stops there
HIGH = 2.5            # an exponent from here on is flagged


def _decl(names, shape="n x n"):
    return "; ".join(f"{x}: {shape}" for x in names)


def chain(k):
    As = [f"A{i}" for i in range(1, k + 1)]
    return f"X: n x n; {_decl(As)}; tr({' '.join(f'{a} X' for a in As)})", ["X"]


def gram(k):
    fs = ["X^T" if i % 2 == 0 else "X" for i in range(k)]
    return f"X: m x n; norm({' '.join(fs)})^2", ["X"]


def quadsum(k):
    terms = [f"tr(A{i} X B{i} X^T)" for i in range(1, k + 1)]
    return f"X: n x n; {' + '.join(terms)}", ["X"]


def entrywise(k):
    fs = [f"tanh(X) .* A{i}" for i in range(1, k + 1)]
    return f"X: m x n; {_decl([f'A{i}' for i in range(1, k + 1)], 'm x n')}; " \
        f"sum({' .* '.join(fs)})", ["X"]


def nestinv(k):
    e = "X"
    for i in range(k, 0, -1):
        e = f"inv(A{i} + {e})"
    return f"X: n x n; tr({e})", ["X"]


def longsum(k):
    terms = [f"c{i} A{i} X" for i in range(1, k + 1)]
    return f"X: n x p; B: n x p; norm({' + '.join(terms)} - B)^2", ["X"]


def deepdef(k):
    lines = ["X: n x n", "t1 = X A"]
    for i in range(1, k):
        lines.append(f"t{i + 1} = t{i} B{i} t{i}^T")
    return "; ".join(lines) + f"; tr(t{k})", ["X"]


def deepsum(k):
    lines = ["X: n x n", "t1 = X A"]
    for i in range(1, k):
        lines.append(f"t{i + 1} = t{i} + t{i}^T + B{i} t{i}")
    return "; ".join(lines) + f"; tr(t{k})", ["X"]


def manyvars(k):
    terms = [f"A{i} x{i}" for i in range(1, k + 1)]
    return f"y: m; norm({' + '.join(terms)} - y)^2", None


def power(k):
    return f"X: n x n; tr(A X^{k})", ["X"]


def product(k):
    return f"X: n x n; tr(A {' '.join(['X'] * k)})", ["X"]


def nested(k):
    e = "A x"
    for _ in range(k):
        e = f"exp({e})"
    return f"A: n x n; x, y: n; norm({e} - y)^2", ["x"]


FAMILIES = {"chain": chain, "gram": gram, "quadsum": quadsum, "entrywise": entrywise,
            "nestinv": nestinv, "longsum": longsum, "deepdef": deepdef,
            "deepsum": deepsum, "manyvars": manyvars, "power": power, "product": product,
            "nested": nested}


def run_matd(src: str, wrt):
    """parse + derive + print: (distinct result nodes, their edges, printed characters)."""
    from matd.core.derive import derive
    from matd.core.printers import shared_names, with_where
    from matd.grammar.parse import parse_program
    prog = parse_program(src)
    d = derive(prog, wrt)
    roots = [x for r in d.results for x in (r.differential, r.derivative) if x is not None]
    taken = set(prog.variables) | set(prog.definitions) | set(prog.dims)
    names = shared_names(roots, taken)
    names.update(d.names)
    chars, shown = 0, {}
    for root in roots:
        defs, text = with_where(root, names)
        shown.update(defs)                      # a shared part is printed once, as matd does
        chars += len(text)
    chars += sum(len(b) for b in shown.values())
    dag, stack = set(), list(roots)     # the distinct nodes of all results together
    while stack:
        n = stack.pop()
        if n not in dag:
            dag.add(n)
            stack.extend(n.args)
    return len(dag), sum(len(n.args) for n in dag), chars


def sympy_chain(k):
    """SymPy's diff of the chain, built beforehand: a function to time."""
    import sympy as sp
    n = sp.Symbol("n")
    X = sp.MatrixSymbol("X", n, n)
    f = sp.Trace(sp.MatMul(*[m for i in range(1, k + 1)
                             for m in (sp.MatrixSymbol(f"A{i}", n, n), X)]))
    return lambda: f.diff(X)


def interleaved(fa, fb, rounds: int = 7):
    """Medians (ms) of fa and fb timed in alternating rounds (SymPy's cache cleared,
    untimed, before each of its runs)."""
    from sympy.core.cache import clear_cache
    fa()
    clear_cache()
    fb()
    xa, xb = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        fa()
        xa.append(time.perf_counter() - t)
        clear_cache()
        t = time.perf_counter()
        fb()
        xb.append(time.perf_counter() - t)
    return statistics.median(xa) * 1000, statistics.median(xb) * 1000


def slope(a, b) -> float:
    """The log-log slope between two (k, value) points: the exponent of growth."""
    (k1, t1), (k2, t2) = a, b
    return math.log(t2 / t1) / math.log(k2 / k1)


def family(name: str, ks, summary: list) -> None:
    build = FAMILIES[name]
    chain_ = name == "chain"
    print(f"{name}: {build(4)[0][:90]}")
    print(f"  {'k':>4} {'ms':>10} {'nodes':>7} {'edges':>7} {'chars':>8}" +
          (f" {'sympy ms':>10} {'ratio':>7}" if chain_ else ""))
    rows, stopped = [], None
    for k in sorted(set(ks) | ({20} if chain_ else set())):
        src, wrt = build(k)
        t = time.perf_counter()
        nodes, edges, chars = run_matd(src, wrt)
        once = time.perf_counter() - t
        if once > BUDGET:
            stopped = (k, once * 1000, edges)
            print(f"  {k:4d} {once * 1000:10.0f} {nodes:7d} {edges:7d} {chars:8d}   one run, "
                  f"over the {BUDGET:.0f} s budget: stopped")
            break
        extra = ""
        peer = sympy_chain(k) if chain_ and k <= 20 and _has_sympy() else None
        if peer is not None:      # SymPy takes seconds a run from k = 20 on
            ms, ss = interleaved(lambda: run_matd(src, wrt), peer)
            extra = f" {ss:10.1f} {ss / ms:6.0f}x"
            if k == 20:
                summary.append(f"chain k = 20: matd {ms:.1f} ms, SymPy {ss:.0f} ms: {ss / ms:.0f}x "
                               f"faster (goal: under 50 ms, at least 50x)")
        else:
            ms = time_fn(lambda: run_matd(src, wrt), min_time=0.5, max_runs=50)
        rows.append((k, ms, edges))
        print(f"  {k:4d} {ms:10.2f} {nodes:7d} {edges:7d} {chars:8d}{extra}")
    print()
    pts = rows + ([stopped] if stopped else [])
    if len(pts) < 2:
        summary.append(f"{name:10} over the budget at k = {stopped[0]}")
        return
    a, b = pts[-2], pts[-1]
    e, es = slope(a[:2], b[:2]), slope((a[0], a[2]), (b[0], b[2]))
    verdict = "BLOWS UP" if stopped else ("HIGH" if e >= HIGH else "ok")
    summary.append(f"{name:10} time ~ k^{e:4.2f}, result edges ~ k^{es:4.2f} "
                   f"(k {a[0]} -> {b[0]})  {verdict}")


def _has_sympy() -> bool:
    try:
        import sympy  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")] or list(FAMILIES)
    ks = tuple(k for k in KS if not quick or k <= 32)
    print("ms: in-process median of parse + derive + print; nodes, edges: the distinct "
          "nodes of the differentials\nand derivatives, and their arguments; chars: printed, "
          "a named part counted once\n")
    if not _has_sympy():
        print("(sympy is not installed: no peer for the chain; pip install sympy)\n")
    summary: list[str] = []
    for name in names:
        family(name, ks, summary)
    print("\n".join(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
