"""Shared helpers of the benchmarks: timing subprocesses and functions."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable                       # the venv's own interpreter, not a shim
MATD = str(Path(PY).parent / "matd")      # its console script
ROOT = Path(__file__).resolve().parents[1]


def time_cmd(cmd, runs: int = 15, stdin: bytes | None = None) -> float:
    """Median wall time of a command in ms (after one warm-up run)."""
    subprocess.run(cmd, input=stdin, capture_output=True)
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, input=stdin, capture_output=True)
        xs.append(time.perf_counter() - t)
    return statistics.median(xs) * 1000


def time_fn(fn, min_time: float = 0.3, max_runs: int = 1000) -> float:
    """Median time of fn() in ms, over enough runs to take ~min_time seconds."""
    fn()
    xs = []
    start = time.perf_counter()
    while len(xs) < max_runs and (time.perf_counter() - start < min_time or len(xs) < 5):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return statistics.median(xs) * 1000


def corpus():
    """The textbook cases, from the tests' data file."""
    import json
    return json.loads((ROOT / "tests" / "data" / "cases.json").read_text())["cases"]
