"""--help, the man page and the README describe the same commands, options and functions:
walk click's objects and the primitive table, so a new option or primitive without
documentation fails here."""
from __future__ import annotations

from pathlib import Path

import click
import pytest

from matd.cli.main import COMMANDS, cli
from matd.core.primitives import FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
MAN = (ROOT / "man" / "matd.1").read_text(encoding="utf-8").replace("\\-", "-")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands():
    ctx = click.Context(cli)
    return [(name, cli.get_command(ctx, name)) for name in COMMANDS]


@pytest.mark.parametrize("name,cmd", commands(), ids=list(COMMANDS))
def test_every_option_is_documented(name, cmd):
    assert f".B matd {name}" in MAN and f".SS {name}" in MAN
    assert f"matd {name}" in README
    for param in cmd.params:
        if not isinstance(param, click.Option):
            continue
        for spelling in param.opts + param.secondary_opts:
            assert spelling in MAN, f"{name} {spelling} missing from man/matd.1"
            if spelling.startswith("--"):
                assert spelling in README, f"{name} {spelling} missing from README.md"
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                assert choice in MAN, f"{name} {param.opts[0]} {choice} missing from the man page"


def test_every_function_is_documented():
    for spelling in FUNCTIONS:
        assert spelling in MAN, f"function {spelling} missing from man/matd.1"
        assert spelling in README, f"function {spelling} missing from README.md"


def test_help_lists_every_command():
    from click.testing import CliRunner
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert name in out
