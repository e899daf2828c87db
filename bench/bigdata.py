"""Large data: `matd grad` on a 2,000,000 × 50 problem with the numpy backend and with
`--backend dask`, time and peak memory, in one run; and a 3 GB .npy input on dask.

    .venv/bin/python bench/bigdata.py [ROWS] [--big] [--chunks ROWS|auto] [--rounds N]

Cases (X is ROWS × 50, default ROWS = 2,000,000: 800 MB of float64 in a .npy file):

  least squares      norm(X w - y)^2, by w
  logistic Hessian   sum(softplus(X w)) - yᵀ X w, its 50 × 50 Hessian by w
  Gaussian           m logdet(S) + tr(R S⁻¹ Rᵀ), R = X - 1 μᵀ, by μ and by S (S spd)

Each command runs as its own process, numpy and dask alternating, after one warm-up of
each (the page cache holds the files for both); the figures are wall time and the
child's peak resident memory (ru_maxrss, from wait4), each the median of ROUNDS rounds
(default 3); "best" is the ratio of the fastest rounds (noise only adds time: numpy's
runs, which allocate 0.8–1.6 GB, vary most on a shared machine).  numpy reads X memory-mapped, dask in row blocks (its default threads
scheduler, one thread per core; numpy's BLAS uses the cores too).  Every dask result is
compared with numpy's.  Goals: dask's peak ≤ 0.25× numpy's, its time ≤ 1.0× numpy's.
`--big` adds X of 7,500,000 × 50 (3 GB) through dask alone: goal < 500 MiB peak.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD  # noqa: E402

CASES = [
    ("least squares", "X: m x d; w: d; y: m; norm(X w - y)^2", ["w"], 1),
    ("logistic Hessian", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", ["w"], 2),
    ("Gaussian", "X: m x d; mu: d; S: d x d spd; R = X - ones(m) mu^T; "
     "m logdet(S) + tr(R inv(S) R^T)", ["mu", "S"], 1),
]


def write_inputs(folder: Path, rows: int, d: int = 50, block: int = 250_000) -> dict:
    """X (rows × d, written block by block: never all in memory), w, y, mu, S as .npy."""
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float64,
                                  shape=(rows, d))
    w_true = rng.standard_normal(d) / np.sqrt(d)
    y = np.lib.format.open_memmap(folder / "y.npy", mode="w+", dtype=np.float64, shape=(rows,))
    for i in range(0, rows, block):
        part = rng.standard_normal((min(block, rows - i), d))
        X[i:i + len(part)] = part
        y[i:i + len(part)] = (part @ w_true + rng.standard_normal(len(part)) > 0)
    X.flush()
    y.flush()
    del X, y
    M = rng.standard_normal((d, d))
    np.save(folder / "w.npy", rng.standard_normal(d) / np.sqrt(d))
    np.save(folder / "mu.npy", rng.standard_normal(d))
    np.save(folder / "S.npy", M @ M.T / d + np.eye(d))
    return {k: folder / f"{k}.npy" for k in ("X", "w", "y", "mu", "S")}


def write_in_a_child(folder: Path, rows: int) -> dict:
    """write_inputs in a process of its own: a child's peak memory (ru_maxrss) starts at
    its parent's at fork, and writing X would make this process as large as X."""
    subprocess.run([sys.executable, __file__, "--write", str(folder), str(rows)], check=True)
    return {k: folder / f"{k}.npy" for k in ("X", "w", "y", "mu", "S")}


def measure(cmd) -> tuple[float, float]:
    """(wall s, peak resident MiB) of one run of cmd, as a child of its own."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    err = p.stderr.read().decode()
    p.stderr.close()
    if status != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[:4]))} … failed:\n{err}")
    return dt, ru.ru_maxrss / 1024


def command(src, wrt, order, files, out, extra=()):
    names = [k for k in files if f"{k}:" in src or f"{k}," in src]
    at = [a for k in names for a in ("--at", f"{k}={files[k]}")]
    return [MATD, "grad", src, *(a for x in wrt for a in ("--wrt", x)), "--order", str(order),
            *at, "--out", str(out), *extra]


def main(argv: list[str]) -> None:
    flags = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--chunks", "--rounds")}
    values = set(flags.values())
    rows = next((int(a) for a in argv if a.isdigit() and a not in values), 2_000_000)
    chunks = flags.get("--chunks", "auto")
    rounds = int(flags.get("--rounds", 3))
    dask = ["--backend", "dask", "--chunks", chunks]
    print(f"X: {rows:,} × 50 float64 ({rows * 50 * 8 / 2**20:,.0f} MiB), {os.cpu_count()} "
          f"cores; --chunks {chunks}; medians of {rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_in_a_child(folder, rows)
        print(f"\n{'case':18} {'numpy s':>8} {'dask s':>8} {'ratio':>6} {'best':>5} | "
              f"{'numpy MiB':>9} {'dask MiB':>9} {'ratio':>6}  check")
        worst_t = worst_m = 0.0
        for name, src, wrt, order in CASES:
            ext = ".npz" if len(wrt) > 1 else ".npy"
            a, b = folder / f"np{ext}", folder / f"dk{ext}"
            cmds = {"numpy": command(src, wrt, order, files, a),
                    "dask": command(src, wrt, order, files, b, dask)}
            for c in cmds.values():
                measure(c)                                   # warm-up
            got: dict = {k: [] for k in cmds}
            for r in range(rounds):
                for k in (list(cmds) if r % 2 == 0 else list(cmds)[::-1]):
                    got[k].append(measure(cmds[k]))
            t = {k: statistics.median(x[0] for x in v) for k, v in got.items()}
            best = min(x[0] for x in got["dask"]) / min(x[0] for x in got["numpy"])
            m = {k: statistics.median(x[1] for x in v) for k, v in got.items()}
            ref, mine = np.load(a), np.load(b)
            if ext == ".npz":
                err = max(float(np.max(np.abs(ref[k] - mine[k])) / max(1, np.max(np.abs(ref[k]))))
                          for k in ref.files)
            else:
                err = float(np.max(np.abs(ref - mine)) / max(1, np.max(np.abs(ref))))
            rt, rm = t["dask"] / t["numpy"], m["dask"] / m["numpy"]
            worst_t, worst_m = max(worst_t, rt), max(worst_m, rm)
            print(f"{name:18} {t['numpy']:8.2f} {t['dask']:8.2f} {rt:6.2f} {best:5.2f} | "
                  f"{m['numpy']:9.0f} {m['dask']:9.0f} {rm:6.2f}  {err:.1e}", flush=True)
        print(f"\nworst dask / numpy: time {worst_t:.2f} (goal <= 1.0), peak memory "
              f"{worst_m:.2f} (goal <= 0.25)")
        if "--big" in argv:
            for p in folder.iterdir():
                p.unlink()
            big = 7_500_000
            files = write_in_a_child(folder, big)
            size = os.path.getsize(files["X"]) / 2**30
            name, src, wrt, order = CASES[0]
            dt, mib = measure(command(src, wrt, order, files, folder / "g.npy", dask))
            print(f"\n3 GB input: X {big:,} × 50 ({size:.2f} GiB .npy), {name} on dask: "
                  f"{dt:.1f} s, peak {mib:.0f} MiB (goal < 500 MiB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_inputs(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main(sys.argv[1:])
