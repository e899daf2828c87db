"""What a user finds without reading the source: `matd functions`, examples at the end of
every --help, did-you-mean for commands, shell completion, `matd man`, --color and the
NO_COLOR/FORCE_COLOR conventions, and `matd diff` wrapped to a narrow terminal."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matd.cli.main import COMMANDS, EXAMPLES
from matd.core.primitives import FUNCTIONS, PRIMS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MATD = str(BIN / "matd")
BASE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("MATD_DEBUG", "NO_COLOR", "FORCE_COLOR", "COLUMNS")}


def run(*args, env=None, stdin=None, cwd=None):
    p = subprocess.run([MATD, *args], input=stdin, capture_output=True, text=True,
                       env={**BASE_ENV, **(env or {})}, cwd=cwd, timeout=120)
    assert "Traceback" not in p.stdout + p.stderr
    return p.returncode, p.stdout, p.stderr


# --- matd functions -----------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog():
    rc, out, err = run("functions", "--format", "json")
    assert rc == 0, err
    return {e["op"]: e for e in json.loads(out)}


def test_functions_json_covers_the_table(catalog):
    assert list(catalog) == list(PRIMS)
    for op, e in catalog.items():
        assert e["meaning"] or e["doc"] == "", op
        assert e["signature"] and e["kind"] in ("function", "constant", "operator", "implicit")
        if e["kind"] == "function":   # axis forms are called by their base's name
            name = e["spellings"][0] if e["spellings"] else e["signature"].split("(")[0]
            assert name in FUNCTIONS and e["signature"].startswith(name + "("), e
    spelled = {s: e["op"] for e in catalog.values() for s in e["spellings"]}
    assert spelled == {s: p.op for s, p in FUNCTIONS.items()}


def test_functions_show_domain_meaning_and_rule(catalog):
    inv, logdet, lmax = catalog["inv"], catalog["logdet"], catalog["lambda_max"]
    assert inv["signature"] == "inv(X)" and "X^-1" in inv["also"]
    assert inv["rule"] == "d X⁻¹ = -X⁻¹ dX X⁻¹"
    assert "X square, invertible" in inv["domain"]
    assert logdet["rule"] == "d logdet(X) = tr(X⁻¹ dX)" and logdet["shape"] == "X: n×n → scalar"
    assert any("symmetric" in d for d in lmax["domain"])
    assert any("> 0" in d for d in catalog["log"]["domain"])
    assert catalog["tr"]["rule"] == "linear: d tr(X) = tr(dX)"
    assert catalog["exp"]["rule"] == "d exp(X) = exp(X) ∘ dX"
    assert "norm2" in catalog["norm"]["spellings"]
    assert catalog["eigvec_max"]["rule"].startswith("no closed-form")


def test_functions_text_and_selection():
    rc, out, _ = run("functions", "logdet", "norm2", env={"COLUMNS": "60"})
    assert rc == 0
    assert "logdet(X)" in out and "norm(X)" in out and "inv(X)" not in out
    assert all(len(ln) <= 60 for ln in out.splitlines())
    assert re.search(r"rule\s+d logdet\(X\) = tr\(X⁻¹ dX\)", out)
    rc, _, err = run("functions", "logdt")
    assert rc == 2 and "unknown function 'logdt'" in err and "did you mean 'logdet'?" in err


# --- help, examples, did-you-mean -------------------------------------------------------
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_help_ends_with_examples(name):
    rc, out, _ = run(name, "--help", env={"COLUMNS": "200"})
    assert rc == 0
    lines = [ln.strip() for ln in out.rstrip().splitlines() if ln.strip()]
    n = len(EXAMPLES[name])
    assert lines[-n - 1] == "Examples:"
    assert [ln[2:] for ln in lines[-n:]] == EXAMPLES[name]


@pytest.mark.parametrize("typo,meant", [("dif", "diff"), ("chek", "check"),
                                        ("functons", "functions"), ("completon", "completion")])
def test_did_you_mean_a_command(typo, meant):
    rc, out, err = run(typo)
    assert rc == 2 and out == ""
    assert f"No such command '{typo}'. Did you mean '{meant}'?" in err


def test_unknown_command_without_a_near_one():
    rc, _, err = run("zzzzzz")
    assert rc == 2 and "No such command 'zzzzzz'." in err and "Did you mean" not in err


# --- completion ---------------------------------------------------------------------------
def complete(words: str, cword: int, cwd=None, shell="bash"):
    env = {"COMP_WORDS": words, "COMP_CWORD": str(cword), "_MATD_COMPLETE": f"{shell}_complete"}
    rc, out, err = run(env=env, cwd=cwd)
    assert rc == 0, err
    return [tuple(ln.split(",", 1)) for ln in out.splitlines()]


def test_completion_scripts():
    rc, bash, _ = run("completion", "bash")
    assert rc == 0 and "_MATD_COMPLETE=bash_complete" in bash and "complete " in bash
    rc, same, _ = run(env={"_MATD_COMPLETE": "bash_source"})
    assert same.strip() == bash.strip()
    rc, zsh, _ = run("completion", "zsh")
    assert rc == 0 and "#compdef matd" in zsh and "zsh_complete" in zsh
    rc, fish, _ = run("completion", "fish")
    assert rc == 0 and "complete " in fish and "fish_complete" in fish
    rc, _, err = run("completion", "tcsh")
    assert rc == 2 and "tcsh" in err


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_loads_the_script():
    p = subprocess.run(["bash", "-c", "source <(matd completion bash) && complete -p matd"],
                       capture_output=True, text=True, env={**BASE_ENV,
                                                            "PATH": f"{BIN}:/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "_matd_completion" in p.stdout and p.stdout.rstrip().endswith(" matd")


def test_completion_protocol(tmp_path):
    assert ("plain", "diff") in complete("matd di", 1)
    assert {c for _, c in complete("matd ", 1)} >= set(COMMANDS)
    assert ("plain", "--color") in complete("matd --co", 1)
    assert {c for _, c in complete("matd --color ", 2)} == {"auto", "always", "never"}
    assert {c for _, c in complete("matd diff x --format ", 4)} == \
        {"text", "matd", "latex", "json", "numpy"}
    assert {c for _, c in complete("matd completion ", 2)} == {"bash", "zsh", "fish"}
    for words, cword in (("matd diff mod", 2), ("matd check mod", 2), ("matd shape mod", 2),
                         ("matd eval mod", 2), ("matd grad mod", 2),
                         ("matd grad x --wrt x --out mod", 6)):
        assert complete(words, cword, cwd=tmp_path) == [("file", "mod")], words


# --- matd man -----------------------------------------------------------------------------
def test_man_prints_the_page_when_piped():
    rc, out, _ = run("man")
    assert rc == 0 and out == (ROOT / "man" / "matd.1").read_text(encoding="utf-8")
    rc, path, _ = run("man", "--path")
    assert rc == 0 and Path(path.strip()).read_text(encoding="utf-8") == out


def test_man_page_is_found_installed_or_in_the_source_tree(tmp_path):
    from matd.cli.completion import find_man_page
    from matd.core.errors import MatdError
    prefix = tmp_path / "venv"
    page = prefix / "share" / "man" / "man1" / "matd.1"
    page.parent.mkdir(parents=True)
    page.write_text(".TH MATD 1\n")
    no_tree = tmp_path / "site-packages" / "matd" / "cli"      # a wheel: no man/ beside it
    no_tree.mkdir(parents=True)
    assert find_man_page(prefix=str(prefix), source=no_tree) == page
    tree = tmp_path / "src" / "cli"                             # pip install -e: the tree's
    (tree.parent / "man").mkdir(parents=True)
    (tree.parent / "man" / "matd.1").write_text(".TH MATD 1\n")
    tree.mkdir()
    assert find_man_page(prefix=str(prefix), source=tree) == tree.parent / "man" / "matd.1"
    with pytest.raises(MatdError):
        find_man_page(prefix=str(tmp_path / "nowhere"), source=no_tree)
    assert find_man_page().read_text(encoding="utf-8").startswith(".TH MATD 1")


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_installed_page_renders_with_man():
    from matd.cli.completion import find_man_page
    p = subprocess.run(["man", "-l", str(find_man_page())], capture_output=True, text=True,
                       env={**BASE_ENV, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
    assert p.returncode == 0 and "matd functions" in p.stdout and "(Bᵀ ⊗ A)" in p.stdout


# --- color ----------------------------------------------------------------------------------
BAD = ("shape", "A: m x n; x: p; A x")


@pytest.mark.parametrize("flags,env,colored", [
    ([], {}, False),
    ([], {"NO_COLOR": "1"}, False),
    ([], {"FORCE_COLOR": "1"}, True),
    ([], {"FORCE_COLOR": "0"}, False),
    ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ([], {"NO_COLOR": ""}, False),
    (["--color", "always"], {"NO_COLOR": "1"}, True),
    (["--color", "never"], {"FORCE_COLOR": "1"}, False),
    (["--color", "auto"], {"FORCE_COLOR": "1"}, True),
])
def test_color_choice_and_environment(flags, env, colored):
    rc, _, err = run(*flags, *BAD, env=env)
    assert rc == 2 and "error: matrix product" in re.sub(r"\x1b\[[0-9;]*m", "", err)
    assert ("\x1b[" in err) == colored, err


def test_use_color_rules(monkeypatch):
    import io

    from matd.cli import render
    tty = type("TTY", (io.StringIO,), {"isatty": lambda self: True})()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    try:
        render.set_color("auto")
        assert render.use_color(tty) and not render.use_color(io.StringIO())
        monkeypatch.setenv("NO_COLOR", "1")
        assert not render.use_color(tty)
        render.set_color("always")
        assert render.use_color(io.StringIO())
        render.set_color("never")
        assert not render.use_color(tty)
        with pytest.raises(ValueError):
            render.set_color("sometimes")
    finally:
        render.set_color("auto")


def test_color_is_a_documented_group_option():
    rc, out, _ = run("--help")
    assert rc == 0 and "--color [auto|always|never]" in out
    rc, _, err = run("--color", "rainbow", "check", "-", stdin="")
    assert rc == 2 and "rainbow" in err


# --- narrow terminals -------------------------------------------------------------------
LONG = ("X: m x d; W1: d x h; W2: h x k; Y: m x k; "
        "0.5 norm(tanh(X W1) W2 - Y)^2 + 0.1 norm(W1)^2 + 0.1 norm(W2)^2")


def _rows(text: str):
    """Lines of piped `matd diff` text back as (text, label length, shape length)."""
    rows = []
    for ln in text.splitlines():
        m = re.match(r"(\S+)\s* = ", ln)
        s = re.search(r"\s{3,}(\S+)$", ln) if m else None
        rows.append((ln, len(m.group(1)) if m else 0, len(s.group(1)) if s else 0))
    return rows


@pytest.mark.parametrize("width", [40, 30, 60])
def test_wrap_lines_keeps_words_and_shapes_whole(width):
    from matd.cli.render import wrap_lines
    rc, out, err = run("diff", LONG, "--wrt", "W1", "--wrt", "X", env={"NO_COLOR": "1"})
    assert rc == 0, err
    rows = _rows(out)
    assert any(len(t) > width for t, _, _ in rows)       # the case is a real one
    wrapped = wrap_lines(rows, width)
    words = [w for t, _, _ in rows for w in t.split()]
    assert [w for t, _, _ in wrapped for w in t.split()] == words
    for t, _, _ in wrapped:
        assert len(t) <= width or " " not in t.strip(), t
    shapes = [t[len(t) - ns:] for t, _, ns in rows if ns]
    assert [t[len(t) - ns:] for t, _, ns in wrapped if ns] == shapes
    for t, nl, _ in wrapped:
        if nl:
            assert t[:nl] in {r[:n] for r, n, _ in rows if n}
    assert wrap_lines(rows, None) == rows and wrap_lines(rows, 10_000) == rows


@pytest.mark.skipif("wrap_lines" not in (ROOT / "cli" / "diff.py").read_text(encoding="utf-8"),
                    reason="cli/diff.py does not call matd.cli.render.wrap_lines yet")
def test_diff_wraps_to_columns():
    rc, out, _ = run("diff", LONG, "--wrt", "W1", env={"NO_COLOR": "1", "COLUMNS": "40"})
    assert rc == 0
    assert all(len(ln) <= 40 or " " not in ln.strip() for ln in out.splitlines()), out
    rc, wide, _ = run("diff", LONG, "--wrt", "W1", env={"NO_COLOR": "1"})
    assert out.split() == wide.split()


# --- imports stay lazy (STYLE 14) ---------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["check", "-"], ["completion", "bash"],
                                  ["dif"]])
def test_light_commands_import_no_heavy_modules(args):
    code = ("import sys\nfrom matd.cli.main import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('numpy', 'sympy', 'rich') if m in sys.modules)\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy))\n")
    p = subprocess.run([sys.executable, "-c", code], input="A: m x n; tr(A)\n",
                       capture_output=True, text=True, env=BASE_ENV, cwd="/")
    assert p.stderr.rstrip().endswith("HEAVY="), p.stderr
