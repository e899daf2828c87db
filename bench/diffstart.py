"""Cold start of `matd diff` on a one-line expression, output piped, against the floor
`python -c "import click, lark"` (same venv interpreter), and which heavy modules load.

    python bench/diffstart.py       (goal: <= 2x the floor; no sympy, numpy or rich)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import MATD, PY, time_cmd  # noqa: E402

EXPR = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w"


def main() -> None:
    floor = time_cmd([PY, "-c", "import click, lark"])
    diff = time_cmd([MATD, "diff", EXPR, "--wrt", "w"])
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('MODS', *[m for m in ('numpy', 'sympy', 'rich') "
            "if m in sys.modules], file=sys.stderr))\n"
            "from matd.cli.main import main\n"
            f"main(['diff', {EXPR!r}, '--wrt', 'w'])\n")
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    mods = [ln for ln in p.stderr.splitlines() if ln.startswith("MODS")]
    print(f'python -c "import click, lark"   {floor:7.1f} ms')
    print(f"matd diff (piped)                {diff:7.1f} ms   {diff / floor:.2f}x the floor "
          "(goal <= 2)")
    print(f"heavy modules imported: {' '.join(mods[0].split()[1:]) if mods else '?'} "
          "(none expected)")


if __name__ == "__main__":
    main()
