"""``matd check`` (shape-check files, for hooks) and ``matd shape`` (show inference)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

import click

from matd.cli.render import one_line, render_error
from matd.cli.sources import InputError, expression_source, programs_in, read_file
from matd.core.errors import MatdError


@contextmanager
def located(source):
    """Attach the source to a user error, for rendering at the boundary."""
    try:
        yield
    except MatdError as e:
        if getattr(e, "source", None) is None:
            e.source = source
        raise


def load(source, collect_errors=False):
    from matd.grammar.parse import parse_program
    with located(source):
        return parse_program(source.text, source, collect_errors=collect_errors)


@dataclass(frozen=True)
class CheckOptions:
    files: tuple[str, ...]
    fmt: str
    verbose: bool
    context: bool


def _error_record(err, source):
    rec = {"file": source.name, "message": err.message, "hint": err.hint}
    if err.span is not None:
        _, line, col = source.locate(err.span.start)
        _, eline, ecol = source.locate(max(err.span.end - 1, err.span.start))
        rec.update(line=line, col=col, end_line=eline, end_col=ecol + 1)
    return rec


def run_check(opts: CheckOptions):
    """Check every program of every file; returns (report, exit status)."""
    report = {"files": [], "errors": 0, "unreadable": 0}
    lines: list[str] = []
    for path in opts.files:
        name = "<stdin>" if path == "-" else path
        entry = {"file": name, "programs": 0, "statements": 0, "errors": []}
        report["files"].append(entry)
        try:
            text = read_file(path)
        except InputError as e:
            report["unreadable"] += 1
            entry["unreadable"] = e.message
            lines.append(f"{name}: error: {e.message}")
            continue
        for source in programs_in(name, text):
            entry["programs"] += 1
            try:
                prog = load(source, collect_errors=True)
                errors = prog.errors
            except MatdError as e:  # a syntax error stops that program
                prog, errors = None, [e]
            for err in errors:
                entry["errors"].append(_error_record(err, source))
                lines.append(render_error(err, source) if opts.context else one_line(err, source))
            if prog is None:
                continue
            entry["statements"] += len(prog.statements)
            if opts.verbose:
                from matd.core.printers import shape_decl
                from matd.core.shapes import shape_short
                for st in prog.statements:
                    if st.node is None:
                        continue
                    what = f"{st.name} = " if st.name else ""
                    text_ = source.text[st.span.start:st.span.end].strip()
                    lines.append(f"{source.place(st.span.start)}: {shape_short(st.node.shape)}"
                                 f"\t{what if not text_.startswith(what) else ''}{text_}")
                entry["shapes"] = {n: shape_decl(v.shape) for n, v in prog.variables.items()}
        report["errors"] += len(entry["errors"])
    if report["unreadable"]:
        status = 2
    elif report["errors"]:
        status = 1
    else:
        status = 0
    return report, lines, status


@click.command(help="Shape-check files of formulas (.matd files, and '# matd:' comment "
               "blocks in .py files); '-' reads standard input. Prints one line per error; "
               "exit 0 clean, 1 errors found, 2 unreadable input.")
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("-v", "--verbose", is_flag=True, help="Also print each statement's inferred shape.")
@click.option("--context", is_flag=True,
              help="Show the source line and carets under each error.")
def check(files, fmt, verbose, context):
    report, lines, status = run_check(CheckOptions(tuple(files), fmt, verbose, context))
    if fmt == "json":
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        for ln in lines:
            click.echo(ln)
        if verbose or status:
            n = report["errors"]
            click.echo(f"{n} error{'s' * (n != 1)} in {len(report['files'])} file"
                       f"{'s' * (len(report['files']) != 1)}", err=True)
    return status


@click.command(help="Print the inferred shape of every name and of the result, as matd "
               "declarations. EXPR is matd text, a file, or - for standard input.")
@click.argument("expr")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def shape(expr, fmt):
    from matd.core.printers import shape_decl
    source = expression_source(expr)
    prog = load(source)
    result = prog.result
    if fmt == "json":
        out = {"variables": {n: [str(d) for d in v.shape] for n, v in prog.variables.items()},
               "definitions": {n: [str(d) for d in v.shape] for n, v in prog.definitions.items()},
               "attributes": {n: list(prog.attrs(n)) for n in prog.variables if prog.attrs(n)},
               "result": [str(d) for d in result.shape] if result is not None else None}
        click.echo(json.dumps(out, ensure_ascii=False))
        return 0
    for name, var in prog.variables.items():
        attrs = "".join(" " + a for a in prog.attrs(name))
        click.echo(f"{name}: {shape_decl(var.shape)}{attrs}")
    for name, node in prog.definitions.items():
        click.echo(f"# {name}: {shape_decl(node.shape)}")
    if result is not None:
        click.echo(f"# result: {shape_decl(result.shape)}")
    return 0
