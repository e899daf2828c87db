"""The shell side of matd: ``matd completion bash|zsh|fish`` and ``matd man``.

Completion is click's own protocol: the script that ``matd completion bash``
prints (the same as ``_MATD_COMPLETE=bash_source matd``) calls ``matd`` back
with ``_MATD_COMPLETE=bash_complete``; command names, options, choices and, for
EXPR|FILE arguments and path options, file names complete.  Only click is
imported here at module level (pathlib, shutil and subprocess when the man page is
looked for), so ``matd --help`` and ``matd check`` stay fast.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
PROG, COMPLETE_VAR = "matd", "_MATD_COMPLETE"


class ExprOrFile(click.ParamType):
    """Text taken as it is (matd text, a file name or ``-``) that completes as a file name.

    >>> [i.type for i in EXPR_OR_FILE.shell_complete(None, None, "mod")]
    ['file']
    """

    name = "text"

    def convert(self, value, param, ctx):
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem
        return [CompletionItem(incomplete, type="file")]


EXPR_OR_FILE = ExprOrFile()


def completion_script(shell: str) -> str:
    """The completion script for ``shell``, from click's shell_completion machinery.

    >>> "_MATD_COMPLETE=bash_complete" in completion_script("bash")
    True
    """
    from click.shell_completion import get_completion_class
    from matd.cli.main import cli
    cls = get_completion_class(shell)
    if cls is None:
        raise click.BadParameter(f"no completion for {shell!r}; choose one of "
                                 f"{', '.join(SHELLS)}")
    return cls(cli, {}, PROG, COMPLETE_VAR).source()


INSTALL = """\
Install it where your shell looks, or load it in your shell's startup file:

\b
  bash  source <(matd completion bash)          # in ~/.bashrc
        matd completion bash > ~/.local/share/bash-completion/completions/matd
  zsh   matd completion zsh > ~/.zfunc/_matd    # with fpath+=(~/.zfunc) before compinit
  fish  matd completion fish > ~/.config/fish/completions/matd.fish

The script calls matd back (_MATD_COMPLETE=bash_complete and so on) to complete
commands, options, choices and file names."""


@click.command(help="Print the completion script of a shell (bash, zsh or fish) for "
               "matd's commands, options, choices and file arguments.\n\n" + INSTALL)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell):
    click.echo(completion_script(shell), nl=False)
    return 0


# --- the man page -------------------------------------------------------------------
MAN_PATH = ("share", "man", "man1", "matd.1")


def man_page_candidates(prefix: str | None = None, source: Path | None = None) -> list[Path]:
    """Where matd.1 may be, best first: beside the running code (the source tree of an
    editable install, ``pip install -e``), in the installed distribution's files (the
    wheel's data files, under ``share/man/man1``), and under ``sys.prefix``."""
    from pathlib import Path
    out = []
    here = Path(__file__).resolve().parent if source is None else source
    out.append(here.parent / "man" / "matd.1")
    if prefix is None:
        try:
            from importlib.metadata import PackageNotFoundError, distribution
            dist = distribution("matd")
            for f in dist.files or ():
                if f.as_posix().endswith("/".join(MAN_PATH)):
                    out.append(Path(dist.locate_file(f)).resolve())
        except (ImportError, PackageNotFoundError):
            pass
        prefixes = dict.fromkeys([sys.prefix, sys.base_prefix])
    else:
        prefixes = [prefix]
    out += [Path(p, *MAN_PATH) for p in prefixes]
    return out


def find_man_page(prefix: str | None = None, source: Path | None = None) -> Path:
    """The installed man page, or the source tree's (see ``man_page_candidates``).

    >>> find_man_page().name
    'matd.1'
    """
    for path in man_page_candidates(prefix, source):
        if path.is_file():
            return path
    from matd.core.errors import MatdError
    raise MatdError("the man page matd.1 is not installed",
                    hint="reinstall matd (pip install .), or read `matd --help`")


def _pager_env() -> dict:
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")     # quit if one screen, keep colors
    return env


@click.command(help="Show the manual page (man/matd.1, installed under share/man/man1) with "
               "man -l and a pager on a terminal; print its roff source when the output is "
               "not a terminal (matd man > matd.1; matd man | man -l -).")
@click.option("--path", "show_path", is_flag=True, help="Print where the man page is, and exit.")
def man(show_path):
    import shutil
    import subprocess
    page = find_man_page()
    if show_path:
        click.echo(str(page))
        return 0
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        click.echo(page.read_text(encoding="utf-8"), nl=False)
        return 0
    if shutil.which("man"):
        return subprocess.call(["man", "-l", str(page)], env=_pager_env())
    groff = shutil.which("groff")
    if groff:
        text = subprocess.run([groff, "-man", "-Tutf8", "-P-c", str(page)],
                              capture_output=True, text=True).stdout
        if text:
            click.echo_via_pager(text)
            return 0
    click.echo_via_pager(page.read_text(encoding="utf-8"))
    return 0
