"""Cold start of `matd diff` on a one-line expression, output piped, against the floor of
matd's own dependencies, `python -c "import click, lark"`, both with the venv's interpreter
(sys.executable -- run this script with the venv's python, not a shim).

Each command: one warm-up run (untimed), then RUNS interleaved rounds (every command once per
round; bench/coldstart.py's run_rounds), stdout and stderr captured (so piped: no colour,
rich not needed); medians of wall time and of the child's CPU time.  Then, for each expression,
the console script is run once under `python -X importtime` to list which of sympy, numpy,
rich and lark were imported and the largest imports; none of them may appear on this path (a
user function's derivative is taken by matd's own rules, so sympy is never loaded; the parser
runs on kept LALR tables, so lark is not loaded either).

    python bench/diffstart.py [RUNS]     (goal: matd diff <= 1.3x the floor; no sympy/numpy/
                                          rich/lark)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, PY  # noqa: E402
from coldstart import median, ratio, run_rounds  # noqa: E402

HEAVY = ("sympy", "numpy", "rich", "lark")
GOAL = 1.3
CASES = [  # (label, argv after `matd`, heavy modules allowed)
    ("logistic loss, --wrt w",
     ["diff", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt", "w"], ()),
    ("tr(A^T X B), --wrt X",
     ["diff", "A: m x n; X: m x p; B: p x n; tr(A^T X B)", "--wrt", "X"], ()),
    ("logdet(X), --format json",
     ["diff", "X: n x n; logdet(X)", "--format", "json"], ()),
    ("user function",
     ["diff", "x: n; softplus2(t) = log(1 + exp(2 t)); sum(softplus2(x))", "--wrt", "x"], ()),
]


def imports(argv: list[str]) -> tuple[set[str], list[tuple[int, str]], int]:
    """Top-level packages imported by `matd ARGV` (from -X importtime), the largest
    top-level imports (cumulative µs, name), and the exit status."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # .pyc files, as installed (warm-up writes)
    env.pop("PYTHONIMPORTTIME", None)
    p = subprocess.run([PY, "-X", "importtime", MATD, *argv], capture_output=True, text=True,
                       env=env, check=False)
    mods: set[str] = set()
    top: list[tuple[int, str]] = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cum, name = line.split("|", 2)
            cum_us = int(cum.strip())
        except ValueError:
            continue          # the header line
        mods.add(name.strip().split(".")[0])
        if not name.startswith("  "):            # imported at top level, not as a dependency
            top.append((cum_us, name.strip()))
    return mods, sorted(top, reverse=True)[:6], p.returncode


def main(argv: list[str]) -> None:
    runs = int(argv[0]) if argv else 15
    floor_label = 'python -c "import click, lark"  (floor)'
    cmds = {"python -c pass": [PY, "-c", "pass"],
            floor_label: [PY, "-c", "import click, lark"]}
    cmds.update({"matd " + label: [MATD, *args] for label, args, _ in CASES})
    t = run_rounds(cmds, runs)
    base, floor = median(t, "python -c pass", "wall"), median(t, floor_label, "wall")
    print(f"interpreter: {PY}   ({runs} interleaved rounds, medians; ratios: the median of "
          "each round's, output piped)\n")
    print(f"{'command':42} {'ms':>7} {'x floor':>8} {'cpu ms':>7} {'x floor':>8}  heavy modules")
    print("-" * 100)
    for name in ("python -c pass", floor_label):
        print(f"{name:42} {median(t, name, 'wall'):7.1f} {ratio(t, name, floor_label, 'wall'):8.2f}"
              f" {median(t, name, 'cpu'):7.1f} {ratio(t, name, floor_label, 'cpu'):8.2f}")
    ratios, problems, tops = [], [], {}
    for label, args, allowed in CASES:
        name = "matd " + label
        w, c = median(t, name, "wall"), median(t, name, "cpu")
        rw, rc_ = ratio(t, name, floor_label, "wall"), ratio(t, name, floor_label, "cpu")
        mods, top, rc = imports(args)
        heavy = [m for m in HEAVY if m in mods]
        unexpected = [m for m in heavy if m not in allowed]
        missing = [m for m in allowed if m not in mods]
        if rc != 0:
            problems.append(f"{label}: exit status {rc}")
        if unexpected:
            problems.append(f"{label}: imported {', '.join(unexpected)}")
        if missing:
            problems.append(f"{label}: expected {', '.join(missing)} (a user function)")
        if not allowed:
            ratios.append(max(rw, rc_))
        tops[label] = top
        print(f"{name:42} {w:7.1f} {rw:8.2f} {c:7.1f} {rc_:8.2f}  {' '.join(heavy) or 'none'}")
    worst = max(ratios)
    print(f"\nmatd diff / floor (the larger of the wall and CPU ratios), one-line expressions "
          f"without a user function: {min(ratios):.2f}x .. {worst:.2f}x   (goal <= {GOAL})  "
          f"{'ok' if worst <= GOAL else 'MISSED'}")
    print(f"matd diff over the floor: {min(ratios) * floor - floor:.0f} .. "
          f"{worst * floor - floor:.0f} ms; the floor itself is {floor - base:.0f} ms over "
          "`python -c pass`")
    print("heavy imports: " + ("; ".join(problems) if problems else
                               "as expected (sympy, numpy, rich and lark never)"))
    label = CASES[0][0]
    print(f"\nlargest top-level imports of `matd {label}` (cumulative ms, -X importtime):")
    for us, name in tops[label]:
        print(f"  {us / 1000:6.1f}  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
