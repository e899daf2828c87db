"""``matd functions``: every row of the primitive table, as a user reads it.

Everything shown is derived from ``matd.core.primitives``: the signature from the
row's spellings and the call in its ``sample`` program, the domain from its shape
rule and the attributes and input kinds the sample declares, the meaning from its
``doc``, and the derivative rule by differentiating the signature with the row's
own ``d`` column (through matd's differentiator and simplifier), printed in unicode.
A new row appears here without a change to this file.

>>> e = next(e for e in catalog() if e["op"] == "logdet")
>>> e["signature"], e["shape"], e["rule"]
('logdet(X)', 'X: n×n → scalar', 'd logdet(X) = tr(X⁻¹ dX)')
"""
from __future__ import annotations

import json
import re

import click

# What a shape rule asks of the arguments ({0}, {1}: their names), by the rule's
# name (or the name of the factory that made it).
RULE_DOMAIN = {
    "r_square": "{0} square",
    "r_square_scalar": "{0} square",
    "r_mpow": "{0} square, k a nonnegative integer",
    "r_vector": "{0} a vector",
    "r_vector_of_square": "{0} square",
    "r_diag": "{0} a vector or a square matrix",
    "r_same2": "{0} and {1} of one shape (a scalar, row or column broadcasts)",
    "r_dot": "{0} and {1} of one shape",
    "r_matmul": "columns of {0} = rows of {1}",
    "r_smul": "{0} a scalar",
    "r_div": "{1} a scalar",
    "r_epow": "{1} a scalar",
    "r_unvec": "{0} a vector whose length is a multiple of m",
}

# What a sample's input kind (``sample[1]``) and a declared attribute promise.
KIND_DOMAIN = {
    "wellcond": "{0} invertible",
    "pos": "{0} > 0 entrywise",
    "nonzero": "{0} ≠ 0 entrywise for the derivative (subgradient 0 at 0)",
    "sym": "{0} symmetric",
    "spd": "{0} symmetric positive definite",
    "orth": "{0} with orthonormal columns",
    "diag": "{0} diagonal",
    "simplex": "{0} on the simplex (entries, or each row's, sum to 1)",
}
ATTRIBUTES = ("sym", "spd", "diag", "orth", "simplex")

KIND_ORDER = ("function", "constant", "operator", "implicit")
KIND_TITLE = {"function": "Functions", "constant": "Constants",
              "operator": "Operators", "implicit": "Implicit (not written by name)"}


def _rule_name(rule) -> str:
    return getattr(rule, "__qualname__", "").split(".")[0]


def _show(prim, fmt="matd"):
    return prim.show.get(fmt) if isinstance(prim.show, dict) else prim.show


def _call_name(prim) -> str | None:
    """The name a row is called by: its first spelling, or for a row reached through
    another's name by its arguments (sum(X, k) is the axis form of sum), the call's name."""
    if prim.spellings:
        return prim.spellings[0]
    show = _show(prim)
    return show.name if type(show).__name__ == "Call" and show.params else None


def _kind(prim) -> str:
    if prim.spellings or _call_name(prim):
        return "constant" if prim.arity == 0 else "function"
    if type(_show(prim)).__name__ in ("Infix", "Prefix", "Postfix"):
        return "operator"
    return "implicit"


def _declarations(program: str) -> dict[str, str]:
    """name -> its declaration's right side, for the ``name: shape attrs`` statements."""
    out = {}
    for stmt in re.split(r"[;\n]", program):
        m = re.match(r"\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:(?!=)(.*)$", stmt)
        if m and "(" not in m.group(1):
            for name in re.split(r"\s*,\s*", m.group(1).strip()):
                out[name] = m.group(2).strip()
    return out


def _call_args(text: str, name: str) -> list[str] | None:
    """The arguments of the first call ``name(…)`` in ``text``, if they are plain names."""
    m = re.search(rf"(?<![\w.]){re.escape(name)}\(", text)
    if not m:
        return None
    depth, i, start, args = 1, m.end(), m.end(), []
    while i < len(text) and depth:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if depth == 0 or (c == "," and depth == 1):
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    ok = all(re.fullmatch(r"[A-Za-z_]\w*|\d+", a) for a in args)
    return args if ok and any(args) else None


def _operator_names(prim, decls) -> list[str]:
    rule, names = _rule_name(prim.shape), list(decls)
    if rule == "r_div" and len(names) >= 2:
        names = [names[1], names[0]]     # X / c
    while len(names) < prim.arity:
        names.append("XYZ"[len(names)])
    return names[:prim.arity]


def _expression(prim, kind, decls) -> tuple[str, list[str], list[str]]:
    """(signature, argument names, other spellings) of a row, in matd syntax."""
    also = list(prim.spellings[1:])
    if kind == "operator":
        names = _operator_names(prim, decls)
        show = _show(prim)
        kind_ = type(show).__name__
        if prim.op == "mpow":
            return f"{names[0]}^k", names, also
        if kind_ == "Infix":
            op = " " if show.text == " " else f" {show.text} "
            sig = f"{names[0]}{op}{names[1]}"
            if show.uni != show.text and not show.uni.isascii():
                also.append(f"{names[0]} {show.uni} {names[1]}")
        elif kind_ == "Prefix":
            sig = f"{show.text}{names[0]}"
        else:
            sig = f"{names[0]}{show.text}"
            if show.uni != show.text:
                also.append(f"{names[0]}{show.uni}")
        return sig, names, also
    if kind == "implicit":
        return prim.op, [], also
    name = _call_name(prim)
    args = _call_args(prim.sample[0], name) if prim.sample else None
    if args is None:
        args = (["m", "n"] if prim.sample is None else []) if prim.arity == 0 else \
            ["X", "Y", "Z"][:prim.arity]
    if not prim.spellings and _show(prim).params == "axis":
        args = args[:prim.arity] + ["k"]          # sum(X, k)
    sig = f"{name}({', '.join(args)})" if args else name
    for fmt in ("matd", "unicode"):          # operator forms: inv(X) is also X^-1 and X⁻¹
        show = _show(prim, fmt)
        kind_ = type(show).__name__
        if kind_ == "Postfix":
            also.append(f"{args[0]}{show.text if fmt == 'matd' else show.uni}")
        elif kind_ == "Infix" and len(args) == 2:
            also.append(f"{args[0]} {show.uni} {args[1]}")
    return sig, [a for a in args if a in decls or not decls], list(dict.fromkeys(also))


def _split_doc(doc: str) -> str:
    """The meaning part of a doc (``inverse: d X⁻¹ = …`` → ``inverse``)."""
    head, sep, tail = doc.partition(": ")
    if sep and ("=" in tail or tail.startswith(("d", "Σ"))):
        return head
    if doc.startswith("d ") and " = " in doc:       # only a rule: its left side
        return doc[2:doc.index(" = ")]
    return doc


def _doc_rule(doc: str) -> str:
    head, sep, tail = doc.partition(": ")
    return tail if sep and ("=" in tail or tail.startswith(("d", "Σ"))) else \
        (doc if doc.startswith("d") and " = " in doc else "")


def _derived(prim, kind, sig, decls, names):
    """(result shape text, argument shapes, rule) by typing and differentiating ``sig``."""
    from matd.core.errors import MatdError
    from matd.core.primitives import NotDifferentiable
    from matd.grammar.parse import parse_program
    if kind == "implicit" or prim.op == "mpow":
        return "", [], _doc_rule(prim.doc)
    axis = sig.endswith(", k)")
    if axis:    # an axis form: its shape and rule at k = 2 (across the rows)
        sig = sig[:-2] + "2)"
    text = "; ".join(f"{n}: {decls[n]}" for n in decls) + "; " + sig if decls else sig
    try:
        prog = parse_program(text)
    except (MatdError, Exception):      # a row whose signature does not stand alone
        return "", [], _doc_rule(prim.doc)
    from matd.core.differentiate import differential
    from matd.core.expr import free_vars
    from matd.core.printers import to_unicode
    from matd.core.shapes import shape_short
    from matd.core.simplify import simplify
    import matd.core.algebra as A
    f = prog.result
    arg_shapes = [f"{n}: {shape_short(prog.variables[n].shape)}" for n in names
                  if n in prog.variables]
    shape = shape_short(f.shape)
    shape = f"{', '.join(arg_shapes)} → {shape}" if arg_shapes else shape
    if axis:
        shape += " (k = 2)"
    if prim.linear and kind != "operator":
        lin = sig.replace("(", "(d", 1) if "(" in sig else f"d{sig}"
        return shape, arg_shapes, f"linear: d {sig} = {lin}"
    try:
        df = simplify(differential(f, {v.params[0] for v in free_vars(f)}))
    except NotDifferentiable:
        return shape, arg_shapes, "no closed-form differential (used inside other rules)"
    except (MatdError, Exception):
        return shape, arg_shapes, _doc_rule(prim.doc)
    if A.is_zero(df):
        return shape, arg_shapes, "0 (a constant)" if kind == "constant" else \
            f"{_d(to_unicode(f))} = 0"
    return shape, arg_shapes, f"{_d(to_unicode(f))} = {to_unicode(df)}"


def _d(lhs: str) -> str:
    """``d`` before a formula: d X⁻¹, d tr(X), d‖X‖, d(A B)."""
    if lhs.startswith(("‖", "|", "⟨")):
        return f"d{lhs}"
    if re.fullmatch(r"[^\s()]+\(.*\)", lhs) or " " not in lhs and not lhs.startswith("-"):
        return f"d {lhs}"
    return f"d({lhs})"


def _domain(prim, names, decls) -> list[str]:
    out = []
    template = RULE_DOMAIN.get(_rule_name(prim.shape))
    if template and len(names) >= template.count("{1}") + 1:
        out.append(template.format(*names, *(["Y"] * 2)))
    kinds = dict(prim.sample[1]) if prim.sample else {}
    for n in names:
        for attr in ATTRIBUTES:
            if re.search(rf"\b{attr}\b", decls.get(n, "")):
                kinds.setdefault(n, attr)
    for n in names:
        if n in kinds:
            text = KIND_DOMAIN.get(kinds[n], "{0} " + kinds[n]).format(n)
            if decls.get(n) == "scalar":
                text = text.replace(" entrywise", "")
            out.append(text)
    merged: list[str] = []       # "X square", "X invertible" -> "X square, invertible"
    for item in out:
        if merged and item.split(" ", 1)[0] == merged[-1].split(" ", 1)[0] \
                and merged[-1].count(" ") and not merged[-1].startswith("columns"):
            merged[-1] += ", " + item.split(" ", 1)[1]
        else:
            merged.append(item)
    return merged


def entry(prim) -> dict:
    """One row of the table as ``matd functions`` shows it (the JSON object)."""
    kind = _kind(prim)
    decls = _declarations(prim.sample[0]) if prim.sample else {}
    sig, names, also = _expression(prim, kind, decls)
    decls = {n: decls[n] for n in names if n in decls}
    shape, _, rule = _derived(prim, kind, sig, decls, names)
    return {"op": prim.op, "kind": kind, "signature": sig, "spellings": list(prim.spellings),
            "also": also, "arity": prim.arity, "shape": shape,
            "domain": _domain(prim, names, decls), "meaning": _split_doc(prim.doc),
            "rule": rule, "linear": prim.linear, "doc": prim.doc}


def catalog() -> list[dict]:
    """Every row of the primitive table, in table order (see ``entry``)."""
    from matd.core.primitives import PRIMS
    return [entry(p) for p in PRIMS.values()]


def select(entries: list[dict], names) -> list[dict]:
    """The entries named (by spelling, op or signature); an unknown name is an error."""
    if not names:
        return entries
    from matd.core.errors import MatdError
    keys: dict[str, list] = {}
    for e in entries:
        called = [e["signature"].split("(")[0]] if e["kind"] == "function" else []
        for k in dict.fromkeys([e["op"], e["signature"], *e["spellings"], *e["also"],
                                *called]):
            keys.setdefault(k, []).append(e)
    out = []
    for name in names:
        if name not in keys:
            import difflib
            close = difflib.get_close_matches(name, [k for k in keys if k.isidentifier()], n=1)
            raise MatdError(f"unknown function '{name}'",
                            hint=f"did you mean '{close[0]}'?" if close
                            else "`matd functions` lists them all")
        out.extend(e for e in keys[name] if e not in out)
    return out


def render_text(entries: list[dict], width: int | None) -> str:
    import textwrap
    width = max(width or 100, 40)
    out: list[str] = []

    def field(label, text):
        if text:
            out.extend(textwrap.wrap(text, width, initial_indent=f"    {label:<7} ",
                                     subsequent_indent=" " * 12, break_long_words=False,
                                     break_on_hyphens=False))
    for kind in KIND_ORDER:
        group = [e for e in entries if e["kind"] == kind]
        if not group:
            continue
        if out:
            out.append("")
        out.append(KIND_TITLE[kind])
        for e in group:
            out.append(f"  {e['signature']}")
            field("means", e["meaning"])
            field("shape", e["shape"])
            field("domain", "; ".join(e["domain"]))
            field("rule", e["rule"])
            field("also", ", ".join(e["also"]))
    return "\n".join(out)


@click.command(help="List the functions and operators of the language, from the primitive "
               "table: signature, shape, domain (the attributes and values each needs), "
               "meaning and derivative rule. NAME… shows only those.")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json: a list of objects with op, kind, "
              "signature, spellings, also, arity, shape, domain, meaning, rule, linear, doc.")
def functions(names, fmt):
    entries = select(catalog(), names)
    if fmt == "json":
        click.echo(json.dumps(entries, ensure_ascii=False, indent=1))
    else:
        from matd.cli.render import terminal_width
        click.echo(render_text(entries, terminal_width()))
    return 0
