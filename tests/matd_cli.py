"""The real `matd` command, for tests: (exit code, stdout, stderr), never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MATD = str(Path(sys.executable).with_name("matd"))


ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1",
                                                                     "COLUMNS": "200"}


def matd(*args, stdin: str | None = None, timeout: float = 120):
    p = subprocess.run([MATD, *map(str, args)], input=stdin, capture_output=True, text=True,
                       timeout=timeout, env=ENV)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    assert "internal error" not in p.stderr, p.stderr
    assert p.returncode != 3, p.stderr
    return p.returncode, p.stdout, p.stderr


def derivative(program: str, wrt: str, *extra: str) -> str:
    """The derivative line (∂…) of `matd diff`, without its shape column."""
    rc, out, err = matd("diff", program, "--wrt", wrt, *extra)
    assert rc == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("∂")][-1]
    return line.split("=", 1)[1].rsplit("   ", 1)[0].strip()
