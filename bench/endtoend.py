"""`matd grad EXPR --wrt X --at X=big.npy … --out g.npy` end to end (a subprocess: start-up,
reading the inputs, checking them, the plan, writing the result) against a hand-written
numpy script that loads the same .npy files and saves the same gradient, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/endtoend.py [N] [ROUNDS]

Default n = 2000 and 9 rounds.  Both commands run with one BLAS thread, in interleaved
rounds (matd, script, script, matd, …), after one warm-up each; the figure is the median
wall time.  Goal: matd / script ≤ 1.15 for every case.  Every matd result is compared with
the script's before timing.  To tell start-up from the work, `python -c "import numpy"` and
`matd --version` are timed, and each case once more at n = 2 (columns "at n=2"): what a
command takes beyond its n = 2 run is its work on the data ("data" columns).  Column CPU
is the ratio of the median CPU times (user + system) of the two children, which other work
on a shared machine disturbs less than wall time.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, PY  # noqa: E402

# (name, matd program, wrt, the numpy script's body after loading the inputs, input maker)
CASES = [
    ("least squares", "X: n x n; w, y: n; norm(X w - y)^2", "w",
     "g = 2 * (X.T @ (X @ w - y))",
     lambda n, rng: {"X": rng.standard_normal((n, n)) / np.sqrt(n),
                     "w": rng.standard_normal(n), "y": rng.standard_normal(n)}),
    ("logistic ±1", "X: n x n; w, y: n; sum(log(1 + exp(-y .* (X w))))", "w",
     "z = y * (X @ w)\ng = -X.T @ (y / (1 + np.exp(z)))",
     lambda n, rng: {"X": rng.standard_normal((n, n)) / np.sqrt(n),
                     "w": rng.standard_normal(n),
                     "y": np.where(rng.random(n) > 0.5, 1.0, -1.0)}),
    ("tr(X⁻¹ B)", "X, B: n x n; tr(inv(X) B)", "X",
     "Xi = np.linalg.inv(X)\ng = -(Xi @ B @ Xi).T",
     lambda n, rng: {"X": rng.standard_normal((n, n)) / np.sqrt(n) + 3 * np.eye(n),
                     "B": rng.standard_normal((n, n))}),
]


def env_one_thread() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # .pyc files, as installed (warm-up writes)
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # numpy's fast kernel (README)
        env.pop(v, None)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = "1"
    env["NO_COLOR"] = "1"
    return env


def timed(cmd, env) -> tuple[float, float]:
    """(wall ms, CPU ms of the child: user + system) of one run of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=env)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({p.returncode}):\n{p.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt * 1000, cpu * 1000


def interleaved(cmds: dict, env, rounds: int) -> tuple[dict, dict]:
    """Median wall ms and median CPU ms of each command over interleaved rounds (the order
    alternating)."""
    for c in cmds.values():
        timed(c, env)                          # warm-up: the page cache, .pyc files
    xs: dict = {k: [] for k in cmds}
    names = list(cmds)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            xs[k].append(timed(cmds[k], env))
    return ({k: statistics.median(w for w, _ in v) for k, v in xs.items()},
            {k: statistics.median(c for _, c in v) for k, v in xs.items()})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    env = env_one_thread()
    rng = np.random.default_rng(0)
    print(f"n = {n}, {rounds} interleaved rounds, one BLAS thread; median wall ms")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        base, base_cpu = interleaved({"python -c 'import numpy'": [PY, "-c", "import numpy"],
                                      "matd --version": [MATD, "--version"]}, env, rounds)
        for k, v in base.items():
            print(f"  {k:28} {v:8.1f}   (CPU {base_cpu[k]:.1f})")
        print(f"\n{'case':16} {'matd':>8} {'script':>8} {'ratio':>6} {'CPU':>5} | "
              f"{'at n=2:':>8} {'matd':>7} {'script':>7} | {'data:':>6} {'matd':>7} "
              f"{'script':>7}  check")
        ratios = []
        for name, src, wrt, body, make in CASES:
            cmds = {}
            for size, tag in ((n, ""), (2, "2")):
                arrays = make(size, rng)
                at = []
                for k, a in arrays.items():
                    np.save(d / f"{k}{tag}.npy", a)
                    at += ["--at", f"{k}={d / f'{k}{tag}.npy'}"]
                script = d / f"script{tag}.py"
                loads = "\n".join(f"{k} = np.load({str(d / f'{k}{tag}.npy')!r})" for k in arrays)
                script.write_text(f"import numpy as np\n{loads}\n{body}\n"
                                  f"np.save({str(d / f'ref{tag}.npy')!r}, g)\n")
                cmds["matd" + tag] = [MATD, "grad", src, "--wrt", wrt, *at,
                                      "--out", str(d / f"g{tag}.npy")]
                cmds["script" + tag] = [PY, str(script)]
            t, cpu = interleaved(cmds, env, rounds)
            got, ref = np.load(d / "g.npy"), np.load(d / "ref.npy")
            err = float(np.max(np.abs(got - ref)) / max(1.0, np.max(np.abs(ref))))
            ratio = t["matd"] / t["script"]
            ratios.append(ratio)
            flag = "" if ratio <= 1.15 else "  <- above 1.15x"
            print(f"{name:16} {t['matd']:8.1f} {t['script']:8.1f} {ratio:6.2f} "
                  f"{cpu['matd'] / cpu['script']:5.2f} | {'':8} "
                  f"{t['matd2']:7.1f} {t['script2']:7.1f} | {'':6} "
                  f"{t['matd'] - t['matd2']:7.1f} {t['script'] - t['script2']:7.1f}  "
                  f"{err:.1e}{flag}", flush=True)
    print(f"\nworst matd / script: {max(ratios):.2f}; goal <= 1.15")


if __name__ == "__main__":
    main()
