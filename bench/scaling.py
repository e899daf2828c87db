"""Expression swell: differentiating f = sum(tanh(W_k … tanh(W_1 x))) by every variable, for
k = 4 … 64 layers: in-process time of derive (parse included) and the size of what matd
prints (text output, JSON derivatives).

    python bench/scaling.py        (goals: time(64)/time(4) <= 32; output size linear in k)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, time_fn  # noqa: E402


def network(k: int) -> str:
    decl = "x: n; " + "; ".join(f"W{i}: n x n" for i in range(1, k + 1))
    e = "x"
    for i in range(1, k + 1):
        e = f"tanh(W{i} {e})"
    return f"{decl}; sum({e})"


def main() -> None:
    from matd.core.derive import derive
    from matd.grammar.parse import parse_program
    print(f"{'k':>4} {'derive ms':>10} {'text chars':>11} {'per layer':>10} "
          f"{'max json':>11} {'per layer':>10}")
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in (4, 8, 16, 32, 64):
            src = network(k)
            times[k] = time_fn(lambda src=src: derive(parse_program(src)), min_time=1.0,
                               max_runs=200)
            f = Path(tmp) / f"net{k}.matd"
            f.write_text(src)
            text = subprocess.run([MATD, "diff", str(f)], capture_output=True, text=True).stdout
            js = subprocess.run([MATD, "diff", str(f), "--format", "json"], capture_output=True,
                                text=True).stdout
            # each JSON object is a standalone program; the largest (by W1) holds every layer
            jlen = max(len(json.loads(line)["derivative"]) for line in js.splitlines())
            print(f"{k:4d} {times[k]:10.2f} {len(text):11d} {len(text) / k:10.1f} "
                  f"{jlen:11d} {jlen / k:10.1f}")
    print(f"\ntime(64)/time(4) = {times[64] / times[4]:.1f}  (goal <= 32; 16 would be linear)")


if __name__ == "__main__":
    main()
