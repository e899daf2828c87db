"""`matd check` follows linter conventions (ruff, mypy, flake8), through the real command:
folders searched recursively, '.' by default, stable error codes, output formats, --quiet,
--exit-zero, --stdin-filename; and the EXPR|FILE rule of the other commands."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from matd.codes import BY_CODE, CODES

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}

GOOD = "A: m x n\nx: n\nnorm(A x)^2\n"
BAD = "A: m x n; x: p\nA x\n"                  # MD002 at 2:1..2:3
BAD_PY = "import numpy\n# matd: A: m x n; x: p\n# matd: A x\nx = 1\n"
TEXT_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)"
                       r"  \[(?P<code>MD\d{3})\]$")


def run(*args, stdin: str | None = None, cwd=None):
    p = subprocess.run([MATD, *map(str, args)], input=None if stdin is None else stdin.encode(),
                       capture_output=True, env=ENV, cwd=cwd, timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err and "internal error" not in err, err
    return p.returncode, out, err


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def project(tmp_path):
    """A project with formulas in folders, and copies in places a search must skip."""
    tree(tmp_path, {"good.matd": GOOD, "src/model.py": BAD_PY, "src/deep/bad.matd": BAD,
                    "notes.txt": BAD, "src/plain.py": "print(1)\n"})
    for skipped in (".hidden", ".venv", "venv", "env_with_cfg", "__pycache__", "node_modules",
                    ".git", "src/.tox"):
        tree(tmp_path, {f"{skipped}/bad.matd": BAD, f"{skipped}/m.py": BAD_PY})
    (tmp_path / "env_with_cfg" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return tmp_path


def test_no_argument_means_the_current_folder_searched_recursively(project):
    rc, out, err = run("check", cwd=project)
    assert rc == 1
    lines = out.splitlines()
    assert [TEXT_LINE.match(ln).group("file", "line", "col", "code") for ln in lines] == [
        ("src/model.py", "3", "9", "MD002"), ("src/deep/bad.matd", "2", "1", "MD002")]
    assert err.strip() == "2 errors in 2 files (checked 4 files)"
    rc2, out2, err2 = run("check", ".", cwd=project)
    assert (rc2, out2, err2) == (rc, out, err)


def test_a_folder_argument_is_searched_and_files_are_taken_as_given(project):
    rc, out, _ = run("check", "src/deep", "notes.txt", cwd=project)
    assert rc == 1
    assert [ln.split(":")[0] for ln in out.splitlines()] == ["src/deep/bad.matd", "notes.txt"]
    # a file named explicitly is checked even inside a skipped folder; repeats count once
    rc, out, err = run("check", ".venv/bad.matd", "./.venv/bad.matd", cwd=project)
    assert rc == 1 and len(out.splitlines()) == 1 and "checked 1 file)" in err


def test_an_empty_search_warns_and_passes(tmp_path):
    rc, out, err = run("check", cwd=tmp_path)
    assert rc == 0 and out == "" and "no .matd or .py files found" in err


def test_clean_files_pass_with_a_summary(project):
    rc, out, err = run("check", "good.matd", "src/plain.py", cwd=project)
    assert rc == 0 and out == "" and err.strip() == "no errors in 2 files"


def test_an_unreadable_file_is_a_counted_error_never_no_errors(project):
    rc, out, err = run("check", "good.matd", "missing.matd", cwd=project)
    assert rc == 2
    assert out.splitlines() == ["missing.matd: error: cannot read 'missing.matd': "
                                "No such file or directory  [MD004]"]
    assert err.strip() == "1 error in 1 file (checked 2 files; 1 could not be read)"
    assert "no errors" not in err and "0 error" not in err
    (project / "latin1.matd").write_bytes(b"x: n\n\xe9\n")
    rc, out, _ = run("check", "--output-format", "json", "latin1.matd", "src", cwd=project)
    report = json.loads(out)
    assert rc == 2 and report["errors"] == 3 and report["unreadable"] == 1
    first = report["files"][0]
    assert first["file"] == "latin1.matd" and "not UTF-8" in first["unreadable"]
    assert first["errors"][0]["code"] == "MD004"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads any folder")
def test_a_folder_that_cannot_be_listed_is_an_error(project):
    locked = project / "src" / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        rc, out, err = run("check", "src", cwd=project)
    finally:
        locked.chmod(0o755)
    assert rc == 2 and "[MD004]" in out and "src/locked" in out and "could not be read" in err


def test_a_folder_that_cannot_be_listed_is_an_error_even_for_root(project):
    """The same through the command's entry point, with listing 'src/locked' failing."""
    (project / "src" / "locked").mkdir()
    code = ("import os, sys\n"
            "real = os.scandir\n"
            "def scandir(p='.'):\n"
            "    if str(p).endswith('locked'):\n"
            "        raise PermissionError(13, 'Permission denied', str(p))\n"
            "    return real(p)\n"
            "os.scandir = scandir\n"
            "from matd.cli.main import main\n"
            "main(['check', 'src'])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                       cwd=project, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "src/locked: error: cannot read 'src/locked': Permission denied  [MD004]" in \
        p.stdout.splitlines()
    assert p.stderr.strip() == "3 errors in 3 files (checked 4 files; 1 could not be read)"


def test_text_json_json_lines_and_github_formats(project):
    rc, text, _ = run("check", "src", cwd=project)
    rc_j, js, _ = run("check", "--output-format", "json", "src", cwd=project)
    rc_l, jl, err_l = run("check", "--output-format", "json-lines", "src", cwd=project)
    rc_g, gh, _ = run("check", "--output-format", "github", "src", cwd=project)
    assert rc == rc_j == rc_l == rc_g == 1
    records = [json.loads(ln) for ln in jl.splitlines()]
    assert err_l == ""                       # json-lines is for machines: no summary
    assert records == [e for f in json.loads(js)["files"] for e in f["errors"]]
    assert [r["code"] for r in records] == ["MD002", "MD002"]
    assert records[1] | {"message": None, "hint": None} == {
        "file": "src/deep/bad.matd", "code": "MD002", "name": "shape", "line": 2, "col": 1,
        "end_line": 2, "end_col": 2, "message": None, "hint": None}
    for r, t, g in zip(records, text.splitlines(), gh.splitlines()):
        m = TEXT_LINE.match(t)
        assert m and m["file"] == r["file"] and int(m["line"]) == r["line"]
        assert m["msg"] == f"{r['message']} (hint: {r['hint']})"
        assert g == (f"::error file={r['file']},line={r['line']},col={r['col']},"
                     f"endLine={r['end_line']},endColumn={r['end_col']},title=matd {r['code']}"
                     f"::{r['message']} (hint: {r['hint']})")


def test_github_annotations_escape_file_names_and_report_unreadable_files(tmp_path):
    tree(tmp_path, {"a,b:c.matd": BAD})
    rc, out, _ = run("check", "--output-format", "github", "a,b:c.matd", "nope.matd",
                     cwd=tmp_path)
    assert rc == 2
    first, second = out.splitlines()
    assert first.startswith("::error file=a%2Cb%3Ac.matd,line=2,col=1,")
    assert second == ("::error file=nope.matd,title=matd MD004::cannot read 'nope.matd': "
                      "No such file or directory")


def test_format_is_an_alias_of_output_format(project):
    for fmt in ("text", "json", "json-lines", "github"):
        assert run("check", "--format", fmt, "src", cwd=project) == \
            run("check", "--output-format", fmt, "src", cwd=project)
    rc, _, err = run("check", "--format", "xml", "src", cwd=project)
    assert rc == 2 and "xml" in err


def test_context_keeps_the_code_on_the_error_line(project):
    rc, out, _ = run("check", "--context", "src/deep/bad.matd", cwd=project)
    assert rc == 1
    assert out.splitlines()[:3] == [
        "src/deep/bad.matd:2:1: error: matrix product of m×n and p (a vector)  [MD002]",
        "  A x", "  ^ -"]


def test_quiet_prints_only_the_errors(project):
    rc, out, err = run("check", "-q", "src", cwd=project)
    assert rc == 1 and len(out.splitlines()) == 2 and err == ""
    rc, out, err = run("check", "--quiet", "good.matd", cwd=project)
    assert rc == 0 and out == "" and err == ""


def test_exit_zero_reports_but_passes(project):
    rc, out, err = run("check", "--exit-zero", "src", "missing.matd", cwd=project)
    assert rc == 0 and "[MD002]" in out and "[MD004]" in out and "3 errors" in err
    rc, _, _ = run("check", "--exit-zero", "--output-format", "nonsense", cwd=project)
    assert rc == 2                             # bad usage is still bad usage


def test_stdin_filename_names_standard_input(tmp_path):
    rc, out, _ = run("check", "-", "--stdin-filename", "pkg/loss.matd", stdin=BAD)
    assert rc == 1 and out.startswith("pkg/loss.matd:2:1: error: ")
    # a .py name checks the '# matd:' blocks only, as for a file of that name
    rc, out, _ = run("check", "--stdin-filename", "model.py", stdin=BAD_PY)
    assert rc == 1 and out.startswith("model.py:3:9: error: ")
    rc, out, _ = run("check", "-", stdin=BAD)
    assert rc == 1 and out.startswith("<stdin>:2:1: error: ")
    rc, _, err = run("check", "--stdin-filename", "x.matd", "good.matd", stdin=BAD, cwd=tmp_path)
    assert rc == 2 and "--stdin-filename" in err


def test_every_code_row_has_an_example_that_gives_it():
    assert len({c.code for c in CODES}) == len(CODES) == len({c.name for c in CODES})
    for row in CODES:
        assert re.fullmatch(r"MD\d{3}", row.code)
        if row.example is None:      # MD004: tested above with real files
            continue
        rc, out, _ = run("check", "--output-format", "json-lines", "-", stdin=row.example)
        assert rc == 1, row
        assert json.loads(out.splitlines()[0])["code"] == row.code, (row, out)


@pytest.mark.parametrize("program", [
    "x: n; x^2", "A: m x n; tr(A)", "eye(0)", "A: 0 x 3", "g(t) = t + s", "g(t, t) = t",
    "tr: n", "x: n; ones(x)", "g(t) = eigvec_max(t)", "A: n x n; A^x", "1e999", "A: m x n spd",
    "x: n; y: m; x + y", "f(t) = exp(t); f(1, 2)", "X: n x n; X^0", "sum(X, 1, 2)",
])
def test_every_error_carries_a_known_code(program):
    rc, out, _ = run("check", "--output-format", "json-lines", "-", stdin=program)
    assert rc in (0, 1)
    for ln in out.splitlines():
        assert json.loads(ln)["code"] in BY_CODE


# -- EXPR|FILE for diff, eval, grad, shape -------------------------------------------------

def test_an_expression_that_names_a_file_here_is_still_an_expression(tmp_path):
    tree(tmp_path, {"x": "c: scalar\nc^2\n", "x.matd": "c: scalar\nc^2\n",
                    "d/f": "c: scalar\nc^2\n", "tr(A)": "c: scalar\nc\n"})
    rc, out, _ = run("shape", "x", cwd=tmp_path)            # the expression x, not the file
    assert rc == 0 and out.splitlines()[0] == "x: a"
    rc, out, _ = run("shape", "tr(A)", cwd=tmp_path)
    assert rc == 0 and out.startswith("A: a x a")
    for arg in ("./x", "x.matd", "./d/f", str(tmp_path / "x")):   # files, by the rule
        rc, out, _ = run("shape", arg, cwd=tmp_path)
        assert rc == 0 and out.splitlines() == ["c: scalar", "# result: scalar"], arg
        rc, out, _ = run("diff", arg, "--wrt", "c", "--format", "json", cwd=tmp_path)
        assert rc == 0 and json.loads(out)["derivative"] == "2 c", arg
    rc, out, _ = run("shape", "d/f", cwd=tmp_path)           # division: d / f
    assert rc == 0 and "c:" not in out
    rc, _, err = run("shape", "missing.matd", cwd=tmp_path)
    assert rc == 2 and "cannot read 'missing.matd'" in err
    rc, out, _ = run("eval", "x", "--at", "x=[1,2]", cwd=tmp_path)
    assert rc == 0 and out.split() == ["1", "2"]


def test_a_file_name_that_does_not_parse_hints_at_dot_slash(tmp_path):
    tree(tmp_path, {"model.py": "c: scalar\nc^2\n"})
    rc, _, err = run("shape", "model.py", cwd=tmp_path)
    assert rc == 2
    assert "'model.py' is also a file here" in err and "write ./model.py" in err
    rc, out, _ = run("shape", "./model.py", cwd=tmp_path)
    assert rc == 0 and out.startswith("c: scalar")
