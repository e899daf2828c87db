"""Printers: IR -> matd text (re-parses to the same IR), unicode, LaTeX.

All three walk the same printing columns of the primitive table; only the
spellings differ.  ``names`` maps nodes to names (definitions, shared
subexpressions) that are printed instead of the node.

>>> from matd.grammar.parse import parse_program
>>> f = parse_program("A: m x n; X: m x p; B: p x n; tr(A^T X B)").result
>>> to_matd(f), to_unicode(f), to_latex(f)
('tr(A^T X B)', 'tr(Aᵀ X B)', '\\\\operatorname{tr}\\\\left(A^{\\\\top}\\\\,X\\\\,B\\\\right)')
"""
from __future__ import annotations

import re
import sys

from matd.core.expr import Node
from matd.core.primitives import (ATOM, POSTFIX, PRIMS, PROD, SUM, UNARY, Call, Infix, Leaf,
                                  Postfix, Prefix, Wrap)
from matd.core.shapes import Dim

_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
if sys.getrecursionlimit() < 20000:  # printing recurses; deep DAGs are legitimate
    sys.setrecursionlimit(20000)
FORMATS = ("matd", "unicode", "latex")


def _num(v, fmt: str) -> str:
    if isinstance(v, float):
        text = repr(v)
        if text.endswith(".0") and abs(v) < 1e15:
            text = text[:-2] + ".0"
    else:
        text = str(v)
    if fmt == "latex" and "e" in text:
        mant, ex = text.split("e")
        return rf"{mant}\cdot 10^{{{int(ex)}}}"
    return text


def _latex_name(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+)_?([0-9]+)", name)
    base, sub = (m.group(1), m.group(2)) if m else (name, None)
    base = base.replace("_", r"\_")
    if len(base) > 1:
        base = rf"\mathrm{{{base}}}"
    return f"{base}_{{{sub}}}" if sub else base


def _dim_text(d: Dim) -> str | None:
    """A dim as a size argument (``n``, ``3``), or None when it has no such spelling."""
    if d.is_const:
        return str(d.coef)
    if d.coef == 1 and len(d.factors) == 1:
        return d.factors[0]
    return d.matd()


class _Printer:
    def __init__(self, fmt: str, names: dict | None):
        self.fmt = fmt
        self.names = names or {}
        self.memo: dict[Node, tuple[str, int]] = {}  # keyed by node: keeps them alive

    def spec(self, node: Node):
        show = PRIMS[node.op].show
        return show[self.fmt] if isinstance(show, dict) else show

    def wrap(self, node: Node, need: int) -> str:
        text, prec = self.go(node)
        if prec < need:
            return r"\left(" + text + r"\right)" if self.fmt == "latex" else f"({text})"
        return text

    def go(self, node: Node, top: bool = False) -> tuple[str, int]:
        if not top and node in self.names:
            name = self.names[node]
            return (_latex_name(name) if self.fmt == "latex" else name), ATOM
        if node not in self.memo:
            self.memo[node] = self.render(node)
        return self.memo[node]

    # -- leaves ---------------------------------------------------------------
    def leaf(self, node: Node) -> tuple[str, int]:
        op, fmt = node.op, self.fmt
        if op == "var":
            return (_latex_name(node.name) if fmt == "latex" else node.name), ATOM
        if op == "dvar":
            name = node.params[0]
            return (r"\mathrm{d}" + _latex_name(name) if fmt == "latex" else "d" + name), ATOM
        if op == "commutation":
            m, n = (_dim_text(d) or str(d) for d in node.params)
            return {"matd": f"commutation({m}, {n})", "unicode": f"K({m},{n})",
                    "latex": f"K_{{{m},{n}}}"}[fmt], ATOM
        if op == "const":
            v = node.params[0]
            return _num(v, fmt), (UNARY if v < 0 else ATOM)
        if op == "dim":
            d = node.params[0]
            return (str(d) if fmt != "latex" else _latex_name(str(d))), ATOM
        if op == "eye":   # sized: I ⊗ Mᵀ or vec(I) would not say which I (bare in sums)
            n = _dim_text(node.shape[0])
            if fmt == "matd":
                return (f"eye({n})" if n else "I"), ATOM
            return _sized_eye(node.shape[0], fmt), ATOM
        if op in ("ones", "zeros"):
            r, c = node.shape
            dims = [_dim_text(r)] + ([] if c.is_one and op == "ones" else [_dim_text(c)])
            if fmt == "latex":
                sym = r"\mathbf{1}" if op == "ones" else r"\mathbf{0}"
                return f"{sym}_{{{','.join(str(x) for x in dims)}}}", ATOM
            return f"{op}({', '.join(str(x) for x in dims)})", ATOM
        if op == "broadcast":
            return self.go(_explicit_broadcast(node))
        if op == "unvec":
            inner, m = self.go(node.args[0])[0], _dim_text(node.params[0])
            if fmt == "latex":
                return r"\operatorname{vec}^{-1}_{" + m + r"}\left(" + inner + r"\right)", ATOM
            return f"unvec({inner}, {m})", ATOM
        if op == "ufunc":
            name = node.params[0].name
            inner = self.go(node.args[0])[0]
            if fmt == "latex":
                return (r"\operatorname{" + name.replace("_", r"\_") + r"}\left(" + inner
                        + r"\right)"), ATOM
            return f"{name}({inner})", ATOM
        raise AssertionError(f"no printer for leaf {op}")  # pragma: no cover

    # -- everything else ------------------------------------------------------
    def render(self, node: Node) -> tuple[str, int]:
        spec, fmt = self.spec(node), self.fmt
        op = node.op
        if isinstance(spec, Leaf):
            return self.leaf(node)
        if op == "transpose" and node.args[0].op == "inv":
            base = self.base(node.args[0].args[0])
            return base + {"matd": "^-T", "unicode": "⁻ᵀ", "latex": r"^{-\top}"}[fmt], POSTFIX
        if op == "mpow":
            base = self.power_base(node.args[0])
            k = node.params[0]
            return base + {"matd": f"^{k}", "unicode": str(k).translate(_SUP),
                           "latex": f"^{{{k}}}"}[fmt], POSTFIX
        if op == "epow":
            return self.power(node)
        if op == "add":
            return self.add(node)
        if op == "div" and fmt == "latex":
            a, b = (self.go(x)[0] for x in node.args)
            return rf"\frac{{{a}}}{{{b}}}", ATOM
        if isinstance(spec, Infix):
            return self.infix(node, spec)
        if isinstance(spec, Prefix):
            x = node.args[0]
            if x.op in ("matmul", "smul") and x not in self.names:
                # -(A B) prints -A B (the same value), which binds as a product does:
                # A ∘ (-B C) keeps its parentheses
                return spec.text + self.go(x)[0], PROD
            return spec.text + self.wrap(x, UNARY), UNARY
        if isinstance(spec, Postfix):
            text = {"matd": spec.text, "unicode": spec.uni, "latex": spec.latex}[fmt]
            return self.base(node.args[0]) + text, POSTFIX
        if isinstance(spec, Wrap):
            inner = ", ".join(self.go(a)[0] for a in node.args)
            if self.fmt == "unicode" and (inner[:1] == spec.open[:1]
                                          or inner[-1:] == spec.close[:1]
                                          or spec.open == spec.close[:1]
                                          and spec.open in inner):
                inner = f"({inner})"   # |(|x| |y|)|, not ||x| |y||
            return spec.open + inner + spec.close, ATOM
        assert isinstance(spec, Call)
        if op in ("max", "min"):   # broadcasts as the parser makes them: max(0, x)
            bare = _implicit_sizes(node.args)
            args = [self.operand(a, SUM, bare) for a in node.args]
        else:
            args = [self.go(a)[0] for a in node.args]
        inner = ", ".join(args + _call_params(spec, node))
        if fmt == "latex":
            name = spec.latex or r"\operatorname{" + spec.name.replace("_", r"\_") + "}"
            return rf"{name}\left({inner}\right)", ATOM
        name = spec.uni if fmt == "unicode" and spec.uni else spec.name
        return f"{name}({inner})", ATOM

    def base(self, node: Node) -> str:
        """The operand of a postfix operator; in LaTeX a superscripted one is braced
        (X^{+}^{\top} does not compile, {X^{+}}^{\top} does)."""
        if node.op in ("mpow", "epow") and node not in self.names:   # (X²)ᵀ, (X³)⁻¹
            text = self.go(node)[0]
            return r"\left(" + text + r"\right)" if self.fmt == "latex" else f"({text})"
        text = self.wrap(node, POSTFIX)
        if self.fmt == "latex" and "^" in text and not text.endswith(r"\right)"):
            return "{" + text + "}"
        return text

    def power_base(self, node: Node) -> str:
        """The base of a power: in unicode one that ends in a superscript digit is
        parenthesized ((X²)³, since X²³ reads as X to the 23rd)."""
        text = self.base(node)
        if self.fmt == "unicode" and text[-1:] in "⁰¹²³⁴⁵⁶⁷⁸⁹ᵀ⁺" or text.endswith("⁻¹"):
            return f"({text})"
        return text

    def infix(self, node: Node, spec: Infix) -> tuple[str, int]:
        sym = {"matd": spec.text, "unicode": spec.uni, "latex": spec.latex}[self.fmt]
        juxt = sym in (" ", r"\,")
        args = list(node.args)
        if node.op == "smul" and args[1].op == "matmul" and args[1] not in self.names:
            args = [args[0], *args[1].args]  # c (A B) prints as c A B (parsed back the same)
        if node.op == "matmul" and any(a.is_scalar for a in args) and self.fmt == "matd":
            sym, juxt = "@", False  # a 1×1 operand: juxtaposition would read as a scaling
        tight = node.op == "kron"  # A B ⊗ C reads badly: (A B) ⊗ C
        bare = _implicit_sizes(args) if node.op in ("hadamard", "hdiv") else (False, False)
        parts = [self.operand(args[0], POSTFIX if tight else spec.prec, bare)]
        # A juxtaposed operand is a postfix expression (no unary minus): `A (-B)`.
        for b in args[1:]:
            parts.append(self.operand(b, POSTFIX if juxt or tight else spec.prec + 1, bare))
        return (sym if juxt else f" {sym} ").join(parts), spec.prec

    def operand(self, node: Node, need: int, bare: tuple) -> str:
        """An operand of an elementwise operator or a sum.  Where the parser broadcasts
        (``X + c``, ``X .* r``), a broadcast prints as what it repeats; elsewhere it is
        written out (``c ones(m, n)``), so that the text means what matd computed.  Beside
        an operand of known size, an identity is a plain ``I`` (``4 I + S``)."""
        broadcasts, eyes = bare
        if broadcasts and node.op == "broadcast" and node not in self.names:
            node = node.args[0]
        if eyes and self.fmt != "matd" and node not in self.names:
            if node.op == "eye":
                return "I"
            if node.op == "smul" and node.args[1].op == "eye" and node.args[1] not in self.names:
                sep = r"\," if self.fmt == "latex" else " "
                return self.wrap(node.args[0], PROD) + sep + "I"
        return self.wrap(node, need)

    def add(self, node: Node) -> tuple[str, int]:
        minus = {"matd": "-", "unicode": "−", "latex": "-"}[self.fmt]
        terms = list(node.args)
        negs = [_negated(t) is not None and t not in self.names for t in terms]
        if negs[0] and not all(negs):  # lead with a positive term: a − b, not −b + a
            k = negs.index(False)
            terms.insert(0, terms.pop(k))
        bare = _implicit_sizes([_negated(t) or t if t not in self.names else t
                                for t in terms])
        out = self.operand(terms[0], SUM, bare)
        for b in terms[1:]:
            neg = _negated(b) if b not in self.names else None
            if neg is not None:
                out += f" {minus} {self.operand(neg, PROD, bare)}"
            else:
                out += f" + {self.operand(b, PROD, bare)}"
        return out, SUM

    def power(self, node: Node) -> tuple[str, int]:
        base, ex = node.args
        scalar = base.shape[0].is_one and base.shape[1].is_one
        fmt = self.fmt
        if ex.op == "const":
            e = _num(ex.params[0], "matd")
            simple = True
        elif ex.op in ("var", "dim") and str(ex.params[0]) != "T" or ex in self.names:
            e, simple = self.go(ex)[0], True
        else:
            e, simple = self.go(ex)[0], False
        b = self.power_base(base)
        if fmt == "latex":
            return (f"{b}^{{{e}}}" if scalar else rf"{b}^{{\circ {e}}}"), POSTFIX
        if fmt == "unicode" and simple and re.fullmatch(r"-?[0-9]+", e):
            e = e.translate(_SUP)
            return (b + e if scalar else f"{b}∘{e}"), POSTFIX
        op = "^" if scalar or fmt == "unicode" and scalar else ".^"
        if fmt == "unicode" and not scalar:
            op = ".^"
        return f"{b}{op}{e if simple else '(' + e + ')'}", POSTFIX


def _call_params(spec: Call, node: Node) -> list[str]:
    """The params written after a call's arguments: an axis (sum(X, 2)), an offset other
    than 0 (tril(M, -1))."""
    if spec.params == "axis" or spec.params == "offset" and node.params[0] != 0:
        return [str(node.params[0])]
    return []


def _implicit_sizes(operands) -> tuple[bool, bool]:
    """What the other operands of a sum or an elementwise product make implicit: the
    broadcasts (the parser re-creates them where some operand has the full shape), and the
    size of an identity (where some operand is not one)."""
    def eyeish(a):
        return a.op == "eye" or a.op == "smul" and a.args[1].op == "eye"
    return any(a.op != "broadcast" for a in operands), any(not eyeish(a) for a in operands)


_SUB = dict(zip("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))


def _sized_eye(d: Dim, fmt: str) -> str:
    """The n×n identity with its size: Iₙ, Iₘₙ, I₃ (unicode), \\mathrm{I}_{n} (LaTeX);
    I_(dim1·n) where a name has no unicode subscript letters."""
    parts = ([str(d.coef)] if d.coef != 1 or not d.factors else []) + \
        [str(f) for f in d.factors]
    if fmt == "latex":
        return r"\mathrm{I}_{" + r" \cdot ".join(_latex_name(p) for p in parts) + "}"
    if all(len(p) == 1 or p.isdigit() for p in parts) and all(ch in _SUB for p in parts
                                                              for ch in p):
        return "I" + "".join(_SUB[ch] for p in parts for ch in p)
    return "I_(" + "·".join(parts) + ")"


def _explicit_broadcast(node: Node) -> Node:
    """A broadcast as the product that computes it: c ones(m, n), ones(m) r, x ones(1, n)."""
    x = node.args[0]
    m, n = node.shape
    if x.is_scalar:
        ones = Node.make("ones", (), (), node.shape)
        if x.op == "const" and x.params[0] == 1:
            return ones
        return Node.make("smul", (x, ones), (), node.shape)
    if x.shape[0].is_one:      # a row repeated over m rows
        return Node.make("matmul", (Node.make("ones", (), (), (m, x.shape[0])), x), (),
                         node.shape)
    return Node.make("matmul", (x, Node.make("ones", (), (), (x.shape[1], n))), (), node.shape)


def _negated(b: Node) -> Node | None:
    """x when b is -x (a negation, a negative number, or a negative multiple)."""
    if b.op == "neg":
        return b.args[0]
    if b.op == "broadcast":
        x = _negated(b.args[0])
        return Node.make("broadcast", (x,), (), b.shape) if x is not None else None
    if b.op == "const" and b.params[0] < 0:
        return Node.make("const", (), (-b.params[0],), b.shape)
    if b.op == "smul" and b.args[0].op == "const" and b.args[0].params[0] < 0:
        c = -b.args[0].params[0]
        if c == 1:
            return b.args[1]
        return Node.make("smul", (Node.make("const", (), (c,), b.args[0].shape), b.args[1]), (),
                         b.shape)
    return None


def _print(node: Node, fmt: str, names: dict | None = None) -> str:
    return _Printer(fmt, names).go(node, top=True)[0]


def to_matd(node: Node, names: dict | None = None) -> str:
    """matd source text that parses back to the same IR (given the same declarations)."""
    return _print(node, "matd", names)


def to_unicode(node: Node, names: dict | None = None) -> str:
    """Pretty text for people: ᵀ, ⁻¹, ∘, ⊗, ‖x‖, σ."""
    return _print(node, "unicode", names)


def to_latex(node: Node, names: dict | None = None) -> str:
    """LaTeX math (amsmath), without the surrounding $…$."""
    return _print(node, "latex", names)


def shape_decl(shape) -> str:
    """The declaration text of a shape: ``scalar``, ``n``, ``m x n``."""
    r, c = (x.matd() for x in shape)
    if shape[0].is_one and shape[1].is_one:
        return "scalar"
    if shape[1].is_one:
        return r
    return f"{r} x {c}"


def program_to_matd(prog) -> str:
    """A whole program as matd text: declarations, functions, definitions, expressions.

    >>> from matd.grammar.parse import parse_program
    >>> print(program_to_matd(parse_program("r = A x; norm(r)^2")))
    A: a x b
    x: b
    r = A x
    norm(r)^2
    """
    lines = []
    for name, var in prog.variables.items():
        attrs = "".join(" " + a for a in prog.attrs(name))
        lines.append(f"{name}: {shape_decl(var.shape)}{attrs}")
    for f in prog.functions.values():
        lines.append(f"{f.name}({', '.join(f.params)}) = {to_matd(f.body)}")
    names: dict[Node, str] = {}
    for st in prog.statements:
        if st.kind == "define":
            lines.append(f"{st.name} = {to_matd(st.node, names)}")
            names.setdefault(st.node, st.name)
        elif st.kind == "expr":
            lines.append(to_matd(st.node, names))
    return "\n".join(lines)


def _dim_symbols(d: Dim) -> set:
    return {f for f in d.factors if isinstance(f, str)}


def declarations(roots, prog, dvars: bool = False) -> list[str]:
    """The statements that make ``roots`` a program on their own (DESIGN §3: every dim and
    user function a printed formula uses is declared in it): declarations of the variables
    they use (and of ``dX`` for each differential, with ``dvars``), of a variable for each
    dim used as a size or a scalar that those do not declare, and the user functions.

    >>> from matd.grammar.parse import parse_program
    >>> p = parse_program("A: m x k; X: n x n; sum(X) / m")
    >>> declarations([p.result], p)
    ['A: m x k', 'X: n x n']
    """
    from matd.core.expr import walk
    used: dict[str, Node] = {}
    diffs: dict[str, Node] = {}
    need: set = set()
    funcs: dict[str, object] = {}

    def visit(root):
        for n in walk(root):
            if n.op == "var":
                used.setdefault(n.params[0], n)
            elif n.op == "dvar":
                diffs.setdefault(n.params[0], n)
            elif n.op == "dim":
                need.update(_dim_symbols(n.params[0]))
            elif n.op in ("ones", "zeros", "eye", "commutation", "unvec", "broadcast"):
                for d in n.shape + tuple(p for p in n.params if isinstance(p, Dim)):
                    need.update(_dim_symbols(d))
            elif n.op == "ufunc":
                uf = n.params[0]
                if uf.name not in funcs:
                    visit(uf.body)       # functions it calls come first
                    funcs[uf.name] = uf

    for r in roots:
        visit(r)
    for name in diffs:                   # the variable of a differential is declared too
        if name in prog.variables:
            used.setdefault(name, prog.variables[name])
    covered = set().union(*(_dim_symbols(d) for v in used.values() for d in v.shape))
    for name, v in prog.variables.items():   # a declaration for each dim left over
        dims = _dim_symbols(v.shape[0]) | _dim_symbols(v.shape[1])
        if name not in used and dims & (need - covered):
            used[name] = v
            covered |= dims
    lines = []
    for name, v in prog.variables.items():   # in program order
        if name in used:
            attrs = "".join(" " + a for a in v.params[1])
            lines.append(f"{name}: {shape_decl(v.shape)}{attrs}")
    if dvars:
        lines += [f"d{name}: {shape_decl(n.shape)}" for name, n in diffs.items()]
    lines += [f"{f.name}({', '.join(f.params)}) = {to_matd(f.body)}" for f in funcs.values()]
    return lines


def _tree_sizes(roots) -> dict:
    """Expanded (tree) size of every node, saturating, for deciding what to name."""
    from matd.core.expr import walk
    sizes: dict[Node, int] = {}
    for r in roots:
        for n in walk(r):
            if n not in sizes:
                sizes[n] = min(1 + sum(sizes[a] for a in n.args), 10 ** 6)
    return sizes


def shared_names(roots, taken=(), min_size: int = 8, prefix: str = "t") -> dict:
    """Names (t1, t2, …) for subexpressions repeated within one of ``roots`` (or, when
    large, across them), inner ones first, so printing stays linear in the DAG's size."""
    from matd.core.expr import walk
    within: dict[Node, int] = {}   # most parents inside one root
    across: dict[Node, int] = {}   # roots it appears in
    order: list[Node] = []
    seen: set = set()
    for r in roots:
        parents: dict[Node, int] = {}
        for n in walk(r):
            across[n] = across.get(n, 0) + 1
            if n not in seen:
                seen.add(n)
                order.append(n)
            for a in set(n.args):
                parents[a] = parents.get(a, 0) + 1
        for n, k in parents.items():
            within[n] = max(within.get(n, 0), k)
    sizes = _tree_sizes(roots)
    names: dict[Node, str] = {}
    k = 0
    for n in order:
        if not n.args or n.op in ("transpose", "neg", "broadcast") or n in roots:
            continue
        if not (within.get(n, 0) >= 2 and sizes[n] >= min_size
                or across.get(n, 0) >= 2 and sizes[n] >= 3 * min_size):
            continue
        k += 1
        while f"{prefix}{k}" in taken:
            k += 1
        names[n] = f"{prefix}{k}"
    return names


def with_where(root: Node, names: dict, fmt: str = "matd") -> tuple[list[tuple[str, str]], str]:
    """(definitions used by root, in order, as (name, text)), and root's text."""
    from matd.core.expr import walk
    used = [n for n in walk(root) if n in names and n is not root]
    defs = [(names[n], _print(n, fmt, names)) for n in used]  # the root of each is expanded
    return defs, _print(root, fmt, names)
