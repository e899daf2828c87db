"""``matd check`` (shape-check files, for hooks) and ``matd shape`` (show inference)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import click

from matd.codes import CODES, classify
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
    fmt: str                        # text | json | json-lines | github
    verbose: bool
    context: bool
    quiet: bool = False
    exit_zero: bool = False
    stdin_filename: str | None = None


FORMATS = ("text", "json", "json-lines", "github")

# Folders a directory search never enters (by name; also any folder holding pyvenv.cfg,
# and every hidden folder): virtual environments, caches, build output, other VCS data.
SKIP_DIRS = frozenset({"venv", "__pycache__", "node_modules", "site-packages",
                       "__pypackages__", "dist", "_build", "buck-out"})
EXTENSIONS = (".matd", ".py")


def _skipped(parent: str, name: str) -> bool:
    return (name.startswith(".") or name in SKIP_DIRS
            or os.path.isfile(os.path.join(parent, name, "pyvenv.cfg")))


def expand(paths: tuple[str, ...]):
    """The files to check, in order, without repeats: a folder is searched recursively for
    .matd and .py files (hidden folders, virtual environments and caches skipped, symbolic
    links to folders not followed); any other argument is a file, whatever its name.
    Yields (path, None), or (folder, InputError) for a folder that cannot be listed."""
    seen: set[str] = set()

    def once(p):
        key = p if p == "-" else os.path.normpath(p)
        if key in seen:
            return False
        seen.add(key)
        return True

    for arg in paths:
        if arg == "-" or not os.path.isdir(arg):
            if once(arg):
                yield arg, None
            continue
        problems: list[OSError] = []
        for root, dirs, files in os.walk(arg, onerror=problems.append):
            dirs[:] = sorted(d for d in dirs if not _skipped(root, d))
            for f in sorted(files):
                if f.endswith(EXTENSIONS):
                    p = os.path.normpath(os.path.join(root, f))
                    if once(p):
                        yield p, None
            yield from _unlistable(problems, arg)
        yield from _unlistable(problems, arg)


def _unlistable(problems: list[OSError], arg: str):
    while problems:
        e = problems.pop(0)
        where = e.filename or arg
        yield where, InputError(f"cannot read '{where}': {e.strerror or e}")


def _span_fields(err, source):
    if err.span is None or source is None:
        return {}
    _, line, col = source.locate(err.span.start)
    _, eline, ecol = source.locate(max(err.span.end - 1, err.span.start))
    return {"line": line, "col": col, "end_line": eline, "end_col": ecol + 1}


def _error_record(err, source, name=None):
    code = classify(err)
    rec = {"file": source.name if source is not None else name, "code": code.code,
           "name": code.name, "message": err.message, "hint": err.hint}
    rec.update(_span_fields(err, source))
    return rec


def _gh_escape(text: str, prop: bool = False) -> str:
    """GitHub workflow-command escaping (data; properties also escape ':' and ',')."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _render(err, source, rec, opts: CheckOptions) -> str:
    """One diagnostic in the chosen format (json is rendered as a whole report)."""
    if opts.fmt == "json-lines":
        import json
        return json.dumps(rec, ensure_ascii=False)
    hint = f" (hint: {rec['hint']})" if rec["hint"] else ""
    if opts.fmt == "github":
        props = [f"file={_gh_escape(rec['file'], True)}"]
        if "line" in rec:
            props += [f"line={rec['line']}", f"col={rec['col']}",
                      f"endLine={rec['end_line']}", f"endColumn={rec['end_col']}"]
        props.append(f"title={_gh_escape('matd ' + rec['code'], True)}")
        return f"::error {','.join(props)}::{_gh_escape(rec['message'] + hint)}"
    tag = f"  [{rec['code']}]"
    if source is None:
        return f"{rec['file']}: error: {rec['message']}{hint}{tag}"
    if opts.context:
        first, *rest = render_error(err, source).split("\n")
        return "\n".join([first + tag, *rest])
    return one_line(err, source) + tag


# Checking types each program and drops it, and typing leaves cyclic garbage (the program's
# elaboration state): with the collector on, its passes over every live node made the time per
# statement grow with a file's length.  It is off while checking; a collection runs after each
# GC_EVERY statements instead, so that memory stays bounded over many files.
GC_EVERY = 20_000


def run_check(opts: CheckOptions, keep_gc_off: bool = False):
    """Check every program of every file; returns (report, output lines, exit status).

    An unreadable file is an error (MD004) like any other, counted in ``report["errors"]``
    and also in ``report["unreadable"]``; it makes the status 2 rather than 1.  The garbage
    collector is off meanwhile (see GC_EVERY), and on again after it unless ``keep_gc_off``
    (the matd program: turning it on would start a pass over what the last file left, and
    the process ends anyway)."""
    import gc
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_check(opts, gc)
    finally:
        if was_enabled and not keep_gc_off:
            gc.enable()


def _run_check(opts: CheckOptions, gc):
    report = {"files": [], "errors": 0, "unreadable": 0}
    since_collection = 0
    lines: list[str] = []

    def emit(entry, err, source):
        rec = _error_record(err, source, entry["file"])
        entry["errors"].append(rec)
        lines.append(_render(err, source, rec, opts))

    for path, problem in expand(opts.files or (".",)):
        name = (opts.stdin_filename or "<stdin>") if path == "-" else path
        entry = {"file": name, "programs": 0, "statements": 0, "errors": []}
        report["files"].append(entry)
        try:
            if problem is not None:
                raise problem
            text = read_file(path)
        except InputError as e:
            report["unreadable"] += 1
            entry["unreadable"] = e.message
            emit(entry, e, None)
            report["errors"] += 1
            continue
        for source in programs_in(name, text):
            entry["programs"] += 1
            try:
                prog = load(source, collect_errors=True)
                errors = prog.errors
            except MatdError as e:  # a syntax error stops that program
                prog, errors = None, [e]
            for err in errors:
                emit(entry, err, source)
            if prog is None:
                continue
            entry["statements"] += len(prog.statements)
            if opts.verbose:
                from matd.core.printers import shape_decl
                from matd.core.shapes import shape_short
                for st in prog.statements if opts.fmt == "text" else ():
                    if st.node is None:
                        continue
                    what = f"{st.name} = " if st.name else ""
                    text_ = source.text[st.span.start:st.span.end].strip()
                    lines.append(f"{source.place(st.span.start)}: {shape_short(st.node.shape)}"
                                 f"\t{what if not text_.startswith(what) else ''}{text_}")
                entry["shapes"] = {n: shape_decl(v.shape) for n, v in prog.variables.items()}
        report["errors"] += len(entry["errors"])
        since_collection += entry["statements"]
        if since_collection >= GC_EVERY:
            gc.collect()
            since_collection = 0
    if opts.exit_zero:
        status = 0
    elif report["unreadable"]:
        status = 2
    elif report["errors"]:
        status = 1
    else:
        status = 0
    return report, lines, status


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def summary(report) -> str:
    """The last line, on standard error: never 'no errors' when a file could not be read.

    >>> summary({"files": [{"errors": [{}]}, {"errors": []}], "errors": 1, "unreadable": 1})
    '1 error in 1 file (checked 2 files; 1 could not be read)'
    """
    n, files = report["errors"], len(report["files"])
    if not files:
        return "warning: no .matd or .py files found"
    if not n:
        return f"no errors in {_plural(files, 'file')}"
    bad = sum(1 for f in report["files"] if f["errors"])
    out = f"{_plural(n, 'error')} in {_plural(bad, 'file')} (checked {_plural(files, 'file')}"
    if report["unreadable"]:
        out += f"; {report['unreadable']} could not be read"
    return out + ")"


CHECK_HELP = ("Shape-check files of formulas: .matd files, and '# matd:' comment blocks in .py "
              "files. A folder is searched recursively for .matd and .py files (hidden folders, "
              "virtual environments, __pycache__ and node_modules skipped); no FILE means '.'; "
              "'-' reads standard input. One line per error, with a stable code ("
              + ", ".join(f"{c.code} {c.name}" for c in CODES)
              + "), then a summary on standard error. Exit 0 clean, 1 errors found, 2 a file "
              "could not be read (or bad usage).")


@click.command(help=CHECK_HELP)
@click.argument("files", nargs=-1)
@click.option("--output-format", "--format", "fmt", type=click.Choice(FORMATS),
              default="text", show_default=True,
              help="text: file:line:col: error: message  [MDnnn]; json: one report; "
              "json-lines: one JSON object per error; github: GitHub Actions annotations. "
              "--format is an alias.")
@click.option("-v", "--verbose", is_flag=True, help="Also print each statement's inferred shape.")
@click.option("--context", is_flag=True,
              help="Show the source line and carets under each error.")
@click.option("-q", "--quiet", is_flag=True, help="Print the errors only, no summary.")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when errors were found or files could not be read (bad usage "
              "is still 2).")
@click.option("--stdin-filename", metavar="NAME",
              help="The file name to report for '-' (standard input); a .py name checks "
              "its '# matd:' blocks. Alone, it reads standard input.")
@click.option("--batch", is_flag=True,
              help="Read programs from standard input, one per line (or NDJSON objects with "
              "expression, id); print one JSON object per program: {line, ok, errors}.")
def check(files, fmt, verbose, context, quiet, exit_zero, stdin_filename, batch):
    if batch:
        from matd.cli.batch import batch_only, check_item, run_batch
        batch_only("FILES", bool(files))
        status = run_batch(check_item)
        return 0 if exit_zero else status
    if stdin_filename is not None:
        if not files:
            files = ("-",)
        elif "-" not in files:
            raise click.UsageError("--stdin-filename names standard input: give - among "
                                   "the files")
    from matd.cli.main import PROGRAM
    opts = CheckOptions(tuple(files), fmt, verbose, context, quiet, exit_zero, stdin_filename)
    report, lines, status = run_check(opts, keep_gc_off=PROGRAM)
    if fmt == "json":
        import json
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        for ln in lines:
            click.echo(ln)
        if not quiet and fmt != "json-lines":
            click.echo(summary(report), err=True)
    return status


@click.command(help="Print the inferred shape of every name and of the result, as matd "
               "declarations. EXPR is matd text; it is read from a FILE only when it ends in .matd or "
               ".txt or begins with /, ./ or ../; - reads standard input.")
@click.argument("expr", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--batch", is_flag=True,
              help="Read programs from standard input, one per line (or NDJSON objects with "
              "expression, id); print what --format json prints, one object per program.")
def shape(expr, fmt, batch):
    if batch:
        from matd.cli.batch import batch_only, run_batch, shape_item
        batch_only("EXPR", expr is not None)
        return run_batch(shape_item)
    if expr is None:
        raise click.UsageError("Missing argument 'EXPR' (or --batch to read many programs "
                               "from standard input).")
    from matd.core.printers import shape_decl
    source = expression_source(expr)
    prog = load(source)
    result = prog.result
    if fmt == "json":
        out = {"variables": {n: [str(d) for d in v.shape] for n, v in prog.variables.items()},
               "definitions": {n: [str(d) for d in v.shape] for n, v in prog.definitions.items()},
               "attributes": {n: list(prog.attrs(n)) for n in prog.variables if prog.attrs(n)},
               "result": [str(d) for d in result.shape] if result is not None else None}
        import json
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
