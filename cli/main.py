"""The ``matd`` command: a lazy click group and the one boundary where
exceptions become exit statuses.

Subcommands are imported only when run, so ``matd check`` never loads numpy,
sympy or rich.
"""
from __future__ import annotations

import enum
import importlib
import os
import sys

import click


class ExitStatus(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1      # `check` found errors; `grad --check` disagreed
    USAGE = 2             # bad usage, syntax, shape or input
    INTERNAL = 3          # a bug in matd


# name -> (module, attribute, one-line help).  The help is here so that
# `matd --help` lists the commands without importing them.
COMMANDS = {
    "diff": ("matd.cli.diff", "diff", "Differentials, gradients, Jacobians and Hessians."),
    "eval": ("matd.cli.numeric", "eval_", "Evaluate an expression on given or random values."),
    "grad": ("matd.cli.numeric", "grad", "Numeric gradients, Jacobians, Hessians; --check them."),
    "check": ("matd.cli.check", "check", "Shape-check files of formulas (for pre-commit hooks)."),
    "shape": ("matd.cli.check", "shape", "Print the inferred shape of every name and the result."),
    "functions": ("matd.cli.functions", "functions",
                  "List the functions: signature, domain, meaning, derivative rule."),
    "completion": ("matd.cli.completion", "completion",
                   "Print a shell completion script (bash, zsh, fish)."),
    "man": ("matd.cli.completion", "man", "Show the manual page."),
}

# name -> examples, the end of each command's --help (and of the man page's EXAMPLES:
# tests/test_docs.py holds them to it).
EXAMPLES = {
    "diff": ["matd diff 'A: m x n; X: m x p; B: p x n; tr(A^T X B)' --wrt X",
             "matd diff 'X: n x n; logdet(X)' --wrt X --format json",
             "matd diff 'X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w' --wrt w --order 2",
             "matd diff 'A: m x n; X: n x p; B: p x q; A X B' --wrt X --jacobian vec",
             "matd diff model.matd --wrt W --format latex"],
    "eval": ["matd eval 'A: m x n; x: n; A x' --at A=a.npy --at x=[1,2] --out y.npy",
             "matd eval 'S: n x n spd; logdet(S)' --random --seed 1 --dims n=4"],
    "grad": ["matd grad 'A: 3 x 3; x: 3; x^T A x' --wrt x --random --seed 1 --check",
             "matd grad 'X: m x n; norm(X)^2' --wrt X --at X=x.npy --order 2 --format json",
             "matd grad 'X: m x d; w: d; y: m; norm(X w - y)^2' --wrt w --at X=X.npy "
             "--at w=w.npy --at y=y.npy --backend dask --out g.npy"],
    "check": ["matd check formulas.matd src/*.py",
              "matd check --format json - < model.matd"],
    "shape": ["matd shape 'tr(A^T X B)'",
              "matd shape \"x'*A*x\""],
    "functions": ["matd functions",
                  "matd functions logdet inv",
                  "matd functions --format json"],
    "completion": ["matd completion bash > ~/.local/share/bash-completion/completions/matd",
                   "matd completion zsh > ~/.zfunc/_matd",
                   "matd completion fish > ~/.config/fish/completions/matd.fish"],
    "man": ["matd man", "matd man --path", "matd man > matd.1"],
}

COLOR_CHOICES = ("auto", "always", "never")

# Arguments and options whose values may be file names complete as file names.
FILE_PARAMS = ("expr", "files", "out", "against")


def examples(name: str) -> str:
    """The epilog of ``matd NAME --help``: its examples, kept as written (``\\b``)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  $ {e}" for e in EXAMPLES[name])


EPILOG = """\
Conventions: vectors are columns; vec stacks columns; the gradient of a scalar
f w.r.t. X has X's shape. Exit status: 0 ok, 1 a check failed, 2 bad usage,
syntax, shape or input, 3 an internal error. `matd functions` lists the
functions, `matd COMMAND --help` the options, `matd man` shows the manual.

Examples:

\b
  $ matd diff 'X: n x n; logdet(X)' --wrt X
  $ matd check formulas.matd src/*.py
  $ matd functions logdet
  $ source <(matd completion bash)
"""


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        cmd = getattr(importlib.import_module(module), attr)
        if cmd.epilog is None:
            cmd.epilog = examples(name)
        for param in cmd.params:   # EXPR|FILE, FILE…, --out PATH: complete file names
            if param.name in FILE_PARAMS and param.type is click.STRING:
                from matd.cli.completion import EXPR_OR_FILE
                param.type = EXPR_OR_FILE
        return cmd

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            import difflib
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def shell_complete(self, ctx, incomplete):
        """Command names with their one-line help, without importing the commands."""
        from click.shell_completion import CompletionItem
        items = [CompletionItem(name, help=help_) for name, (_, _, help_) in COMMANDS.items()
                 if name.startswith(incomplete)]
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matd", prog_name="matd")
@click.option("--color", type=click.Choice(COLOR_CHOICES), default="auto", show_default=True,
              help="Color text output: auto (on a terminal, unless NO_COLOR is set or "
              "FORCE_COLOR is), always, never.")
@click.pass_context
def cli(ctx, color):
    """matd — a matrix derivative calculator.

    Write matrix expressions with shapes (`A: m x n; x: n; norm(A x)^2`) and get
    them parsed, typed and shape-checked; EXPR may be text, a file or - (stdin).
    """
    from matd.cli.render import set_color
    set_color(color)
    ctx.color = {"always": True, "never": False}.get(color)


# True when main() runs as the matd program itself (no argv: the console script, python -m
# matd), not as a call from Python: then the process ends with the command.
PROGRAM = False


def main(argv=None) -> None:
    """Entry point: run the CLI, turning every exception into an exit status.

    As the matd program (no argv), the cyclic garbage collector's pass at exit, which tears
    down every module and whatever a command left (10-30 ms; more after a long ``matd
    check``), is skipped with ``gc.freeze``: the process is ending, and standard output and
    error are flushed all the same."""
    from matd.core.errors import MatdError
    global PROGRAM
    if argv is None:
        import atexit
        import gc
        PROGRAM = True
        atexit.register(gc.freeze)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # deeply nested formulas
    try:
        rv = cli.main(args=argv, prog_name="matd", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitStatus.USAGE)
    except click.exceptions.Abort:
        sys.stderr.write("matd: aborted\n")
        sys.exit(ExitStatus.USAGE)
    except MatdError as e:
        from matd.cli.render import colorize, render_error
        colorize(render_error(e, getattr(e, "source", None)))
        sys.exit(ExitStatus.USAGE)
    except BrokenPipeError:
        sys.stderr = None  # the reader went away (`matd … | head`): not an error
        sys.exit(ExitStatus.OK)
    except KeyboardInterrupt:
        sys.exit(130)
    except MemoryError:
        sys.stderr.write("matd: error: out of memory\n"
                         "hint: give smaller inputs or sizes (--dims)\n")
        sys.exit(ExitStatus.USAGE)
    except RecursionError:
        sys.stderr.write("matd: error: the expression is nested too deeply for matd\n"
                         "hint: name parts of it with definitions (r = …)\n")
        sys.exit(ExitStatus.USAGE)
    except Exception as e:  # noqa: BLE001 - the one place bugs become exit 3
        if os.environ.get("MATD_DEBUG") == "1":
            raise
        sys.stderr.write(f"matd: internal error: {type(e).__name__}: {e}\n"
                         "This is a bug in matd; set MATD_DEBUG=1 for a traceback.\n")
        sys.exit(ExitStatus.INTERNAL)
    sys.exit(int(rv or 0))


if __name__ == "__main__":  # pragma: no cover
    main()
