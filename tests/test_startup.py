"""Start-up (issue 11, item 5): what each command imports, and `matd check` on a long file.

Timings are benchmarks (bench/coldstart.py), not tests; these check the causes: which heavy
modules a command loads, the CPU namespace, and that the collector settings of `matd check`
give the same diagnostics on 10,000 statements and leave an in-process caller's collector as
it was."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k not in ("MATD_DEBUG", "PYTHONIMPORTTIME")} \
    | {"NO_COLOR": "1"}
WATCH = ("numpy", "numpy.f2py", "numpy.testing", "numpy.ma", "array_api_compat", "scipy",
         "sympy", "rich", "lark", "dask", "distributed", "tempfile", "shutil",
         "matd.core.stores", "matd.core.daskrun", "scipy.sparse", "scipy.fftpack")


def imported(argv: list[str], stdin: str | None = None) -> tuple[set[str], int, str]:
    """Which of WATCH `matd ARGV` has imported when it exits (run as the matd program:
    main() without arguments, as the console script calls it); its status and output."""
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: sys.stderr.write('\\nMODS=' + ','.join(m for m in "
            f"{WATCH!r} if m in sys.modules)))\n"
            f"sys.argv = ['matd', *{argv!r}]\n"
            "from matd.cli.main import main\n"
            "main()\n")
    p = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True,
                       text=True, env=ENV, cwd="/", timeout=120)
    err, _, mods = p.stderr.rpartition("\nMODS=")
    assert "Traceback" not in err, err
    return set(filter(None, mods.strip().split(","))), p.returncode, p.stdout


@pytest.mark.parametrize("argv", [
    ["check", "-"],
    ["check", "--format", "json", "-"],
    ["shape", "A: m x n; x: n; A x"],
    ["diff", "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt", "w"],
    ["diff", "X: n x n; logdet(X)", "--format", "json"],
], ids=["check", "check-json", "shape", "diff", "diff-json"])
def test_symbolic_commands_import_no_numpy_rich_sympy_or_lark(argv):
    mods, rc, _ = imported(argv, stdin="A: m x n; x: n\nnorm(A x)^2\n")
    assert rc == 0
    assert mods == set(), mods          # lark only computes the parse tables (grammar/lalr.py)


def test_grad_on_the_cpu_imports_numpy_alone(tmp_path):
    mods, rc, out = imported(["grad", "x: n; norm(x)^2", "--wrt", "x", "--at", "x=[1,2,3]"])
    assert rc == 0 and "2" in out and "6" in out, out
    assert mods == {"numpy"}, mods       # no array_api_compat (numpy.f2py, .testing, .ma …)
    import numpy as np                   # a .npy in, a .npy out: no dask, no tempfile either
    np.save(tmp_path / "x.npy", np.arange(3.0))
    mods, rc, _ = imported(["grad", "x: n; norm(x)^2", "--wrt", "x", "--at",
                            f"x={tmp_path / 'x.npy'}", "--out", str(tmp_path / "g.npy")])
    assert rc == 0 and mods == {"numpy"}, mods
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), [0.0, 2.0, 4.0])


def test_grad_on_dask_threads_imports_no_distributed_nor_scipys_sparse_and_fft(tmp_path):
    """--backend dask in this process: dask.array without the SciPy modules it loads for
    sparse chunks and FFTs, and no dask.distributed (which dask.delayed of an array, a
    scheduler named by a string, would import): 0.45 s of start-up together."""
    pytest.importorskip("dask")
    import numpy as np
    np.save(tmp_path / "X.npy", np.arange(12.0).reshape(6, 2))
    np.save(tmp_path / "w.npy", np.ones(2))
    mods, rc, out = imported(["grad", "X: m x d; w: d; norm(X w)^2", "--wrt", "w", "--at",
                              f"X={tmp_path / 'X.npy'}", "--at", f"w={tmp_path / 'w.npy'}",
                              "--backend", "dask", "--chunks", "2"])
    assert rc == 0, out
    assert {"dask", "matd.core.daskrun"} <= mods, mods
    assert not mods & {"distributed", "scipy.sparse", "scipy.fftpack"}, mods
    X = np.arange(12.0).reshape(6, 2)
    assert [float(v) for v in out.split()] == (2 * X.T @ X @ np.ones(2)).tolist(), out


def test_the_cpu_namespace_is_numpy_itself_where_numpy_is_an_array_api_namespace():
    import numpy as np

    from matd.core.backend import namespace
    xp, dt = namespace("cpu", "float32")
    if np.__array_api_version__ >= "2023.12":
        assert xp is np
    assert dt == xp.float32


def program(blocks: int, bad_every: int) -> tuple[str, list[int]]:
    """Blocks of five statements; the last of every bad_every-th block is a shape error (A y
    for y of the wrong size).  The text and the lines of those errors."""
    lines, bad = [], []
    for k in range(blocks):
        lines += [f"A{k}: m x n", f"x{k}, y{k}: n", f"r{k} = A{k} x{k}",
                  f"norm(r{k})^2 + tr(A{k}^T A{k})"]
        if k % bad_every == bad_every - 1:
            lines.append(f"A{k}^T y{k}")
            bad.append(len(lines))
        else:
            lines.append(f"A{k} y{k}")
    return "\n".join(lines) + "\n", bad


def test_check_on_ten_thousand_statements_gives_every_diagnostic(tmp_path):
    text, bad = program(2000, 7)
    f = tmp_path / "long.matd"
    f.write_text(text)
    p = subprocess.run([MATD, "check", "--format", "json", str(f)], capture_output=True,
                       text=True, env=ENV, timeout=300)
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    (entry,) = report["files"]
    assert text.count("\n") == 10_000 and entry["statements"] == 10_000 - len(bad)
    assert [(e["line"], e["code"]) for e in entry["errors"]] == [(ln, "MD002") for ln in bad]
    assert report["errors"] == len(bad)


def test_run_check_leaves_the_collector_as_it_was(tmp_path):
    from matd.cli.check import GC_EVERY, CheckOptions, run_check
    text, bad = program(GC_EVERY // 25, 7)      # ten files, enough for collections
    files = []
    for i in range(10):
        files.append(tmp_path / f"f{i}.matd")
        files[-1].write_text(text)
    opts = CheckOptions(tuple(map(str, files)), "text", False, False)
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            report, lines, status = run_check(opts)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
        assert status == 1 and report["errors"] == 10 * len(bad) == len(lines)
