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

import math
import re
import sys

from matd.core.expr import Node, walk_new
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


# Greek names typeset as letters (a paper's \mu, \Sigma); uppercase only where LaTeX has a
# letter of its own (Alpha is A: a name like that stays \mathrm{Alpha}).
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho "
          "sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi "
          "Psi Omega").split()
GREEK_LATEX = {**{g: "\\" + g for g in _GREEK}, "eps": r"\epsilon"}
GREEK_LATEX.update({chr(c): GREEK_LATEX[g] for c, g in zip(   # names written in Greek letters
    range(0x3b1, 0x3ca), "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
    "nu xi o pi rho s sigma tau upsilon phi chi psi omega".split()) if g in GREEK_LATEX})
GREEK_LATEX.update({chr(c): "\\" + g for c, g in zip(range(0x391, 0x3aa), (
    "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P - Sigma T Upsilon Phi X Psi "
    "Omega").split()) if g in _GREEK})


_VULGAR = {(1, 2): "½", (1, 3): "⅓", (2, 3): "⅔", (1, 4): "¼", (3, 4): "¾", (1, 6): "⅙",
           (5, 6): "⅚", (1, 7): "⅐", (1, 8): "⅛", (3, 8): "⅜", (5, 8): "⅝", (7, 8): "⅞",
           (1, 9): "⅑"}


def fraction(v) -> tuple[int, int] | None:
    """(p, q) when the number ``v`` is exactly the float of p/q, q a small denominator
    (2–12; not 5 or 10, whose fractions read as decimals: 0.2, 0.3), p < 100 — the
    coefficients a paper writes as fractions: 0.5 = 1/2, 0.25, 1/3, 2.5 = 5/2.

    >>> [fraction(x) for x in (0.5, 1 / 3, 2.5, -0.75, 0.1, 0.2, 3.0, 0.001, 1 / 12)]
    [(1, 2), (1, 3), (5, 2), (-3, 4), None, None, None, None, (1, 12)]
    """
    if not isinstance(v, float) or not math.isfinite(v) or v == int(v):
        return None
    for q in (2, 3, 4, 6, 7, 8, 9, 11, 12):   # the first that fits is in lowest terms
        p = round(v * q)
        if abs(p) < 100 and p / q == v:
            return p, q
    return None


def _latex_name(name: str) -> str:
    """A name as LaTeX: ``X``, ``W_{2}`` (W2 and W_2), ``\\mu``, ``\\sigma_{1}``,
    ``\\mathrm{lam}``.

    >>> print(*(_latex_name(n) for n in ("W2", "W_2", "mu", "Sigma2", "lam", "eps", "x_hat")))
    W_{2} W_{2} \\mu \\Sigma_{2} \\mathrm{lam} \\epsilon \\mathrm{x\\_hat}
    """
    m = re.fullmatch(r"([A-Za-z\u0370-\u03ff]+)_?([0-9]+)", name)
    base, sub = (m.group(1), m.group(2)) if m else (name, None)
    if base in GREEK_LATEX:
        base = GREEK_LATEX[base]
    else:
        base = base.replace("_", r"\_")
        if len(base) > 1:
            base = rf"\mathrm{{{base}}}"
    return f"{base}_{{{sub}}}" if sub else base


def _latex_dim(text) -> str:
    """A size in a LaTeX subscript: a dim's name as the formulas write it (n_{1})."""
    text = str(text)
    return _latex_name(text) if re.fullmatch(r"[A-Za-z_\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*",
                                             text) else text


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
                    "latex": f"K_{{{_latex_dim(m)},{_latex_dim(n)}}}"}[fmt], ATOM
        if op == "const":
            v = node.params[0]
            pq = fraction(v) if fmt != "matd" else None
            if pq is not None:    # \frac{1}{2}, ½ (matd text keeps 0.5: it re-parses)
                p, q = abs(pq[0]), pq[1]
                text = (rf"\frac{{{p}}}{{{q}}}" if fmt == "latex"
                        else _VULGAR.get((p, q), _num(abs(v), fmt)))
                return ("-" + text, UNARY) if v < 0 else (text, ATOM)
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
                return f"{sym}_{{{','.join(_latex_dim(x) for x in dims)}}}", ATOM
            return f"{op}({', '.join(str(x) for x in dims)})", ATOM
        if op == "broadcast":
            return self.go(_explicit_broadcast(node))
        if op == "unvec":
            inner, m = self.go(node.args[0])[0], _dim_text(node.params[0])
            if fmt == "latex":
                return (r"\operatorname{vec}^{-1}_{" + _latex_dim(m) + r"}\left(" + inner
                        + r"\right)"), ATOM
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
        if op == "div" and fmt == "unicode" and all(
                x.op == "const" and x not in self.names for x in node.args):
            pq = tuple(x.params[0] for x in node.args)   # 1/3 as typed: ⅓
            if pq in _VULGAR:
                return _VULGAR[pq], ATOM
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
        text, prec = self.go(node)
        if prec == POSTFIX and node not in self.names:   # (X²)ᵀ, (X³)⁻¹, (Xᵀ)², (X⁺)ᵀ
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
            while args[1].op == "matmul" and args[1] not in self.names:
                args[1:2] = args[1].args     # c ((A B) C) as c A B C: the parser's tree
        if node.op == "matmul" and any(a.is_scalar for a in args) and self.fmt == "matd":
            sym, juxt = "@", False  # a 1×1 operand: juxtaposition would read as a scaling
        # Beside ⊗ ∘ ⊘ a product is parenthesized, and so is one of them beside a juxtaposed
        # product: (A B) ⊗ C, (C Vᵀ) ∘ S, x ∘ (-y), (M ∘ R) V, (A ⊗ B) x — the same tree
        # as without (the operators share one level), but read the way it is meant.
        elementwise = node.op in ("hadamard", "hdiv", "kron")
        bare = _implicit_sizes(args) if node.op in ("hadamard", "hdiv") else (False, False)
        first = spec.prec
        if elementwise:
            first = PROD if args[0].op == node.op == "hadamard" and args[0] not in self.names \
                else UNARY
        elif juxt and args[0].op in _SYMBOLIC_PRODUCTS and args[0] not in self.names:
            first = POSTFIX
        parts = [self.operand(args[0], first, bare)]
        # A juxtaposed operand is a postfix expression (no unary minus): `A (-B)`.
        for b in args[1:]:
            parts.append(self.operand(b, POSTFIX if juxt or elementwise else spec.prec + 1,
                                      bare))
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
        return " ".join(self.terms(node)), SUM

    def terms(self, node: Node) -> list[str]:
        """The terms of a sum as printed, each after the first with its sign: a, + b, − c."""
        minus = {"matd": "-", "unicode": "−", "latex": "-"}[self.fmt]
        terms = list(node.args)
        negs = [_negated(t) is not None and t not in self.names for t in terms]
        if negs[0] and not all(negs):  # lead with a positive term: a − b, not −b + a
            k = negs.index(False)
            terms.insert(0, terms.pop(k))
        bare = _implicit_sizes([_negated(t) or t if t not in self.names else t
                                for t in terms])
        lead = terms[0]
        out = [self.operand(lead, SUM, bare)]
        if lead.op == "add" and lead not in self.names and out[0] == self.go(lead)[0]:
            out = self.terms(lead)    # (x − y) + z, as the parser builds x − y + z
        for b in terms[1:]:
            neg = _negated(b) if b not in self.names else None
            if neg is not None:
                out.append(f"{minus} {self.operand(neg, PROD, bare)}")
            else:
                out.append(f"+ {self.operand(b, PROD, bare)}")
        return out

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


_SYMBOLIC_PRODUCTS = ("hadamard", "hdiv", "kron", "div")   # products with an operator sign


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


def sum_terms(node: Node, fmt: str, names: dict | None = None) -> list[str]:
    """The terms of a sum as ``fmt`` prints them (the first bare, the others after their
    sign), to lay a long sum out over lines; [the whole text] for anything else.

    >>> from matd.grammar.parse import parse_program
    >>> sum_terms(parse_program("x, y, z: n; x - y + 2 z").result, "unicode")
    ['x', '− y', '+ 2 z']
    """
    p = _Printer(fmt, names)
    if node.op != "add" or node in p.names:
        return [p.go(node, top=True)[0]]
    return p.terms(node)


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
    used: dict[str, Node] = {}
    diffs: dict[str, Node] = {}
    need: set = set()
    funcs: dict[str, object] = {}

    def visit(roots):
        for n in walk_all(roots):
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
                    visit([uf.body])     # functions it calls come first
                    funcs[uf.name] = uf

    visit(roots)
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


def walk_all(roots) -> list[Node]:
    """The distinct nodes under all of ``roots``, children before parents, in order of first
    appearance: one walk, however much the roots share (a walk per root would be quadratic
    in a network's depth: every layer's gradient holds the whole forward pass).

    >>> from matd.grammar.parse import parse_program
    >>> f = parse_program("A, B: n x n; tr(A B) + tr(B)").result
    >>> [to_matd(n) for n in walk_all([f.args[1], f])]
    ['B', 'tr(B)', 'A', 'A B', 'tr(A B)', 'tr(A B) + tr(B)']
    """
    seen: set[int] = set()
    order: list[Node] = []
    for root in roots:
        walk_new(root, seen, order)
    return order


def root_masks(order, roots) -> dict:
    """node -> the roots whose DAG holds it, as a bit set (bit i: ``roots[i]``), where
    ``order`` is ``walk_all(roots)``: parents hand their bits to their parts, one pass over
    the edges (with bit sets as wide as the roots are many, a few machine words)."""
    mask: dict[Node, int] = {}
    for i, r in enumerate(roots):
        mask[r] = mask.get(r, 0) | 1 << i
    for n in reversed(order):          # parents before their parts
        m = mask.get(n, 0)
        for a in n.args:
            mask[a] = mask.get(a, 0) | m
    return mask


def _tree_sizes(order) -> dict:
    """Expanded (tree) size of every node of ``order`` (children first), saturating, for
    deciding what to name."""
    sizes: dict[Node, int] = {}
    for n in order:
        sizes[n] = min(1 + sum(sizes[a] for a in n.args), 10 ** 6)
    return sizes


def occurrences(roots):
    """(within, across, order): for each node, the most parents it has inside one root
    (capped at 2: 1, or 2 for "two or more") and the number of roots it appears in; and
    the nodes in order of first appearance.  One walk: a node has two parents inside one
    root when the roots of one parent meet those of the parents before it."""
    order = walk_all(roots)
    mask = root_masks(order, roots)
    within: dict[Node, int] = {}
    across: dict[Node, int] = {}
    met: dict[Node, int] = {}          # node -> the roots of its parents seen so far
    for n in order:
        across[n] = mask[n].bit_count()
        m = mask[n]
        for a in set(n.args):
            before = met.get(a, 0)
            within[a] = 2 if before & m or within.get(a) == 2 else 1
            met[a] = before | m
    return within, across, order


def shared_names(roots, taken=(), min_size: int = 8, prefix: str = "t") -> dict:
    """Names (t1, t2, …) for subexpressions repeated within one of ``roots`` (or, when
    large, across them), inner ones first, so printing stays linear in the DAG's size.
    Work is linear in the DAG's size too: one walk for all the roots.

    A piece of a differential (a subexpression with a ``dX`` in it) is not named: ``df =
    tr(t4) − t3`` would say nothing.  Only where one such piece, large even as printed
    with the names given so far, repeats within a root is it named (so that printing stays
    linear in the DAG's size)."""
    within, across, order = occurrences(roots)
    sizes = _tree_sizes(order)
    rootset = set(roots)
    names: dict[Node, str] = {}
    has_d: dict[Node, bool] = {}
    shown: dict[Node, int] = {}    # size as printed, with the names given so far
    k = 0
    for n in order:
        has_d[n] = n.op == "dvar" or any(has_d[a] for a in n.args)
        shown[n] = min(1 + sum(1 if a in names else shown[a] for a in n.args), 10 ** 6)
        if not n.args or n.op in ("transpose", "neg", "broadcast") or n in rootset:
            continue
        if has_d[n]:
            if not (within.get(n, 0) >= 2 and shown[n] >= 4 * min_size):
                continue
        elif not (within.get(n, 0) >= 2 and sizes[n] >= min_size
                  or across.get(n, 0) >= 2 and sizes[n] >= 3 * min_size):
            continue
        k += 1
        while f"{prefix}{k}" in taken:
            k += 1
        names[n] = f"{prefix}{k}"
    return names


def contains_d(order) -> dict:
    """node -> whether a differential dX occurs in it, for the nodes of ``order`` (children
    first, as ``walk_all`` gives them)."""
    has: dict[Node, bool] = {}
    for n in order:
        has[n] = n.op == "dvar" or any(has[a] for a in n.args)
    return has


def fit_names(roots, names: dict, width: int, taken=(), prefix: str = "t") -> dict:
    """``names`` with more names where a printed row would be wider than ``width``
    characters (of the unicode text, a proxy for the typeset width), as a paper lays out a
    long formula: rows of ``where`` definitions.

    Bottom-up, every part is kept to ``width`` where it can be: a part that prints wider
    names the largest of the parts it prints that fit (weighted by how often all the rows
    print them) until it fits — so each row (a root or a definition) fits.  Never a part
    with a ``dX`` in it (see ``shared_names``), nor a term of a sum.  Work is linear in the
    DAG's size times ``width``.  The names given here and by ``shared_names`` (``t1``, …
    not in ``taken``) are then numbered in the order the rows print them."""
    names = dict(names)
    order = walk_all(roots)
    generated = [n for n, v in names.items() if re.fullmatch(rf"{prefix}[0-9]+", v)
                 and v not in taken]
    has_d = contains_d(order)
    in_sums = {a for n in order if n.op == "add" for a in n.args}  # a + b + c: no t = a + b
    prints = _print_counts(order, roots, names)
    parents: dict[Node, set] = {}
    for n in order:
        for a in n.args:
            parents.setdefault(a, set()).add(n)
    p = _Printer("unicode", {**_glyph_names(order), **names})   # μ for mu: as typeset
    rootset = set(roots)
    stuck: set = set()   # wide, with nothing left to name in them

    def eligible(n):
        return (n.args and n not in names and not has_d[n] and n not in rootset
                and n.op not in ("transpose", "neg", "broadcast")
                and not (n.op == "add" and n in in_sums))

    for n in order:
        if not n.args or len(p.go(n, top=True)[0]) <= width:
            continue
        for _ in range(len(n.args) + 8):
            stack, seen = [n], {n}        # the parts n prints (wide ones are stuck)
            while stack:
                for a in stack.pop().args:
                    if a not in seen and a not in p.names and a not in stuck:
                        seen.add(a)
                        stack.append(a)
            best, score = None, 0
            for c in seen:
                if c is not n and eligible(c):
                    size = len(p.go(c, top=True)[0])
                    if 6 <= size <= width and size * max(prints.get(c, 1), 1) > score:
                        best, score = c, size * max(prints.get(c, 1), 1)
            if best is None:
                break
            names[best] = p.names[best] = prefix + "0"     # numbered below
            generated.append(best)
            up = [best]                   # what printed it is printed anew (a printed
            while up:                     # node's parts are printed: the walk stops early)
                for q in parents.get(up.pop(), ()):
                    if q in p.memo:
                        del p.memo[q]
                        up.append(q)
            if len(p.go(n, top=True)[0]) <= width:
                break
        if len(p.go(n, top=True)[0]) > width:
            stuck.add(n)
    gen = set(generated)
    used = {v for n, v in names.items() if n not in gen} | set(taken)
    first = {n: None for n in walk_all(roots) if n in gen}
    k = 0
    for n in list(first) + [n for n in generated if n not in first]:
        k += 1
        while f"{prefix}{k}" in used:
            k += 1
        names[n] = f"{prefix}{k}"
    return names


def _print_counts(order, roots, names) -> dict:
    """How many times the rows (roots and named parts) print each part's text."""
    count: dict[Node, int] = {}
    rootset = set(roots)
    for n in reversed(order):          # parents before children
        k = count.get(n, 0) + (1 if n in rootset else 0)
        count[n] = k
        inline = 1 if n in names else k     # a named part's text is printed once
        for a in n.args:
            count[a] = count.get(a, 0) + inline
    return count


def _glyph_names(nodes) -> dict:
    """Variables (and their differentials) that LaTeX typesets shorter than their names:
    Greek ones (``lambda`` is λ), measured as one letter and their subscript."""
    out: dict[Node, str] = {}
    for n in nodes:
        if n.op in ("var", "dvar"):
            m = re.fullmatch(r"([A-Za-z\u0370-\u03ff]+)_?([0-9]*)", str(n.params[0]))
            if m and m.group(1) in GREEK_LATEX:
                out[n] = ("d" if n.op == "dvar" else "") + "μ" + m.group(2)
    return out


def with_where(root: Node, names: dict, fmt: str = "matd") -> tuple[list[tuple[str, str]], str]:
    """(definitions used by root, in order, as (name, text)), and root's text."""
    from matd.core.expr import walk
    used = [n for n in walk(root) if n in names and n is not root]
    defs = [(names[n], _print(n, fmt, names)) for n in used]  # the root of each is expanded
    return defs, _print(root, fmt, names)


def where_all(roots, names: dict, fmt: str = "matd", with_nodes: bool = False) -> list:
    """The rows of a whole derivation: for each of ``roots`` in order, (the definitions it
    uses that no row before it used, in order, as (name, text)), and its text — each named
    part shown once, after the first row that uses it.  One walk and one printer for all
    the rows, so the work is linear in the DAG's size however many rows share it (a
    ``with_where`` per row would walk, and print, the shared parts once per row).  With
    ``with_nodes`` the definitions are (name, text, node).

    >>> from matd.grammar.parse import parse_program
    >>> p = parse_program("x: n; A: n x n; y = A x; tr(y y^T) + sum(y)")
    >>> y, f = p.definitions["y"], p.result
    >>> where_all([f.args[1], f], {y: "y"})
    [([('y', 'A x')], 'sum(y)'), ([], 'tr(y y^T) + sum(y)')]
    """
    rows = WhereRows(names, fmt, with_nodes)
    return [rows(root) for root in roots]


class WhereRows:
    """``where_all`` one row at a time, for renderers that interleave rows with their own
    text (the steps of ``--steps``): ``rows(root)`` is (the definitions root uses that no
    earlier row used, its text), with one printer and one walk for all the rows."""

    def __init__(self, names: dict, fmt: str = "matd", with_nodes: bool = False):
        self.names, self.with_nodes = names, with_nodes
        self.printer = _Printer(fmt, names)
        self.seen: set[int] = set()

    def __call__(self, root: Node):
        names, p = self.names, self.printer
        new = walk_new(root, self.seen, [])
        if new and new[-1] is root and root in names:
            self.seen.discard(id(root))     # printed whole here; a row that uses it defines it
        defs = [(names[n], p.go(n, top=True)[0]) + ((n,) if self.with_nodes else ())
                for n in new if n in names and n is not root]
        return defs, p.go(root, top=True)[0]

