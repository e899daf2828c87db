"""Expression swell: differentiating the k-layer network

    x: n; W1: n x n; ...; Wk: n x n; sum(tanh(Wk ... tanh(W1 x)))

by every variable (k + 1 gradients), for k = 4, 8, 16, 32, 64.  Per k:

  parse   in-process parse_program(text)                       (median over repeats)
  derive  in-process derive(prog), every variable, the program parsed beforehand -- the
          figure the goal is about
  text    `matd diff FILE` run in-process (matd.cli.main.main, stdout captured, so plain text):
          parse + derive + naming shared parts + rendering, without interpreter start-up
  json    the same with --format json
  sizes   characters of what `matd diff FILE` prints (a subprocess, output piped): the text
          output; in the JSON output the longest `derivative` (W1's, which runs through every
          layer) and the longest `differential`, and the whole JSON output.

Linear growth means time and size per layer stay about constant; the summary compares the
largest k with the smallest (64 vs 4: 16x the layers).  Digit counts of names (W64, t130) make
per-layer sizes creep up slowly even where the structure is linear.

    python bench/scaling.py [K ...]     (goals: derive time(64)/time(4) <= 32; output linear in k)
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, time_fn  # noqa: E402

KS = (4, 8, 16, 32, 64)


def network(k: int) -> str:
    decl = "x: n; " + "; ".join(f"W{i}: n x n" for i in range(1, k + 1))
    e = "x"
    for i in range(1, k + 1):
        e = f"tanh(W{i} {e})"
    return f"{decl}; sum({e})"


def cli_in_process(argv: list[str]) -> str:
    """`matd ARGV` in this process; its stdout."""
    from matd.cli.main import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as e:
            if e.code not in (0, None):
                raise
    return out.getvalue()


def main(argv: list[str]) -> None:
    from matd.core.derive import derive
    from matd.grammar.parse import parse_program

    ks = tuple(int(a) for a in argv) or KS
    rows = {}
    limit = sys.getrecursionlimit()
    print("times: ms, in-process medians after a warm-up; sizes: characters of `matd diff` "
          "output (piped)\n")
    head = (f"{'k':>4} {'parse':>6} {'derive':>7} {'/layer':>6} {'text':>7} {'json':>8} | "
            f"{'text out':>8} {'/layer':>6} {'json W1':>7} {'/layer':>6} {'json df':>9} "
            f"{'/layer':>7} {'json all':>10}")
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            src = network(k)
            t_parse = time_fn(lambda src=src: parse_program(src), min_time=1.0, max_runs=200)
            prog = parse_program(src)
            t_derive = time_fn(lambda prog=prog: derive(prog), min_time=1.0, max_runs=200)
            d = derive(prog)
            assert len(d.results) == k + 1, [r.wrt for r in d.results]

            f = Path(tmp) / f"net{k}.matd"
            f.write_text(src)
            t_text = time_fn(lambda f=f: cli_in_process(["diff", str(f)]), min_time=0.5,
                             max_runs=50)
            t_json = time_fn(lambda f=f: cli_in_process(["diff", str(f), "--format", "json"]),
                             min_time=0.5, max_runs=20)
            sys.setrecursionlimit(limit)   # the CLI raises it; leave the process as it was
            text = subprocess.run([MATD, "diff", str(f)], capture_output=True, text=True,
                                  check=True).stdout
            js = subprocess.run([MATD, "diff", str(f), "--format", "json"], capture_output=True,
                                text=True, check=True).stdout
            objs = [json.loads(line) for line in js.splitlines() if line.strip()]
            jmax = max(len(o["derivative"]) for o in objs)
            dmax = max(len(o["differential"]) for o in objs)
            rows[k] = {"derive": t_derive, "text_t": t_text, "json_t": t_json,
                       "text": len(text), "jmax": jmax, "df": dmax, "jall": len(js)}
            print(f"{k:4d} {t_parse:6.2f} {t_derive:7.2f} {t_derive / k:6.3f} {t_text:7.1f} "
                  f"{t_json:8.1f} | {len(text):8d} {len(text) / k:6.1f} {jmax:7d} "
                  f"{jmax / k:6.1f} {dmax:9d} {dmax / k:7.1f} {len(js):10d}")

    lo, hi = min(rows), max(rows)
    grow = hi / lo

    def ratio(key):
        return rows[hi][key] / rows[lo][key]
    print(f"\nk grew {grow:.0f}x ({lo} -> {hi} layers); linear growth is a ratio of {grow:.0f}")
    print(f"  derive time({hi})/time({lo})      = {ratio('derive'):6.1f}   (goal <= 32 for 64/4)")
    print(f"  matd diff text, in-process       = {ratio('text_t'):6.1f}")
    print(f"  matd diff --format json          = {ratio('json_t'):6.1f}")
    ks_sorted = sorted(rows)
    print("  derive time per doubling of k: " + ", ".join(
        f"{a}->{b} {rows[b]['derive'] / rows[a]['derive']:.2f}x"
        for a, b in itertools.pairwise(ks_sorted) if b == 2 * a))
    print(f"sizes ({hi} vs {lo} layers):")
    for key, label in (("text", "text output"), ("jmax", "JSON derivative (longest)"),
                       ("df", "JSON differential (longest)"), ("jall", "JSON output, all")):
        print(f"  {label:28} x{ratio(key):9.1f}   per layer {rows[lo][key] / lo:9.0f} -> "
              f"{rows[hi][key] / hi:9.0f}")
    print("(the JSON output holds k + 1 objects, each a standalone program of O(k) when "
          "shared parts are named, so O(k²) in all would be linear per object)")


if __name__ == "__main__":
    main(sys.argv[1:])
