"""The README is a tested gallery: every session in it is run and compared.

A session is a fenced block (no language tag) whose lines starting with ``$ `` are shell
commands, each followed by the output it prints (stdout, then stderr).  They run with bash
in a fresh temporary folder, with the installed ``matd`` first on PATH, plain output
(NO_COLOR) and an 100-column terminal.  ``>>>`` examples anywhere in the README run as
doctests.  After a change of output, rewrite the blocks from the current code with

    python tests/test_readme.py --update
"""
from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = str(Path(sys.executable).parent)


def sessions(text: str):
    """(start line, block lines) of every fenced block without a language tag that holds
    a ``$ `` command."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            j = lines.index("```", i + 1)
            block = lines[i + 1:j]
            if lines[i] == "```" and any(ln.startswith("$ ") for ln in block):
                out.append((i + 1, block))
            i = j + 1
        else:
            i += 1
    return out


def commands(block: list[str]):
    """(command, expected output) pairs of a session block."""
    pairs, cmd, want = [], None, []
    for ln in block:
        if ln.startswith("$ "):
            if cmd is not None:
                pairs.append((cmd, want))
            cmd, want = ln[2:], []
        elif cmd is not None:
            want.append(ln)
    if cmd is not None:
        pairs.append((cmd, want))
    for k, (c, w) in enumerate(pairs):   # a blank line separates sessions, not output
        while w and not w[-1].strip():
            w.pop()
        pairs[k] = (c, w)
    return pairs


def run(cmd: str, cwd: str) -> list[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "100",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": cwd, "TERM": "dumb"}
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                       cwd=cwd, env=env, timeout=120, stdin=subprocess.DEVNULL)
    text = p.stdout + p.stderr
    return [ln.rstrip() for ln in text.rstrip("\n").split("\n")] if text.strip() else []


CASES = [(start, cmd, want) for start, block in sessions(README.read_text(encoding="utf-8"))
         for cmd, want in commands(block)]


@pytest.mark.parametrize("start, cmd, want", CASES, ids=[c for _, c, _ in CASES])
def test_readme_session(start, cmd, want, tmp_path):
    if "jq" in cmd and shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    assert run(cmd, str(tmp_path)) == [ln.rstrip() for ln in want], \
        f"README.md line {start}: `{cmd}` prints something else; run " \
        "`python tests/test_readme.py --update` and review the diff"


def test_readme_has_the_gallery():
    cmds = " ".join(c for _, c, _ in CASES)
    for part in ("matd diff", "--order 2", "--steps", "--format latex", "--format numpy",
                 "matd grad", "--check", "matd shape"):
        assert part in cmds, f"the README gallery lacks {part}"


def test_readme_python_examples():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(README.read_text(encoding="utf-8"), {}, "README.md",
                              str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0


def update() -> None:
    """Rewrite every session's output from the current code."""
    lines = README.read_text(encoding="utf-8").split("\n")
    for start, block in reversed(sessions("\n".join(lines))):
        new: list[str] = []
        with tempfile.TemporaryDirectory() as cwd:
            for k, (cmd, _) in enumerate(commands(block)):
                if k:
                    new.append("")
                new.append(f"$ {cmd}")
                new.extend(run(cmd, cwd))
        lines[start:start + len(block)] = new
    README.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit(f"usage: {sys.argv[0]} --update")
