"""``--steps``: the derivation of a ``Derivation`` (its ``steps``, recorded by
``matd.core.derive`` with ``steps=True``) as text lines, LaTeX rows or JSON objects.

Each step is one named rule: d of a node (product rule, chain rule, …), a simplification
naming the rewrite rules that fired, an adjoint of the reverse pass (trace cyclicity, a
Hadamard product, sum, a Kronecker product, a scalar transpose, …), a vec form, the
read-off of the derivative and the projection onto the variable's structure.  Formulas
name their large repeated parts once (``where s1 = …``), so the derivation of a k-layer
network grows linearly in k.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.derive import derive
>>> p = parse_program("A: m x n; X: m x p; B: p x n; tr(A^T X B)")
>>> d = derive(p, ["X"], steps=True)
>>> for line, _, _ in render_steps(d, {}): print(line)
derivation:
  d(Aᵀ X) = Aᵀ dX    [product rule (A B)]
  d(Aᵀ X B) = Aᵀ dX B    [product rule (A B)]
  d(tr(Aᵀ X B)) = tr(Aᵀ dX B)    [linearity of trace]
  tr(Aᵀ dX B) = ⟨Iₙ, Aᵀ dX B⟩    [adjoint of the trace: g tr(M) = ⟨g I, M⟩]
  ⟨Iₙ, Aᵀ dX B⟩ = ⟨A Bᵀ, dX⟩    [trace cyclicity: ⟨G, L dY R⟩ = tr(R Gᵀ L dY) = ⟨Lᵀ G Rᵀ, dY⟩]
  df = ⟨A Bᵀ, dX⟩ = tr(B Aᵀ dX)    [written as the textbooks do: ⟨G, dX⟩ = tr(Gᵀ dX)]
  ∂f/∂X = A Bᵀ    [read-off: df = ⟨G, dX⟩ ⇒ ∂f/∂X = G]
"""
from __future__ import annotations

from matd.core.expr import Node, walk_new

MIN_WITHIN = 8    # a part used twice in one formula is named from this printed size
MIN_ACROSS = 24   # a part shown in several steps is named from this printed size


def _roots(steps) -> list[Node]:
    return list(dict.fromkeys(x for st in steps for x in (st.node, st.result)))


def _taken(roots, names) -> set:
    """The names the steps' formulas use: variables, dims, differentials (one walk over
    all the formulas: a chain's steps share most of their nodes)."""
    out = set(names.values())
    seen: set = set()
    nodes: list = []
    for r in roots:
        walk_new(r, seen, nodes)
    for n in nodes:
        if n.op == "var":
            out.add(n.params[0])
            out.update(f for d in n.shape for f in d.factors if isinstance(f, str))
        elif n.op == "dvar":
            out.add("d" + n.params[0])
    return out


def step_names(steps, names: dict, taken=(), prefix: str = "s") -> dict:
    """``names`` (definitions and the results' shared names) and, for the parts of the
    steps' formulas that are large and repeated — within a formula, or from one step to
    the next as a differential grows along a chain — names s1, s2, … (inner ones first)."""
    from matd.core.printers import occurrences
    roots = _roots(steps)
    within, across, order = occurrences(roots)
    taken = set(taken) | _taken(roots, names)
    out = dict(names)
    size: dict[Node, int] = {}   # printed size: a named part counts one
    k = 0
    for n in order:
        size[n] = 1 + sum(1 if a in out else size[a] for a in n.args)
        if n in out or not n.args or n.op in ("transpose", "neg", "broadcast"):
            continue
        if not (within.get(n, 0) >= 2 and size[n] >= MIN_WITHIN
                or across.get(n, 0) >= 2 and size[n] >= MIN_ACROSS):
            continue
        k += 1
        while f"{prefix}{k}" in taken:
            k += 1
        out[n] = f"{prefix}{k}"
    return out


def _sides(st, show):
    """(left side, right side) of a step's equation, in the printer ``show``."""
    if st.kind == "d":
        return f"d({show(st.node)})", show(st.result)
    if st.kind == "=":
        lhs = show(st.node)
        return (f"{st.label} = {lhs}" if st.label else lhs), show(st.result)
    return st.label, show(st.result)


def _second_order_heading(st) -> str:
    x = st.wrt or "X"
    return (f"second order: ∂f/∂{x} differentiated again (d{x} is a constant), "
            f"the Hessian read off d²f")


def render_steps(d, names) -> list:
    """The text lines (with ``matd diff``'s (line, label length, shape length) layout) of
    the derivation: ``lhs = rhs    [rule]``, each new shared name on a ``where`` line."""
    from matd.core.printers import WhereRows
    names = step_names(d.steps, names)
    rows = WhereRows(names, "unicode")
    lines = ["derivation:"]
    seen: set = set()
    heading = None
    for st in d.steps:
        if st.order == 2 and heading != st.wrt:
            heading = st.wrt
            lines.append("  " + _second_order_heading(st))
        defs: list = []

        def show(node):
            got, text = rows(node)
            defs.extend(got)
            return text
        lhs, rhs = _sides(st, show)
        lines.append(f"  {lhs} = {rhs}    [{st.rule}]")
        for name, body in defs:
            if name not in seen:
                seen.add(name)
                lines.append(f"      where {name} = {body}")
    return [(ln, 0, 0) for ln in lines]


_LATEX_TEXT = {
    "∘": r"$\circ$", "⊗": r"$\otimes$", "⊘": r"$\oslash$", "⁻ᵀ": r"$^{-\top}$",
    "⁻¹": r"$^{-1}$", "ᵀ": r"$^{\top}$", "⟨": r"$\langle$", "⟩": r"$\rangle$", "‖": r"$\|$",
    "⇒": r"$\Rightarrow$", "↦": r"$\mapsto$", "→": r"$\to$", "²": r"$^2$", "³": r"$^3$",
    "½": r"$\frac{1}{2}$", "−": "-", "·": r"$\cdot$", "×": r"$\times$", "σ": r"$\sigma$",
    "λ": r"$\lambda$", "Σ": r"$\Sigma$", "∂": r"$\partial$", "₁": "$_1$", "₂": "$_2$",
    "ᵢ": "$_i$", "ⱼ": "$_j$", "ₙ": "$_n$", "ⁱ": "$^i$", "ᵏ": "$^k$", "ᵉ": "$^e$",
    "Π": r"$\Pi$", "…": r"\ldots{}", "≥": r"$\geq$", "≤": r"$\leq$", "⁺": "$^+$",
}


def latex_text(s: str) -> str:
    """Plain text (a rule's name) for ``\\text{…}``: specials escaped, math symbols in $…$.

    >>> print(latex_text("adjoint of a Hadamard product: ⟨G, A ∘ dY⟩"))
    adjoint of a Hadamard product: $\\langle$G, A $\\circ$ dY$\\rangle$
    """
    out = []
    i = 0
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}",
               "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$", "~": r"\~{}"}
    while i < len(s):
        two = s[i:i + 2]
        if two in _LATEX_TEXT:
            out.append(_LATEX_TEXT[two])
            i += 2
            continue
        c = s[i]
        out.append(special.get(c) or _LATEX_TEXT.get(c) or (c if c.isascii() else _symbol(c)))
        i += 1
    return "".join(out)


def _symbol(c: str) -> str:
    """A character the table does not know, by its Unicode name: Greek letters, super- and
    subscripts; anything else becomes its name in words (so that pdflatex never stops)."""
    import unicodedata
    name = unicodedata.name(c, "")
    words = name.split()
    if words[:2] == ["GREEK", "CAPITAL"] and words[2:3] == ["LETTER"]:
        return rf"$\{words[-1].capitalize()}$"
    if words[:2] == ["GREEK", "SMALL"] and words[2:3] == ["LETTER"]:
        return rf"$\{words[-1].lower()}$"
    marks = {"MINUS": "-", "PLUS SIGN": "+", "PLUS": "+"}
    for lead, script in (("SUPERSCRIPT", "^"), ("MODIFIER LETTER SMALL", "^"),
                         ("MODIFIER LETTER CAPITAL", "^"), ("SUBSCRIPT", "_"),
                         ("LATIN SUBSCRIPT SMALL LETTER", "_")):
        if name.startswith(lead + " "):
            rest = name[len(lead) + 1:]
            digit = {"ZERO": "0", "ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4",
                     "FIVE": "5", "SIX": "6", "SEVEN": "7", "EIGHT": "8", "NINE": "9"}
            sym = digit.get(rest) or marks.get(rest) or (rest.split()[-1].lower()
                                                          if "CAPITAL" not in lead else
                                                          rest.split()[-1])
            return f"${script}{{{sym}}}$"
    return f"({name.lower()})" if name else "?"


def render_steps_latex(d, names) -> str:
    """The derivation as an ``align*`` block: ``lhs &= rhs && \\text{rule}`` rows, each new
    shared name on a ``\\text{where } s_{1} &= …`` row."""
    from matd.core.printers import WhereRows
    from matd.formats import where_rows
    names = step_names(d.steps, names)
    rows = WhereRows(names, "latex")
    out = [r"\begin{align*}"]
    seen: set = set()
    heading = None
    for st in d.steps:
        if st.order == 2 and heading != st.wrt:
            heading = st.wrt
            out.append(r"\intertext{" + latex_text(_second_order_heading(st)) + "}")
        defs: list = []

        def show(node):
            got, text = rows(node)
            defs.extend(got)
            return text
        rule = rf"\text{{{latex_text(st.rule)}}}"
        if st.kind == "d":
            out.append(rf"\mathrm{{d}}\left({show(st.node)}\right) &= {show(st.result)} "
                       rf"&& {rule} \\")
        elif st.kind == "=" and st.label:     # label &= from \\ &= to
            out.append(rf"{_latex_label(st.label)} &= {show(st.node)} \\")
            out.append(rf"&= {show(st.result)} && {rule} \\")
        elif st.kind == "=":
            out.append(rf"{show(st.node)} &= {show(st.result)} && {rule} \\")
        else:
            out.append(rf"{_latex_label(st.label)} &= {show(st.result)} && {rule} \\")
        out += where_rows(defs, seen)
    out[-1] = out[-1].rstrip(" \\")
    out.append(r"\end{align*}")
    return "\n".join(out)


_LABEL_PARTS = [("∂²f", r"\partial^2 f"), ("d²f", r"\mathrm{d}^2 f"), ("∂", r"\partial "),
                ("vec ", r"\operatorname{vec} "), ("²", "^2"), ("df", r"\mathrm{d}f"),
                ("dF", r"\mathrm{d}F"), ("grad_R", r"\operatorname{grad}_R")]


def _latex_label(label: str) -> str:
    """A step's label (∂f/∂X, d²f, G, grad_R f (Q orth)) in LaTeX."""
    head, _, note = label.partition(" (")
    text = head
    for a, b in _LABEL_PARTS:
        text = text.replace(a, b)
    if "/" in text:
        num, den = text.split("/", 1)
        text = rf"\frac{{{num}}}{{{den}}}"
    return text + (rf"\ \text{{({latex_text(note)}}}" if note else "")


def steps_records(prog, d, names) -> tuple[dict, dict]:
    """For each variable, its steps as JSON objects ``{"rule", "kind", "from", "to"}``
    (with ``"label"``, ``"order": 2`` and ``"wrt"`` — a step of one variable's derivation
    where several are derived — where they apply): matd text, which is a program
    once the variable's ``steps_preamble`` (the declarations of the variables and of the
    dX's the steps use, and the definitions of the names they use) is put before it.
    Returns ({wrt: [objects]}, {wrt: preamble})."""
    from matd.core.printers import WhereRows, declarations
    names = step_names(d.steps, names, set(prog.variables) | set(prog.dims)
                       | set(prog.functions) | set(prog.definitions))
    objs: dict = {}
    preambles: dict = {}
    for r in d.results:
        mine = [st for st in d.steps if st.wrt in (None, r.wrt)]
        defs: dict = {}
        items = []
        rows = WhereRows(names, "matd")
        for st in mine:
            sides = []
            for node in (st.node, st.result):
                got, text = rows(node)
                for name, body in got:
                    defs.setdefault(name, body)
                sides.append(text)
            obj = {"rule": st.rule, "kind": st.kind, "from": sides[0], "to": sides[1]}
            if st.label:
                obj["label"] = st.label
            if st.wrt is not None and len(d.results) > 1:
                obj["wrt"] = st.wrt
            if st.order != 1:
                obj["order"] = st.order
            items.append(obj)
        decl = declarations(_roots(mine), prog, dvars=True)
        objs[r.wrt] = items
        preambles[r.wrt] = "; ".join(decl + [f"{n} = {b}" for n, b in defs.items()])
    return objs, preambles


def with_steps_json(json_text: str, prog, d, names) -> str:
    """``--format json`` output with each variable's ``steps`` and ``steps_preamble`` (in
    the object of one variable, or in each of the ``results`` of several)."""
    import json
    objs, preambles = steps_records(prog, d, names)
    top = json.loads(json_text)
    for obj in top.get("results", [top]):
        obj["steps"] = objs.get(obj["wrt"], [])
        obj["steps_preamble"] = preambles.get(obj["wrt"], "")
    return json.dumps(top, ensure_ascii=False)
