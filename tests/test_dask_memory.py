"""Out of core (issue 12, slow): a 3 GB .npy input through `matd grad --backend dask` peaks
below 500 MiB of resident memory, and its gradient is right.  Sizes, not times, are
asserted; `pytest -m slow tests/test_dask_memory.py` runs it (about a minute, 3 GB of disk)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from matd_cli import MATD

pytest.importorskip("dask.array")

# Runs a command and prints its peak resident KiB.  A child's peak starts at its parent's
# at fork (Linux keeps it across exec), so the command is started by this small process,
# not by pytest, which may be large.
PEAK = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.slow
def test_a_3_gb_npy_input_in_less_than_500_mib(tmp_path):
    rows, d, block = 7_500_000, 50, 500_000
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                  shape=(rows, d))
    col_sums = np.zeros(d)
    for i in range(0, rows, block):
        X[i:i + block] = part = rng.standard_normal((block, d))
        col_sums += part.sum(axis=0)
    X.flush()
    del X
    assert (tmp_path / "X.npy").stat().st_size > 3e9
    np.save(tmp_path / "w.npy", np.zeros(d))
    np.save(tmp_path / "y.npy", np.ones(rows))
    # at w = 0 the gradient of ‖X w − y‖² is −2 Xᵀ y = −2 (the column sums of X)
    cmd = [MATD, "grad", "X: m x d; w: d; y: m; norm(X w - y)^2", "--wrt", "w",
           "--at", f"X={tmp_path / 'X.npy'}", "--at", f"w={tmp_path / 'w.npy'}",
           "--at", f"y={tmp_path / 'y.npy'}", "--backend", "dask",
           "--out", str(tmp_path / "g.npy")]
    p = subprocess.run([sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    peak_mib = int(p.stdout.split()[-1]) / 1024
    assert peak_mib < 500, f"peak {peak_mib:.0f} MiB"
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), -2 * col_sums, rtol=1e-9)
