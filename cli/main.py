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
}

EPILOG = """\
Conventions: vectors are columns; vec stacks columns; the gradient of a scalar
f w.r.t. X has X's shape. Exit status: 0 ok, 1 a check failed, 2 bad usage,
syntax, shape or input, 3 an internal error. See `man matd`.
"""


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matd", prog_name="matd")
def cli():
    """matd — a matrix derivative calculator.

    Write matrix expressions with shapes (`A: m x n; x: n; norm(A x)^2`) and get
    them parsed, typed and shape-checked; EXPR may be text, a file or - (stdin).
    """


def main(argv=None) -> None:
    """Entry point: run the CLI, turning every exception into an exit status."""
    from matd.core.errors import MatdError
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
