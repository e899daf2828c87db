"""Cold start of `matd check` and `matd shape` against the floor of matd's own
dependencies (`python -c "import click, lark"`), with the venv's interpreter.

    python bench/coldstart.py          (goal: check <= 1.5x the floor)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, PY, time_cmd  # noqa: E402

STATEMENTS = [
    "A{i}: m x n", "B{i}: n x p", "x{i}: n", "S{i}: n x n spd", "c{i}: scalar",
    "r{i} = A{i} x{i} - ones(m)", "norm(r{i})^2 + c{i} norm(x{i})^2",
    "tr(A{i}^T A{i} B{i} B{i}^T)", "logdet(S{i}) + x{i}^T inv(S{i}) x{i}",
    "sum(softplus(A{i} x{i})) - ones(m)^T A{i} x{i}",
]


def program(n: int = 50) -> str:
    lines, i = [], 0
    while len(lines) < n:
        lines += [s.format(i=i) for s in STATEMENTS]
        i += 1
    return "\n".join(lines[:n]) + "\n"


def heavy_imports(cmd_args) -> list[str]:
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('MODS', *[m for m in ('numpy', 'sympy', 'rich') "
            "if m in sys.modules], file=sys.stderr))\n"
            "from matd.cli.main import main\n"
            f"main({cmd_args!r})\n")
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("MODS")]
    return line[0].split()[1:] if line else ["?"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "fifty.matd"
        f.write_text(program())
        expr = "A: m x n; X: m x p; B: p x n; tr(A^T X B)"
        rows = [
            ("python -c pass", time_cmd([PY, "-c", "pass"])),
            ('python -c "import click, lark"', time_cmd([PY, "-c", "import click, lark"])),
            ("matd check (50 statements)", time_cmd([MATD, "check", str(f)])),
            ("matd shape (one expression)", time_cmd([MATD, "shape", expr])),
        ]
        mods = heavy_imports(["check", str(f)])
    floor = rows[1][1]
    print(f"{'what':36} {'median ms':>10} {'/ floor':>8}")
    for name, ms in rows:
        print(f"{name:36} {ms:10.1f} {ms / floor:8.2f}")
    print(f"\nmatd check / floor = {rows[2][1] / floor:.2f}  (goal <= 1.5)")
    print(f"heavy modules imported by `matd check`: {', '.join(mods) or 'none'}")


if __name__ == "__main__":
    main()
