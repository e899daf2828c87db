"""The renderings of a derivation — the one implementation behind both ``matd diff
--format …`` and :class:`matd.DiffResult`'s ``.text()``, ``.latex()``, ``.json()``,
``.matd()`` and ``.numpy_source()``.

Every renderer takes ``(prog, d, view)``: the typed program, the ``Derivation`` of
``matd.core.derive`` and a :class:`View` (or anything with ``fmt`` and ``jacobian``
attributes, such as the CLI's options).

>>> from matd.grammar.parse import parse_program
>>> from matd.core.derive import derive
>>> p = parse_program("X: n x n; logdet(X)")
>>> records(p, derive(p, ["X"]), View("json"))[0]["derivative"]
'X^-T'
"""
from __future__ import annotations

import json
from dataclasses import dataclass

FORMATS = ("text", "matd", "latex", "json", "numpy")


@dataclass(frozen=True)
class View:
    """What a rendering shows: ``fmt`` (one of FORMATS) and ``jacobian`` ("vec": also the
    vec-Jacobians of matrix-by-matrix derivatives, which text, matd and LaTeX otherwise
    leave as the differential)."""

    fmt: str = "text"
    jacobian: str | None = None


LABELS = {  # kind -> (unicode label, LaTeX label); {x} is the variable
    "gradient": ("∂f/∂{x}", r"\frac{{\partial f}}{{\partial {x}}}"),
    "jacobian": ("∂f/∂{x}", r"\frac{{\partial f}}{{\partial {x}}}"),
    "vec-jacobian": ("∂vec f/∂vec {x}", r"\frac{{\partial \operatorname{{vec}} f}}"
                     r"{{\partial \operatorname{{vec}} {x}}}"),
    "derivative": ("df/d{x}", r"\frac{{\mathrm{{d}}f}}{{\mathrm{{d}}{x}}}"),
    "hessian": ("∂²f/∂{x}²", r"\frac{{\partial^2 f}}{{\partial {x}\,\partial {x}^{{\top}}}}"),
    "vec-hessian": ("∂²f/∂vec {x}²",
                    r"\frac{{\partial^2 f}}{{\partial (\operatorname{{vec}} {x})^2}}"),
}


def _dims(shape) -> list[str]:
    """A shape as numpy would have it (DESIGN §2): [] scalar, [n] vector, [m, n]."""
    r, c = shape
    if r.is_one and c.is_one:
        return []
    if c.is_one:
        return [r.matd()]
    return [r.matd(), c.matd()]


def _shape_text(shape) -> str:
    from matd.core.shapes import shape_short
    return shape_short(shape)


def _shown(d, r, opts) -> bool:
    """Whether the derivative is printed in text formats (matrix cases: on request)."""
    return r.derivative is not None and (r.kind != "vec-jacobian" or opts.jacobian == "vec"
                                         or opts.fmt in ("json", "numpy"))


def _taken(prog) -> set:
    """The names a program gives: a shared subexpression's name is none of them."""
    return set(prog.variables) | set(prog.definitions) | set(prog.dims) | set(prog.functions)


def _names(prog, d, opts):
    """Definitions keep their names; other repeated subexpressions get t1, t2, …"""
    from matd.core.printers import shared_names
    roots = [d.f] + ([d.df] if d.df is not None else [])
    roots += [x for r in d.results for x in (r.differential, r.gradient, r.riemannian)
              if x is not None]
    roots += [r.derivative for r in d.results if _shown(d, r, opts)]
    roots = list(dict.fromkeys(roots))
    names = shared_names(roots, _taken(prog))
    names.update(d.names)
    return names


def _rows(d, opts) -> list[tuple[str, str, object, object]]:
    """The rows of the text and LaTeX renderings, in order: (unicode label, LaTeX label,
    node or a note, shape or None).  One list for both, so that they show the same rows."""
    from matd.core.printers import _latex_name
    rows = [("f", "f", d.f, d.f.shape)]
    if d.f.is_scalar and d.order == 1:
        rows.append(("df", r"\mathrm{d}f", d.df, None))
    for r in d.results:
        x, lx = r.wrt, _latex_name(r.wrt)
        if not d.f.is_scalar:
            big = "F" if not d.f.is_vector else "f"
            rows.append((f"d{big}", rf"\mathrm{{d}}{big}", r.differential, None))
        if d.order == 2:
            rows.append((LABELS["gradient"][0].format(x=x), LABELS["gradient"][1].format(x=lx),
                         r.gradient, r.gradient.shape))
            rows.append(("d²f", r"\mathrm{d}^2 f", r.differential, None))
        label, llabel = (lb.format(x=v) for lb, v in zip(LABELS[r.kind], (x, lx)))
        if r.kind == "vec-jacobian" and not d.f.is_vector:
            label = label.replace("vec f", "vec F")
            llabel = llabel.replace(r"\operatorname{vec} f", r"\operatorname{vec} F")
        if _shown(d, r, opts):
            if r.kind == "jacobian" and d.layout == "denominator":
                label += " (denominator layout)"
                llabel += r"\ (\text{denominator layout})"
            rows.append((label, llabel, r.derivative, r.derivative.shape))
        elif r.derivative is None and r.note:
            rows.append((label, llabel, f"(none: {r.note})", None))
        if r.riemannian is not None:
            rows.append((f"grad_R f ({x} orth)",
                         rf"\operatorname{{grad}}_{{\mathcal{{R}}}} f\ ({lx}\ \text{{orth}})",
                         r.riemannian, r.riemannian.shape))
    return rows


def render_text(prog, d, opts, color: bool) -> str:
    from matd.core.printers import where_all
    names = _names(prog, d, opts)
    table = _rows(d, opts)
    shown = iter(where_all([node for _, _, node, _ in table if not isinstance(node, str)],
                           names, "unicode"))
    rows: list[tuple[str, str, str, list]] = []  # label, expr, shape, where-defs
    for label, _, node, shape in table:
        if isinstance(node, str):
            rows.append((label, node, "", []))
            continue
        defs, text = next(shown)
        rows.append((label, text, _shape_text(shape) if shape is not None else "", defs))
    seen: set = set()
    width = max(len(lbl) for lbl, *_ in rows)
    ewidth = min(max(len(e) for _, e, _, _ in rows), 70)
    out = []
    for label, text, shape, defs in rows:
        line = f"{label.ljust(width)} = {text}"
        if shape:
            line = f"{label.ljust(width)} = {text.ljust(ewidth)}   {shape}"
        out.append((line, len(label), len(shape)))
        for name, body in defs:
            if name in seen:
                continue
            seen.add(name)
            out.append((f"{' ' * width}   where {name} = {body}", 0, 0))
    if any(a in prog.variables[r.wrt].params[1] for r in d.results for a in ("sym", "spd")):
        out.append(("(gradients w.r.t. sym/spd variables are symmetrized: (G + Gᵀ)/2"
                    + ("; Hessians act on symmetric directions: P H P, P = (I + K)/2)"
                       if d.order == 2 else ")"), 0, 0))
    return out


BARE_LIMIT = 400   # characters: longer formulas always carry their declarations


def _program_text(node, names, prog, dvars: bool = False, declare: bool = False) -> str:
    """A formula as a matd program of its own (DESIGN §3): definitions of shared parts, then
    the expression; led by the declarations and user functions it needs (``dX: …`` too in a
    differential) unless, read alone, it already means the same (``X^-T``); with ``declare``,
    always (``--format matd``)."""
    from matd.core.printers import declarations, with_where
    defs, text = with_where(node, names, "matd")
    body = [f"{n} = {b}" for n, b in defs] + [text]
    text = "; ".join(body)
    # a long formula is declared without asking (parsing it back would cost as much as
    # deriving it); declarations are always right, bare text only where it reads the same
    if not declare and len(text) <= BARE_LIMIT and not _names_a_dim(node) and \
            _means_the_same(text, prog, dvars):
        return text
    return "; ".join(declarations([node], prog, dvars) + body)


def _means_the_same(text: str, prog, dvars: bool) -> bool:
    """Whether ``text`` alone types every name as ``prog`` does (up to renaming its dims)."""
    from matd.core.errors import MatdError
    from matd.grammar.parse import parse_program
    try:
        alone = parse_program(text)
    except MatdError:
        return False
    if alone.functions:
        return False
    rename: dict = {}
    for name, v in alone.variables.items():
        orig = prog.variables.get(name)
        if orig is None and dvars and name.startswith("d"):
            orig = prog.variables.get(name[1:])
        if orig is None:
            return False
        for a, b in zip(v.shape, orig.shape):
            if rename.setdefault(a, b) != b:
                return False
    return len(set(rename.values())) == len(rename)


def _names_a_dim(node) -> bool:
    """Whether the printed formula names a symbolic dim (ones(m), X / m, eye(n)): such a dim
    is sized, when read back, only through declared variables."""
    from matd.core.expr import walk
    sized = ("dim", "ones", "zeros", "eye", "commutation", "unvec", "broadcast")
    return any(n.op in sized and any(not d.is_const for d in n.shape)
               or n.op == "dim" for n in walk(node))


def _expression(d) -> str:
    """f as matd text, the user's definitions kept (``r = A x; norm(r)^2``)."""
    from matd.core.printers import with_where
    defs, text = with_where(d.f, d.names, "matd")
    return "; ".join([f"{n} = {b}" for n, b in defs] + [text])


def _formulas(r) -> list[tuple[str, object]]:
    """(key, node) of a result's formulas, as its JSON object holds them."""
    return [(key, node) for key, node in (("differential", r.differential),
                                          ("derivative", r.derivative),
                                          ("gradient", r.gradient),
                                          ("riemannian", r.riemannian)) if node is not None]


def _result(r, d, texts: dict) -> dict:
    """One variable's JSON object, without ``expression``; ``texts``: key -> formula."""
    obj = {"wrt": r.wrt, "order": d.order,
           "shape": _dims(r.derivative.shape) if r.derivative is not None else None,
           "differential": texts["differential"], "derivative": texts.get("derivative"),
           "kind": r.kind, "layout": d.layout}
    for key in ("gradient", "riemannian"):
        if key in texts:
            obj[key] = texts[key]
    if r.note:
        obj["note"] = r.note
    return obj


def records(prog, d, opts) -> list[dict]:
    """One object per variable (keys: expression, wrt, order, shape, differential,
    derivative, kind, layout; gradient, riemannian and note where they apply), each
    formula a program of its own: its declarations and the definitions it uses, then the
    formula (``--format json`` by one variable; :class:`matd.DiffResult`'s variables)."""
    names = _names(prog, d, opts)
    expression = _expression(d)
    return [{"expression": expression,
             **_result(r, d, {key: _program_text(node, names, prog, dvars=key == "differential")
                              for key, node in _formulas(r)})}
            for r in d.results]


def shared_record(prog, d, opts) -> dict:
    """The ``--format json`` object of several variables: the definitions shared by their
    formulas once, at the top (see ``render_json``)."""
    from matd.core.printers import contains_d, declarations, walk_all, where_all
    names = _names(prog, d, opts)
    keyed = [(r, key, node) for r in d.results for key, node in _formulas(r)]
    nodes = [node for _, _, node in keyed]
    has_d = contains_d(walk_all(nodes))
    shown = where_all(nodes, names, "matd", with_nodes=True)
    definitions = [{"name": name, "body": body, "shape": _dims(node.shape)}
                   for defs, _ in shown for name, body, node in defs if not has_d[node]]
    results: dict = {}
    for (r, key, node), (_, text) in zip(keyed, shown):
        if key == "differential":
            text = "; ".join(_differential_head(node, names, has_d) + [text])
        results.setdefault(r.wrt, (r, {}))[1][key] = text
    return {"expression": _expression(d), "order": d.order, "layout": d.layout,
            "wrt": [r.wrt for r in d.results],
            "declarations": "; ".join(declarations(nodes, prog)),
            "definitions": definitions,
            "results": [_result(r, d, texts) for r, texts in results.values()]}


def _differential_head(root, names, has_d) -> list[str]:
    """What a differential's text needs before it besides the shared definitions: the
    declarations of its dX (read alone, ``dX`` would be a scalar) and the definitions of
    its named parts that hold a dX (only this differential uses them), inner ones first.
    The walk follows the dX's only: linear in the differential's printed size."""
    from matd.core.printers import shape_decl, to_matd
    dvars: dict = {}
    defs: list[str] = []
    seen: set = set()
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            if n is not root and n in names:
                defs.append(f"{names[n]} = {to_matd(n, names)}")
            continue
        if id(n) in seen or not has_d[n]:
            continue
        seen.add(id(n))
        if n.op == "dvar":
            dvars.setdefault(n.params[0], n)
        stack.append((n, True))
        stack.extend((a, False) for a in reversed(n.args))
    return [f"d{x}: {shape_decl(n.shape)}" for x, n in dvars.items()] + defs


def render_json(prog, d, opts) -> str:
    """The ``--format json`` object, on one line.

    By one variable: the object of ``records`` — ``expression``, ``wrt``, ``order``,
    ``shape``, ``differential``, ``derivative``, ``kind``, ``layout`` (and ``gradient``,
    ``riemannian``, ``note`` where they apply) — whose formulas each stand alone: a matd
    program of the declarations and definitions it needs, then the formula (``X^-T`` bare
    where it reads the same alone).

    By several: ``{"expression", "order", "layout", "wrt": [names], "declarations",
    "definitions", "results": [one object per variable]}``.  The parts their formulas
    share are defined once, in ``definitions``: ``{"name": "t1", "body": "tanh(W1 x)",
    "shape": ["n"]}`` in order (a body names only those before it); ``declarations`` is
    the matd text declaring every variable, size and user function they use.  Each result
    has the keys of the one-variable object but ``expression``, and its formulas are matd
    text over those names: ``declarations; t1 = …; …; formula`` is the formula's program.
    A differential begins with what only it uses: the declaration of its ``dX`` (``dW1: n
    x n; tr(x t4^T dW1)``) and any named part with a ``dX`` in it.  So the output grows
    with the derivation's size, not with the variables times their depth.

    >>> from matd.grammar.parse import parse_program
    >>> from matd.core.derive import derive
    >>> p = parse_program("x: n; W1, W2: n x n; sum(tanh(W2 tanh(W1 x)))")
    >>> obj = json.loads(render_json(p, derive(p), View("json")))
    >>> obj["wrt"], obj["declarations"]
    (['W2', 'W1', 'x'], 'x: n; W1: n x n; W2: n x n')
    >>> obj["definitions"][1]
    {'name': 't2', 'body': '(W2^T (1 - t1)) .* (1 - tanh(W1 x).^2)', 'shape': ['n']}
    >>> w1 = obj["results"][1]
    >>> w1["wrt"], w1["differential"], w1["derivative"]
    ('W1', 'dW1: n x n; tr(x t2^T dW1)', 't2 x^T')
    """
    if len(d.results) != 1:
        return json.dumps(shared_record(prog, d, opts), ensure_ascii=False)
    return json.dumps(records(prog, d, opts)[0], ensure_ascii=False)


PREFIX = {"gradient": "grad", "jacobian": "jac", "vec-jacobian": "jac", "derivative": "deriv",
          "hessian": "hess", "vec-hessian": "hess"}


def render_matd(prog, d, opts) -> str:
    """One matd program that parses back and that ``matd eval`` accepts.

    One variable: ``# ∂f/∂X: shape``, the declarations, the shared definitions, then the
    derivative.  Several: the declarations once; then for each variable a comment and a
    definition naming its derivative — ``grad_X`` (gradient), ``jac_X`` (Jacobian),
    ``deriv_X`` (df/dt), ``hess_X`` (Hessian), ``diff_X`` (a differential in dX, where a
    matrix-by-matrix derivative is not shown) — and last the first variable's name, so the
    program's value is the first derivative."""
    from matd.core.printers import declarations, where_all
    names = _names(prog, d, opts)
    shown = []
    for r in d.results:
        node = r.derivative if _shown(d, r, opts) else r.differential
        is_d = node is r.derivative
        what = LABELS[r.kind][0].format(x=r.wrt) if is_d else f"d f (in d{r.wrt})"
        shown.append((r, node, is_d, f"# {what}: {_shape_text(node.shape)}"))
    if len(shown) == 1:
        r, node, is_d, comment = shown[0]
        return comment + "\n" + _program_text(node, names, prog, dvars=not is_d,
                                              declare=True).replace("; ", "\n")
    lines = declarations([node for _, node, _, _ in shown], prog, dvars=True)
    taken = (set(prog.variables) | set(prog.definitions) | set(prog.dims)
             | set(prog.functions) | set(names.values()))
    taken |= {"d" + name for name in prog.variables}
    defined: set = set()
    first = None
    rows = where_all([node for _, node, _, _ in shown], names, "matd")
    for (r, node, is_d, comment), (defs, text) in zip(shown, rows):
        lines.append(comment)
        for n, b in defs:
            if n not in defined:
                defined.add(n)
                lines.append(f"{n} = {b}")
        name = f"{PREFIX[r.kind] if is_d else 'diff'}_{r.wrt}"
        while name in taken:
            name += "_"
        taken.add(name)
        first = first or name
        lines.append(f"{name} = {text}")
    lines.append(first)
    return "\n".join(lines)


def _latex_text(text: str) -> str:
    """Plain words inside ``\\text{…}``, with LaTeX's special characters escaped."""
    for a, b in (("\\", r"\textbackslash{}"), ("{", r"\{"), ("}", r"\}"), ("_", r"\_"),
                 ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("^", r"\^{}"), ("~", r"\~{}")):
        text = text.replace(a, b)
    return text


LATEX_WIDTH = 56   # characters of the unicode text: a row that fits an article's line


def _spread(node, names):
    """The same value as a sum, where node is a product or trace with one sum inside:
    2 tr(A (B − C) D) = 2 tr(A B D) − 2 tr(A C D), so that a long d²f breaks at its signs.
    None where there is no such sum (or it is a named piece)."""
    import matd.core.algebra as A
    if node in names:
        return None
    if node.op == "add":
        return node
    if node.op in ("neg", "smul", "tr", "matmul", "hadamard"):
        args = list(node.args)
        for i in (range(1, 2) if node.op == "smul" else range(len(args))):
            inner = _spread(args[i], names)
            if inner is not None and inner.op == "add":
                build = {"neg": lambda a: A.neg(a[0]), "smul": lambda a: A.smul(*a),
                         "tr": lambda a: A.tr(a[0]), "matmul": lambda a: A.matmul(*a),
                         "hadamard": lambda a: A.hadamard(*a)}[node.op]
                return A.add(*(_scaled(build, args, i, t) for t in inner.args))
    return None


def _scaled(build, args, i, t):
    """build(args with t at i), the numbers of t moved in front (every build is linear)."""
    import matd.core.algebra as A
    c = 1
    while True:
        if t.op == "neg":
            c, t = -c, t.args[0]
        elif t.op == "smul" and t.args[0].op == "const":
            c, t = c * t.args[0].params[0], t.args[1]
        else:
            break
    out = build(args[:i] + [t] + args[i + 1:])
    while out.op == "smul" and out.args[0].op == "const":
        c, out = c * out.args[0].params[0], out.args[1]
    return out if c == 1 else A.neg(out) if c == -1 else A.smul(A.const(c), out)


def _sum_lines(node, names) -> list[str]:
    """A differential's LaTeX over lines: its terms, as many to a line as fit (parts of a
    differential are never named, so a long one is broken at its signs, as a paper does;
    one product or trace of a sum that does not fit is spread over the sum's terms)."""
    from matd.core.printers import sum_terms, to_unicode
    if node.op != "add" and len(to_unicode(node, names)) > LATEX_WIDTH:
        node = _spread(node, names) or node
    tex, uni = sum_terms(node, "latex", names), sum_terms(node, "unicode", names)
    lines: list[list[str]] = [[]]
    width = 0
    for t, u in zip(tex, uni):
        if lines[-1] and width + 1 + len(u) > LATEX_WIDTH:
            lines.append([])
            width = 6        # the indent: \quad
        lines[-1].append(t)
        width += 1 + len(u)
    return [" ".join(ln) for ln in lines]


def render_latex(prog, d, opts) -> str:
    """An ``align*`` block with the rows of the text format (f, df or d²f, the gradient,
    the derivative); shared subexpressions are named once, as in the text format, on rows
    ``\\text{where } t_{1} &= …`` after the first row that uses them."""
    from matd.core.printers import contains_d, fit_names, walk_all, where_all
    rows = _rows(d, opts)
    nodes = [node for _, _, node, _ in rows if not isinstance(node, str)]
    names = fit_names(nodes, _names(prog, d, opts), LATEX_WIDTH, _taken(prog))
    has_d = contains_d(walk_all(nodes))
    shown = iter(where_all(nodes, names, "latex"))
    out = [r"\begin{align*}"]
    seen: set = set()
    for _, label, node, _ in rows:
        if isinstance(node, str):     # (none: why), the why as a paragraph of its own
            out.append(rf"{label} &= \text{{(none)}} \\")
            out.append(rf"\intertext{{{_latex_text(node.removeprefix('(none: ')[:-1])}}}")
            continue
        defs, text = next(shown)
        lines = _sum_lines(node, names) if has_d[node] else [text]
        out.append(rf"{label} &= {lines[0]} \\")
        out += [rf"&\quad {more} \\" for more in lines[1:]]
        out += where_rows(defs, seen)
    out[-1] = out[-1].rstrip(" \\")
    out.append(r"\end{align*}")
    return "\n".join(out)


def where_rows(defs, seen: set) -> list[str]:
    """The aligned LaTeX rows of the definitions not shown yet: \text{where } t_{1} &= …"""
    from matd.core.printers import _latex_name
    rows = []
    for name, body in defs:
        if name not in seen:
            seen.add(name)
            rows.append(rf"\text{{where }} {_latex_name(name)} &= {body} \\")
    return rows


def render_numpy(prog, d, opts) -> str:
    from matd.core.printers import to_matd
    from matd.core.pysource import numpy_function
    outputs = [("value", d.f)] + [(r.wrt, r.derivative) for r in d.results
                                  if r.derivative is not None]
    what = ", ".join(f"d/d{r.wrt}" for r in d.results if r.derivative is not None)
    doc = f"{to_matd(d.f)} and its derivatives ({what}), computed with numpy."
    return numpy_function("matd_f", prog.variables, outputs, doc)


