"""Expression swell: `matd diff` of the k-layer tanh network by every weight

    x: n; W1: n x n; ...; Wk: n x n; sum(tanh(Wk ... tanh(W1 x)))

by every variable (k + 1 gradients), for k = 64, 128, 256, 512 (any k by argument).  Per k:

  parse    parse_program(text)
  derive   derive(prog), every variable, the program parsed beforehand
  per format (text, matd, latex, json, numpy):
    diff   `matd diff FILE --format F` run in-process (matd.cli.main.main, stdout captured,
           so plain text): parse + derive + naming shared parts + rendering, without
           interpreter start-up -- the figure the goal is about
    name+render  matd.DiffResult(prog, d) and its renderer (what `matd diff` does after
           deriving): naming the shared parts and rendering
    size   characters that `matd diff FILE --format F` prints

Each figure is timed in rounds after a warm-up, and a round times it once at every k, so
that a busy moment of a shared machine falls on all the k alike; the table shows medians
over the rounds of this process's CPU time (time.process_time: matd's work alone), and the
growth per doubling of k (k -> 2k) is the median over rounds of each round's ratio, of CPU
and of wall time, with their geometric mean over the whole span (64 -> 512: the cube root
of the ratio), which the verdict is on.  The goal: `matd diff`'s CPU time and every format's
size grow at most 2.2x per doubling (linear growth is 2x; digit counts of names, W512 and
t1030, add a little); a single doubling over it is pointed out.

    python bench/scaling.py [--rounds N] [K ...]    (default K = 64 128 256 512, N = 5; ~2 min)
"""
from __future__ import annotations

import contextlib
import gc
import io
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

KS = (64, 128, 256, 512)
FORMATS = ("text", "matd", "latex", "json", "numpy")
GOAL = 2.2


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


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) ms of one fn(); CPU time is this process's (time.process_time).  A full
    garbage collection first, untimed, so that one owed by an earlier run does not fall on
    this one (the collector stays on while fn runs, as it does in `matd`)."""
    gc.collect()
    t, c = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def render(prog, d, fmt: str) -> str:
    """What `matd diff --format FMT` does after deriving."""
    from matd.symbolic import DiffResult
    r = DiffResult(prog, d)
    return {"text": r.text, "matd": r.matd, "latex": r.latex, "json": r.json,
            "numpy": r.numpy_source}[fmt]()


def tasks(k: int, tmp: Path) -> tuple[dict, dict]:
    """({figure: the thing to time}, {format: size}) for the network of depth k."""
    from matd.core.derive import derive
    from matd.grammar.parse import parse_program
    src = network(k)
    prog = parse_program(src)
    d = derive(prog)
    assert len(d.results) == k + 1, [r.wrt for r in d.results]
    f = tmp / f"net{k}.matd"
    f.write_text(src)
    todo = {"parse": lambda: parse_program(src), "derive": lambda: derive(prog)}
    sizes = {}
    for fmt in FORMATS:
        argv = ["diff", str(f), "--format", fmt]
        todo[f"{fmt} diff"] = lambda argv=argv: cli_in_process(argv)
        todo[f"{fmt} render"] = lambda fmt=fmt: render(prog, d, fmt)
        sizes[fmt] = len(cli_in_process(argv))
    return todo, sizes


def main(argv: list[str]) -> None:
    rounds = 5
    if argv[:1] == ["--rounds"]:
        rounds, argv = int(argv[1]), argv[2:]
    ks = tuple(sorted(int(a) for a in argv)) or KS
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))   # as `matd` does
    pairs = [(a, b) for a, b in itertools.pairwise(ks) if b == 2 * a]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {k: tasks(k, Path(tmp)) for k in ks}
        figures = list(jobs[ks[0]][0])
        times: dict = {}      # (figure, k) -> [(wall, CPU)] over the rounds
        for fig in figures:
            for k in ks:
                jobs[k][0][fig]()                           # warm-up
            for _ in range(rounds):                         # a round times every k once
                for k in ks:
                    times.setdefault((fig, k), []).append(timed(jobs[k][0][fig]))
            print(f"  {fig} done", file=sys.stderr, flush=True)

    def med(fig, k, i):
        return statistics.median(t[i] for t in times[fig, k])

    def growth(fig, a, b, i):     # the median over rounds of each round's ratio
        return statistics.median(tb[i] / ta[i] for ta, tb in zip(times[fig, a], times[fig, b]))

    print(f"times: ms, medians of {rounds} rounds, each round timing every k once (CPU: "
          "this process's time; wall in the growth table); sizes: characters that `matd diff` "
          "prints\n")
    head = f"{'k':>4} {'parse':>7} {'derive':>7} | " + " | ".join(
        f"{fmt + ' diff':>11} {'name+rend':>9} {'size':>9}" for fmt in FORMATS)
    print(head)
    print("-" * len(head))
    for k in ks:
        sizes = jobs[k][1]
        print(f"{k:4d} {med('parse', k, 1):7.1f} {med('derive', k, 1):7.1f} | " + " | ".join(
            f"{med(fmt + ' diff', k, 1):11.1f} {med(fmt + ' render', k, 1):9.1f} "
            f"{sizes[fmt]:9d}" for fmt in FORMATS))
    if not pairs:
        return
    print(f"\ngrowth per doubling of k (linear: 2.0x; goal: `matd diff` CPU time and every "
          f"size <= {GOAL}x)")
    span = (ks[0], ks[-1]) if len(pairs) == len(ks) - 1 and len(pairs) > 1 else None
    print(f"{'':26} " + " ".join(f"{f'{a}->{b}':>9}" for a, b in pairs)
          + (f" {f'{span[0]}..{span[1]}':>9}" if span else "") + "  verdict")
    worst = mean_worst = 0.0
    rows = [("parse (CPU)", lambda a, b: growth("parse", a, b, 1), False),
            ("derive (CPU)", lambda a, b: growth("derive", a, b, 1), False)]
    for fmt in FORMATS:
        rows += [(f"{fmt}: matd diff (CPU)", lambda a, b, f=fmt: growth(f + " diff", a, b, 1),
                  True),
                 (f"{fmt}: matd diff (wall)", lambda a, b, f=fmt: growth(f + " diff", a, b, 0),
                  False),
                 (f"{fmt}: name+render (CPU)",
                  lambda a, b, f=fmt: growth(f + " render", a, b, 1), False),
                 (f"{fmt}: size", lambda a, b, f=fmt: jobs[b][1][f] / jobs[a][1][f], True)]
    for label, ratio, goal in rows:
        ratios = [ratio(a, b) for a, b in pairs]
        mean = math.prod(ratios) ** (1 / len(ratios))   # per doubling, over the whole span
        verdict = ""
        if goal:
            worst, mean_worst = max(worst, *ratios), max(mean_worst, mean)
            verdict = "ok" if mean <= GOAL else "OVER"
            if max(ratios) > GOAL:
                verdict += f" (one doubling {max(ratios):.2f}x)"
        print(f"{label:26} " + " ".join(f"{x:8.2f}x" for x in ratios)
              + (f" {mean:8.2f}x" if span else "") + f"  {verdict}")
    print(f"\ngoal figures: at most {mean_worst:.2f}x per doubling over the span (geometric "
          f"mean), {worst:.2f}x in the worst single doubling -> "
          + (f"goal (<= {GOAL}x) met" if mean_worst <= GOAL else f"goal (<= {GOAL}x) NOT met"))


if __name__ == "__main__":
    main(sys.argv[1:])
