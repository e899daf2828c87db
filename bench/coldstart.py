"""Start-up of matd's commands against their peers, measured in the same run, with the venv's
interpreter (run this with it, not a shim).

    python bench/coldstart.py [ROUNDS]      (default 15; about a minute)

Goals (issue 11, item 5), each a ratio of medians over interleaved rounds:
  matd check on a 50-statement file      <= 1.3x  python -c "import click, lark"
  matd diff on a one-line expression     <= 1.3x  python -c "import click, lark"
  a small matd grad                      <= 1.3x  python -c "import numpy, click, lark"
  matd check linear in statements: per-statement cost at 10,000 statements / at 1,000
  about 1, and >= 10,000 statements/s (in-process, and as a command less its start-up)

Each round runs every command once, in the same order, after one untimed warm-up run each.
Reported: the medians of wall time and of CPU time (user + system of the child: less disturbed
by other work on a shared machine), and the median over rounds of each round's ratio to the
peer; a goal is met when both the wall and the CPU ratio meet it.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, PY  # noqa: E402

STATEMENTS = [
    "A{i}: m x n", "B{i}: n x p", "x{i}: n", "S{i}: n x n spd", "c{i}: scalar",
    "r{i} = A{i} x{i} - ones(m)", "norm(r{i})^2 + c{i} norm(x{i})^2",
    "tr(A{i}^T A{i} B{i} B{i}^T)", "logdet(S{i}) + x{i}^T inv(S{i}) x{i}",
    "sum(softplus(A{i} x{i})) - ones(m)^T A{i} x{i}",
]

FLOOR = 'python -c "import click, lark"'
NUMPY_FLOOR = 'python -c "import numpy, click, lark"'
GOAL = 1.3
RATE_GOAL = 10_000
HEAVY = ("numpy", "numpy.f2py", "numpy.testing", "numpy.ma", "array_api_compat", "scipy",
         "sympy", "rich", "lark")


def program(n: int = 50) -> str:
    """n statements of the usual kinds: declarations, definitions, expressions."""
    lines, i = [], 0
    while len(lines) < n:
        lines += [s.format(i=i) for s in STATEMENTS]
        i += 1
    return "\n".join(lines[:n]) + "\n"


def run_rounds(cmds: dict[str, list[str]], rounds: int = 15, env=None) -> dict:
    """{name: {"wall": [ms], "cpu": [ms], "status": exit status}}: one untimed warm-up run of
    each command, then `rounds` rounds that run every command once, in order; "cpu" is the
    child's user + system time."""
    env = dict(os.environ if env is None else env)
    for var in ("PYTHONIMPORTTIME", "PYTHONDONTWRITEBYTECODE"):   # .pyc files as installed
        env.pop(var, None)
    runs = {}
    for name, cmd in cmds.items():                       # warm-up: disk cache, .pyc files
        rc = subprocess.run(cmd, capture_output=True, env=env).returncode
        runs[name] = {"wall": [], "cpu": [], "status": rc}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env=env)
            runs[name]["wall"].append((time.perf_counter() - t) * 1e3)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            runs[name]["cpu"].append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
                                     * 1e3)
    return runs


def median(runs: dict, name: str, kind: str) -> float:
    return statistics.median(runs[name][kind])


def ratio(runs: dict, name: str, peer: str, kind: str) -> float:
    """The median over rounds of name / peer, each round's two runs taken close together
    (steadier than a ratio of medians while other work comes and goes)."""
    return statistics.median(a / b for a, b in zip(runs[name][kind], runs[peer][kind]))


def time_interleaved(cmds: dict[str, list[str]], rounds: int = 15, env=None) -> dict:
    """{name: (median wall ms, median child CPU ms, exit status)} over interleaved rounds."""
    runs = run_rounds(cmds, rounds, env)
    return {n: (median(runs, n, "wall"), median(runs, n, "cpu"), r["status"])
            for n, r in runs.items()}


def heavy_imports(argv: list[str]) -> list[str]:
    """Which of HEAVY `matd ARGV` imports (the console script's own main, in a child)."""
    code = ("import sys, atexit\n"
            f"atexit.register(lambda: print('MODS', *[m for m in {HEAVY!r} "
            "if m in sys.modules], file=sys.stderr))\n"
            "from matd.cli.main import main\n"
            f"sys.argv = ['matd', *{argv!r}]\n"
            "main()\n")
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("MODS")]
    return line[0].split()[1:] if line else ["?"]


def in_process_rate(path: Path, repeats: int) -> tuple[float, float]:
    """(median wall s, median CPU s) of checking a file in-process, as `matd check` does."""
    from matd.cli.check import CheckOptions, run_check
    opts = CheckOptions((str(path),), "text", False, False)
    run_check(opts)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        run_check(opts)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 15
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for n in (1, 50, 1000, 10_000):
            files[n] = Path(tmp) / f"s{n}.matd"
            files[n].write_text(program(n))
        grad = ["grad", "x: n; norm(x)^2", "--wrt", "x", "--at", "x=[1,2,3]"]
        diff = ["diff", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt", "w"]
        cmds = {
            "python -c pass": [PY, "-c", "pass"],
            FLOOR: [PY, "-c", "import click, lark"],
            NUMPY_FLOOR: [PY, "-c", "import numpy, click, lark"],
            "matd check (50 statements)": [MATD, "check", str(files[50])],
            "matd diff (logistic loss, --wrt w)": [MATD, *diff],
            "matd shape tr(A^T X B)": [MATD, "shape", "A: m x n; X: m x p; B: p x n; "
                                       "tr(A^T X B)"],
            "matd grad 'x: n; norm(x)^2' --at x=[1,2,3]": [MATD, *grad],
            "matd check (1 statement)": [MATD, "check", str(files[1])],
            "matd check (1,000 statements)": [MATD, "check", str(files[1000])],
            "matd check (10,000 statements)": [MATD, "check", str(files[10_000])],
        }
        t = run_rounds(cmds, rounds)
        rate = {n: in_process_rate(files[n], 7 if n <= 1000 else 3) for n in (1000, 10_000)}
        mods = {"check": heavy_imports(["check", str(files[50])]),
                "diff": heavy_imports(diff), "grad": heavy_imports(grad)}

    print(f"interpreter: {PY}; {rounds} interleaved rounds; medians (of each round's ratio "
          "for the ratios)\n")
    print(f"{'command':48} {'wall ms':>8} {'cpu ms':>8}  {'/ peer (wall, cpu)':>18}  peer")
    peers = {n: (NUMPY_FLOOR if n.startswith("matd grad") else FLOOR) for n in cmds}
    for name in cmds:
        peer = peers[name] if name.startswith("matd") else None
        w, c, rc = median(t, name, "wall"), median(t, name, "cpu"), t[name]["status"]
        r = f"{ratio(t, name, peer, 'wall'):8.2f} {ratio(t, name, peer, 'cpu'):8.2f}" \
            if peer else ""
        which = "" if peer is None else "floor" if peer == FLOOR else "numpy floor"
        flag = "" if rc == 0 else f"  (exit {rc}!)"
        print(f"{name:48} {w:8.1f} {c:8.1f}  {r:>18}  {which}{flag}")

    print("\ngoals (wall / cpu):")
    for name, peer in (("matd check (50 statements)", FLOOR),
                       ("matd diff (logistic loss, --wrt w)", FLOOR),
                       ("matd grad 'x: n; norm(x)^2' --at x=[1,2,3]", NUMPY_FLOOR)):
        w, c = ratio(t, name, peer, "wall"), ratio(t, name, peer, "cpu")
        ok = "ok" if max(w, c) <= GOAL else "MISSED"
        print(f"  {name:44} / {peer:38} {w:5.2f} / {c:5.2f}  (goal <= {GOAL})  {ok}")

    print("\nmatd check, statements per second:")
    one = "matd check (1 statement)"
    per = {}                                  # ms per statement, as a command, less start-up
    for n in (1000, 10_000):
        big = f"matd check ({n:,} statements)"
        per[n] = tuple(statistics.median((x - y) / (n - 1) for x, y in
                                         zip(t[big][kind], t[one][kind]))
                       for kind in ("wall", "cpu"))
        iw, ic = rate[n]
        print(f"  {n:>6,} statements: in-process {n / iw:8,.0f}/s wall {n / ic:8,.0f}/s cpu;"
              f"  as a command, less its start-up, {1e3 / per[n][0]:8,.0f}/s wall "
              f"{1e3 / per[n][1]:8,.0f}/s cpu")
    iw = (rate[10_000][0] / 10_000) / (rate[1000][0] / 1000)
    ic = (rate[10_000][1] / 10_000) / (rate[1000][1] / 1000)
    cw, cc = per[10_000][0] / per[1000][0], per[10_000][1] / per[1000][1]
    worst = min(10_000 / rate[10_000][1], 1e3 / per[10_000][1])
    print(f"  per-statement cost, 10,000 / 1,000 statements: in-process {iw:.2f} wall "
          f"{ic:.2f} cpu; as a command {cw:.2f} wall {cc:.2f} cpu  (goal: about 1, linear)")
    print(f"  slowest rate at 10,000 statements on one core (cpu): {worst:,.0f}/s  "
          f"(goal >= {RATE_GOAL:,})  {'ok' if worst >= RATE_GOAL else 'MISSED'}")

    print("\nheavy modules imported (of " + ", ".join(HEAVY) + "):")
    for cmd, found in mods.items():
        print(f"  matd {cmd:6} {', '.join(found) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
