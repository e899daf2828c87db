"""--help, the man page and the README describe the same commands, options and functions:
walk click's objects and the primitive table, so a new command, option, choice, example or
primitive without documentation fails here."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from matd.cli.main import COMMANDS, EXAMPLES, cli
from matd.core.primitives import FUNCTIONS, PRIMS

ROOT = Path(__file__).resolve().parents[1]
MAN_SOURCE = (ROOT / "man" / "matd.1").read_text(encoding="utf-8")
MAN = MAN_SOURCE.replace("\\-", "-").replace("\\e", "\\")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands():
    ctx = click.Context(cli)
    return [(name, cli.get_command(ctx, name)) for name in COMMANDS]


def man_section(name: str) -> str:
    """The text of ``.SS name`` up to the next section."""
    m = re.search(rf"^\.SS {re.escape(name)}\n(.*?)(?=^\.S[SH] )", MAN, re.S | re.M)
    assert m, f".SS {name} missing from man/matd.1"
    return m.group(1)


@pytest.mark.parametrize("name,cmd", commands(), ids=list(COMMANDS))
def test_every_option_is_documented(name, cmd):
    assert f".B matd {name}" in MAN and f".SS {name}" in MAN
    assert f"matd {name}" in README
    for param in cmd.params:
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                assert choice in MAN, f"{name} {param.name} {choice} missing from the man page"
        if not isinstance(param, click.Option):
            continue
        for spelling in param.opts + param.secondary_opts:
            assert spelling in MAN, f"{name} {spelling} missing from man/matd.1"
            if spelling.startswith("--"):
                assert spelling in README, f"{name} {spelling} missing from README.md"


def test_group_options_are_documented():
    """The options before the command (--color and its choices) in both documents."""
    for param in cli.params:
        if not isinstance(param, click.Option) or param.name in ("help",):
            continue
        for spelling in param.opts:
            assert spelling in MAN, f"matd {spelling} missing from man/matd.1"
            assert spelling in README, f"matd {spelling} missing from README.md"
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                assert re.search(rf"\b{choice}\b", man_section_text("OPTIONS")), choice
    for env in ("NO_COLOR", "FORCE_COLOR"):
        assert env in man_section_text("ENVIRONMENT") and env in README


def man_section_text(title: str) -> str:
    m = re.search(rf"^\.SH {title}\n(.*?)(?=^\.SH )", MAN, re.S | re.M)
    assert m, f".SH {title} missing"
    return m.group(1)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_ends_with_examples_that_the_man_page_shows(name):
    out = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
    tail = out[out.rindex("Examples:"):]
    assert [ln.strip()[2:] for ln in tail.splitlines()[1:] if ln.strip()] == EXAMPLES[name]
    for example in EXAMPLES[name]:
        assert f"$ {example}" in man_section_text("EXAMPLES"), example


def test_every_function_is_documented():
    for spelling in FUNCTIONS:
        assert re.search(rf"(?<![\w]){spelling}(?![\w])", MAN), \
            f"function {spelling} missing from man/matd.1"
        assert spelling in README, f"function {spelling} missing from README.md"


def test_readme_spellings_are_in_the_man_page():
    """Every function the README's language section names (in `code`) is in the man page."""
    lang = README[README.index("## The language"):README.index("## Conventions")]
    para = lang[lang.index("Functions:"):]
    para = para[:para.index("\n\n")]
    names = {w for code in re.findall(r"`([^`]+)`", para)
             for w in re.findall(r"[A-Za-z_]\w*", code)} - {"x", "y", "S", "X"}
    atoms = re.findall(r"`(\w+)\(", lang)
    for name in sorted(names | set(atoms)):
        assert re.search(rf"(?<![\w]){name}(?![\w])", MAN), f"{name} missing from man/matd.1"


def test_functions_lists_every_primitive():
    result = CliRunner().invoke(cli, ["functions", "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["op"] for e in entries] == list(PRIMS)
    listed = {s for e in entries for s in e["spellings"]}
    assert listed == set(FUNCTIONS)
    text = CliRunner().invoke(cli, ["functions"], terminal_width=100).output
    for spelling in FUNCTIONS:
        assert re.search(rf"(?<![\w]){spelling}(?![\w])", text), spelling


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert name in out


def test_kronecker_product_in_the_vec_identity():
    conv = man_section_text("CONVENTIONS")
    assert r"(B\[u1D40] \[u2297] A) vec(X)" in conv.replace("-", r"\-").replace(r"\-", "-")
    assert r"\(mu A) vec" not in MAN_SOURCE


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_man_page_is_clean_roff():
    p = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", str(ROOT / "man" / "matd.1")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
