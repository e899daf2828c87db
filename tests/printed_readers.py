"""Test-side readers: matd's own unicode text and LaTeX output back into matd syntax.

The unicode text (``--format text``) and the LaTeX are for people, not matd programs; to
hold them to their meaning the tests read them back with these readers and evaluate.  Both
readers share one recursive-descent parser over the precedence ladder of DESIGN §1 (sum <
product < unary < postfix < atom, juxtaposition taking a postfix operand, as matd.lark does),
fed by two lexers, and emit fully parenthesized matd text, so what matd's own grammar makes
of the result is exactly what a reader of the printed formula sees.

They read exactly the constructs the printers emit (core/printers.py and the printing
columns of core/primitives.py): ᵀ ⁻¹ ⁻ᵀ ⁺ superscript powers, ∘ ⊘ ⊗, X∘², ‖x‖ ‖x‖_1 ‖x‖_2
‖x‖_* |x| √(…) σ(…) ⟨a, b⟩ λmax λmin v_max v_min u₁ v₁ K(m,n) …, and \\left( \\right)
\\top \\odot \\oslash \\otimes \\frac{a}{b} \\sqrt{…} \\mathbf{1}_{m,n} \\operatorname{…} …

>>> unicode_to_matd("Aᵀ σ(A x) ∘ ‖x‖²")
'(((A)^T sigmoid((A x))) .* (norm(x))^2)'
>>> latex_to_matd(r"\\frac{\\left\\|x\\right\\|_{1}}{2}\\,X^{\\top}")
'((norm1(x) / 2) (X)^T)'
"""
from __future__ import annotations

import json
import re

__all__ = ["unicode_to_matd", "latex_to_matd", "read_text_output", "read_latex_output",
           "latex_program", "text_program", "json_programs", "ReadError", "names_in"]


class ReadError(ValueError):
    """The printed text is not one of the forms the printers emit (or is ambiguous)."""


_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_UNI_FUNCS = {"σ": "sigmoid", "√": "sqrt", "λmax": "lambda_max", "λmin": "lambda_min",
              "v_max": "eigvec_max", "v_min": "eigvec_min", "u₁": "svd_u1", "v₁": "svd_v1",
              "K": "commutation"}
_NORM_SUB = {"": "norm", "1": "norm1", "2": "specnorm", "*": "nuclear",
             "₁": "norm1", "₂": "specnorm"}


# --- AST -> matd text -----------------------------------------------------------------------
def emit(t) -> str:
    k = t[0]
    if k in ("num", "name"):
        return t[1]
    if k == "call":
        return f"{t[1]}({', '.join(emit(a) for a in t[2])})"
    if k in ("+", "-"):
        return f"({emit(t[1])} {k} {emit(t[2])})"
    if k == "juxt":
        return f"({emit(t[1])} {emit(t[2])})"
    if k in (".*", "./", "/", "*", "@"):
        return f"({emit(t[1])} {k} {emit(t[2])})"
    if k == "kron":
        return f"kron({emit(t[1])}, {emit(t[2])})"
    if k == "neg":
        return f"(-{emit(t[1])})"
    if k == "T":
        return f"({emit(t[1])})^T"
    if k == "inv":
        return f"({emit(t[1])})^-1"
    if k == "invT":
        return f"({emit(t[1])})^-T"
    if k == "pinv":
        return f"pinv({emit(t[1])})"
    if k in ("pow", "epow"):
        op = "^" if k == "pow" else ".^"
        e = t[2]
        if e[0] == "num" and re.fullmatch(r"[0-9]+", e[1]):
            return f"({emit(t[1])}){op}{e[1]}"
        return f"({emit(t[1])}){op}({emit(e)})"
    raise AssertionError(t)


def names_in(t, out=None) -> set:
    """The names an AST refers to (to pick the ``where`` definitions a row needs)."""
    out = set() if out is None else out
    if t[0] == "name":
        out.add(t[1])
    elif t[0] == "call":
        for a in t[2]:
            names_in(a, out)
    elif t[0] != "num":
        for a in t[1:]:
            if isinstance(a, tuple):
                names_in(a, out)
    return out


# --- the shared parser ---------------------------------------------------------------------
class _Parser:
    """Tokens are tuples (kind, value...).  Kinds: num name func ( ) , + - binop juxt
    post pow epow open close, and atom (a whole pre-parsed atom from the LaTeX lexer)."""

    BIN = {".*", "./", "kron", "/", "*", "@"}
    LOOSE = {".*", "./", "kron"}

    def __init__(self, toks, implicit_juxt: bool, human: bool = False):
        self.toks = toks
        self.i = 0
        self.implicit = implicit_juxt
        self.human = human
        self.stack: list[str] = []   # open delimiters (for ‖ and |, which close themselves)

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("eof",)

    def take(self, kind=None):
        t = self.peek()
        if kind is not None and t[0] != kind:
            raise ReadError(f"expected {kind}, got {t} at token {self.i}")
        self.i += 1
        return t

    def parse(self):
        e = self.sum()
        if self.peek()[0] != "eof":
            raise ReadError(f"trailing tokens from {self.i}: {self.toks[self.i:self.i + 5]}")
        return e

    def sum(self):
        t = self.product()
        while self.peek()[0] in ("+", "-"):
            op = self.take()[0]
            t = (op, t, self.product())
        return t

    def starts_operand(self, t) -> bool:
        k = t[0]
        if k in ("num", "name", "func", "(", "atom"):
            return True
        if k == "bar":   # ‖ or |: closes the innermost open one, else opens an operand
            return not self.stack or self.stack[-1] != t[1]
        if k == "open":
            return True
        return False

    def product(self):
        if self.human:
            return self.loose()
        return self.tight()

    def loose(self):
        """As a person reads ∘ ⊘ ⊗: looser than juxtaposition (A B ∘ C is (A B) ∘ C)."""
        t = self.tight()
        while self.peek()[0] == "binop" and self.peek()[1] in self.LOOSE:
            op = self.take()[1]
            t = (op, t, self.tight())
        return t

    def tight(self):
        t = self.unary()
        while True:
            k = self.peek()
            if k[0] == "binop":
                if self.human and k[1] in self.LOOSE:
                    return t
                self.take()
                t = (k[1], t, self.unary())
            elif k[0] == "juxt":
                self.take()
                t = ("juxt", t, self.postfix())
            elif self.implicit and self.starts_operand(k):
                t = ("juxt", t, self.postfix())
            else:
                return t

    def unary(self):
        k = self.peek()[0]
        if k == "-":
            self.take()
            return ("neg", self.unary())
        if k == "+":
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self):
        t = self.atom()
        while True:
            k = self.peek()
            if k[0] == "post":
                self.take()
                t = (k[1], t)
            elif k[0] in ("pow", "epow"):
                self.take()
                e = k[1] if isinstance(k[1], tuple) else self.exponent()
                t = (k[0], t, e)
            else:
                return t

    def exponent(self):
        """After ^ or .^ in unicode: INT | FLOAT | -number | NAME | ( expr )."""
        k = self.peek()
        if k[0] == "-":
            self.take()
            n = self.take("num")
            return ("num", "-" + n[1])
        if k[0] in ("num", "name"):
            return self.take()
        if k[0] == "(":
            self.take()
            e = self.sum()
            self.take(")")
            return e
        raise ReadError(f"bad exponent {k}")

    def args(self):
        self.take("(")
        self.stack.append("(")   # bars inside parentheses open anew: |(|c| x)|
        out = []
        if self.peek()[0] != ")":
            out.append(self.sum())
            while self.peek()[0] == ",":
                self.take()
                out.append(self.sum())
        self.take(")")
        self.stack.pop()
        return out

    def atom(self):
        t = self.take()
        k = t[0]
        if k in ("num", "name"):
            return t
        if k == "atom":
            return t[1]
        if k == "func":
            name = t[1]
            if self.peek()[0] == "bar":   # LaTeX \log\left|…\right| (log|det X|)
                return ("call", name, [self.atom()])
            return ("call", name, self.args())
        if k == "(":
            self.stack.append("(")
            e = self.sum()
            self.take(")")
            self.stack.pop()
            return e
        if k == "bar":                      # ‖…‖ or |…| (unicode), open (LaTeX)
            self.stack.append(t[1])
            e = self.sum()
            c = self.take()
            self.stack.pop()
            if c[0] != "bar" or c[1] != t[1]:
                raise ReadError(f"unclosed {t[1]}: got {c}")
            if t[1] == "‖":
                sub = c[2] if len(c) > 2 else ""
                return ("call", _NORM_SUB[sub], [e])
            return ("call", "abs", [e])
        if k == "open":                     # ⟨a, b⟩ or LaTeX's paired delimiters
            what = t[1]
            self.stack.append(what)
            items = [self.sum()]
            while self.peek()[0] == ",":
                self.take()
                items.append(self.sum())
            c = self.take()
            self.stack.pop()
            if c[0] != "close" or c[1] != what:
                raise ReadError(f"unclosed {what}: got {c}")
            if what == "angle":
                return ("call", "dot", items)
            if len(items) != 1:
                raise ReadError(f"{what} with {len(items)} items")
            if what == "norm":
                return ("call", _NORM_SUB[c[2]], items)
            if what == "abs":
                return ("call", "abs", items)
            return items[0]
        raise ReadError(f"unexpected token {t} at {self.i - 1}")


# --- unicode ---------------------------------------------------------------------------------
_UNI_TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<frac>[½⅓⅔¼¾⅙⅚⅐⅛⅜⅝⅞⅑])
| (?P<num>[0-9]+\.[0-9]+(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+(?:[eE][-+]?[0-9]+)?)
| (?P<eye>I(?:[₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ]+|_\([^)]*\)))
| (?P<name>λmax|λmin|u₁|v₁|[A-Za-z_\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*)
| (?P<esup>∘[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)
| (?P<invT>⁻ᵀ)
| (?P<sup>[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)
| (?P<T>ᵀ|\^T(?![A-Za-z0-9_]))
| (?P<pinv>⁺)
| (?P<epow>\.\^)
| (?P<pow>\^)
| (?P<binop>\.\*|\./|∘|⊘|⊗|/|\*|@)
| (?P<plus>\+)
| (?P<minus>[-−])
| (?P<norm>‖(?:_[12*]|[₁₂])?)
| (?P<abs>\|)
| (?P<lp>\()
| (?P<rp>\))
| (?P<comma>,)
| (?P<langle>⟨)
| (?P<rangle>⟩)
| (?P<sqrt>√)
""", re.VERBOSE)
_BINOP = {".*": ".*", "∘": ".*", "./": "./", "⊘": "./", "⊗": "kron", "/": "/", "*": "*",
          "@": "@"}


_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅙": (1, 6),
           "⅚": (5, 6), "⅐": (1, 7), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
           "⅑": (1, 9)}
_UNSUB = dict(zip("₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", "0123456789aehijklmnoprstuvx"))


def _eye_size(sub: str) -> str:
    """The size of a printed identity: ₘₙ -> m*n, ₂ₙ -> 2*n, _(dim1·n) -> dim1*n."""
    if sub.startswith("_("):
        return sub[2:-1].replace("·", "*")
    plain = "".join(_UNSUB[c] for c in sub)
    return "*".join(re.findall(r"[0-9]+|[a-z]", plain))


def _uni_tokens(text: str):
    toks = []
    pos = 0
    while pos < len(text):
        m = _UNI_TOKEN.match(text, pos)
        if not m:
            raise ReadError(f"cannot read {text[pos:pos + 12]!r} in {text!r}")
        kind, val = m.lastgroup, m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "num":
            toks.append(("num", val))
        elif kind == "frac":
            p, q = _VULGAR[val]
            toks.append(("atom", ("/", ("num", str(p)), ("num", str(q)))))
        elif kind == "eye":
            toks.append(("name", f"eye({_eye_size(val[1:])})"))
        elif kind == "name":
            call = pos < len(text) and text[pos] == "("
            if call:
                toks.append(("func", _UNI_FUNCS.get(val, val)))
            else:
                toks.append(("name", val))
        elif kind == "sqrt":
            toks.append(("func", "sqrt"))
        elif kind == "esup":
            toks.append(("epow", ("num", val[1:].translate(_SUPER))))
        elif kind == "sup":
            k = val.translate(_SUPER)
            toks.append(("post", "inv") if k == "-1" else ("pow", ("num", k)))
        elif kind in ("invT", "T", "pinv"):
            toks.append(("post", kind))
        elif kind in ("epow", "pow"):
            toks.append((kind, None))
        elif kind == "binop":
            toks.append(("binop", _BINOP[val]))
        elif kind == "plus":
            toks.append(("+",))
        elif kind == "minus":
            toks.append(("-",))
        elif kind == "norm":
            sub = val[1:].lstrip("_")
            toks.append(("bar", "‖", sub))
        elif kind == "abs":
            toks.append(("bar", "|"))
        elif kind == "lp":
            toks.append(("(",))
        elif kind == "rp":
            toks.append((")",))
        elif kind == "comma":
            toks.append((",",))
        elif kind == "langle":
            toks.append(("open", "angle"))
        elif kind == "rangle":
            toks.append(("close", "angle"))
    return toks


def _uni_ast(text: str, human: bool = False):
    p = _Parser(_uni_tokens(text), implicit_juxt=True, human=human)
    return p.parse()


def unicode_to_matd(text: str, human: bool = False) -> str:
    """matd's unicode text of one expression -> matd syntax with the same meaning.  With
    ``human``, as a person reads it: ∘ ⊘ ⊗ looser than juxtaposition (``A B ∘ C`` is
    ``(A B) ∘ C``); where the printers parenthesize as they should, both readings agree."""
    return emit(_uni_ast(text, human))


# --- LaTeX -----------------------------------------------------------------------------------
def _brace(text: str, pos: int) -> tuple[str, int]:
    """The contents of the {…} group starting at text[pos] == '{', and the end position."""
    if text[pos] != "{":
        raise ReadError(f"expected {{ at {pos} in {text!r}")
    depth = 0
    for j in range(pos, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1:j], j + 1
    raise ReadError(f"unbalanced braces in {text!r}")


def _latex_dims(sub: str) -> list:
    return [("name", _latex_ident(d.strip())) if not d.strip().isdigit() else ("num", d.strip())
            for d in sub.split(",")]


_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho "
          "sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi "
          "Psi Omega").split()
_LGREEK = re.compile(r"\\(?P<greek>" + "|".join(sorted(_GREEK, key=len, reverse=True))
                     + r")(?![A-Za-z])(_\{(?P<sub>[0-9]+)\})?")
_names_now: set = set()    # the names of the program being read (latex_to_matd's ``names``)


def _resolve(name: str) -> str:
    """A name as LaTeX spells it (W2, epsilon, mu2) -> the program's spelling of it, where
    LaTeX's is shared (W_2 and W2 are both W_{2}; eps and epsilon both \\epsilon; μ is
    \\mu)."""
    if not _names_now or name in _names_now:
        return name
    m = re.fullmatch(r"(.*?)([0-9]*)", name)
    base, sub = m.group(1), m.group(2)
    bases = [base] + (["eps", "ε", "ϵ"] if base == "epsilon" else [])
    bases += [chr(0x3b1 + i) for i, g in enumerate(_GREEK[:24]) if g == base]
    for b in bases:
        for cand in (b + sub, b + "_" + sub if sub else b):
            if cand in _names_now:
                return cand
    return name


def _latex_ident(text: str) -> str:
    """A name or a dim as the printers write it in LaTeX (``n``, ``n_{1}``, ``\\mu_{2}``,
    ``\\mathrm{dim}_{1}``) -> the program's name; other sizes (``m \\cdot n``) unchanged."""
    m = _LGREEK.fullmatch(text) or _LNAME.fullmatch(text)
    if not m:
        return text
    g = m.groupdict()
    base = (g.get("greek") or g.get("long") or g.get("short")).replace(r"\_", "_")
    return _resolve(base + (m.group("sub") or ""))


_LATEX_FUNCS = {r"\exp": "exp", r"\log": "log", r"\sin": "sin", r"\cos": "cos",
                r"\tanh": "tanh", r"\sigma": "sigmoid", r"\det": "det"}
_LEYE = re.compile(r"\\mathrm\{I\}_\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_LNAME = re.compile(r"(\\mathrm\{(?P<long>[A-Za-z0-9\\_]+)\}|(?P<short>[A-Za-z]))"
                    r"(_\{(?P<sub>[0-9]+)\})?")
_LNUM = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:\\cdot 10\^\{(?P<ex>-?[0-9]+)\})?")


# fixed spellings and their tokens (none is a prefix of a spelling the lexer reads otherwise)
_LATEX_LITERALS = {
    r"\,": ("juxt",), r"\left\langle": ("open", "angle"), r"\right\rangle": ("close", "angle"),
    r"\left\|": ("open", "norm"), r"\left|": ("open", "abs"), r"\right|": ("close", "abs"),
    r"\left(": ("open", "paren"), r"\right)": ("close", "paren"),
    r"\lambda_{\max}": ("func", "lambda_max"), r"\lambda_{\min}": ("func", "lambda_min"),
    "+": ("+",), "-": ("-",), ",": (",",), r"\odot": ("binop", ".*"),
    r"\oslash": ("binop", "./"), r"\otimes": ("binop", "kron"), "⊗": ("binop", "kron"),
    "/": ("binop", "/"),
}


def _latex_tokens(text: str):
    toks = []
    pos = 0
    n = len(text)

    def at(s):
        return text.startswith(s, pos)

    while pos < n:
        c = text[pos]
        if c.isspace():
            pos += 1
            continue
        lit = next((k for k in _LATEX_LITERALS if at(k)), None)
        if lit is not None:
            toks.append(_LATEX_LITERALS[lit])
            pos += len(lit)
        elif at(r"\right\|"):
            pos += len(r"\right\|")
            sub = ""
            if text.startswith("_{", pos):
                sub, pos = _brace(text, pos + 1)
            toks.append(("close", "norm", sub))
        elif at(r"\frac"):
            a, pos = _brace(text, pos + len(r"\frac"))
            b, pos = _brace(text, pos)
            toks.append(("atom", ("/", _latex_ast(a), _latex_ast(b))))
        elif at(r"\sqrt"):
            a, pos = _brace(text, pos + len(r"\sqrt"))
            toks.append(("atom", ("call", "sqrt", [_latex_ast(a)])))
        elif at(r"\mathbf{1}_") or at(r"\mathbf{0}_"):
            what = "ones" if text[pos + 8] == "1" else "zeros"
            sub, pos = _brace(text, pos + len(r"\mathbf{1}_"))
            toks.append(("atom", ("call", what, _latex_dims(sub))))
        elif at("K_{"):
            sub, pos = _brace(text, pos + 2)
            toks.append(("atom", ("call", "commutation", _latex_dims(sub))))
        elif at(r"\operatorname{vec}^{-1}_"):
            sub, pos = _brace(text, pos + len(r"\operatorname{vec}^{-1}_"))
            if not text.startswith(r"\left(", pos):
                raise ReadError("unvec without an argument")
            # the argument: parse the parenthesized group, then append the row count
            toks.append(("unvec", sub))
        elif at(r"\operatorname"):
            name, pos = _brace(text, pos + len(r"\operatorname"))
            toks.append(("func", name.replace(r"\_", "_")))
        elif at(r"v_{\max}\left(") or at(r"v_{\min}\left("):
            toks.append(("func", "eigvec_max" if at(r"v_{\max}") else "eigvec_min"))
            pos += len(r"v_{\max}")
        elif (at(r"u_{1}\left(") or at(r"v_{1}\left(")):
            toks.append(("func", "svd_u1" if c == "u" else "svd_v1"))
            pos += len(r"u_{1}")
        elif at(r"\mathrm{d}") and (m := _LGREEK.match(text, pos + 10)
                                     or _LNAME.match(text, pos + 10)):   # \mathrm{d}X: dX
            toks.append(("name", "d" + _latex_ident(m.group())))
            pos = m.end()
        elif (m := _LGREEK.match(text, pos)) and not (
                m.group("greek") == "sigma" and not m.group("sub")
                and text.startswith(r"\left(", m.end())):   # \sigma\left(: sigmoid
            toks.append(("name", _latex_ident(m.group())))
            pos = m.end()
        elif any(at(f) for f in _LATEX_FUNCS) and (
                m := re.match(r"\\[a-z]+", text[pos:])) and m.group() in _LATEX_FUNCS:
            toks.append(("func", _LATEX_FUNCS[m.group()]))
            pos += len(m.group())
        elif c == "^":
            if text.startswith("^{", pos):
                sup, pos = _brace(text, pos + 1)
            else:
                raise ReadError(f"unbraced superscript in {text!r}")
            s = sup.strip()
            if s == r"\top":
                toks.append(("post", "T"))
            elif s == r"-\top":
                toks.append(("post", "invT"))
            elif s == "+":
                toks.append(("post", "pinv"))
            elif s == "-1":
                toks.append(("post", "inv"))
            elif s.startswith(r"\circ"):
                toks.append(("epow", _latex_ast(s[len(r"\circ"):])))
            else:
                toks.append(("pow", _latex_ast(s)))
        elif c == "{":   # {X^{+}}^{\top}: a braced base
            inner, pos = _brace(text, pos)
            toks.append(("atom", _latex_ast(inner)))
        elif c.isdigit():
            m = _LNUM.match(text, pos)
            num = m.group().split(r"\cdot")[0]
            if m.group("ex"):
                num += "e" + m.group("ex")
            toks.append(("num", num))
            pos = m.end()
        elif (m := _LEYE.match(text, pos)):
            parts = [_latex_ident(x.strip()) for x in m.group(1).split(r"\cdot")]
            toks.append(("name", "eye(" + "*".join(parts) + ")"))
            pos = m.end()
        elif (m := _LNAME.match(text, pos)) and (c.isalpha() or at(r"\mathrm")):
            toks.append(("name", _latex_ident(m.group())))
            pos = m.end()
        else:
            raise ReadError(f"cannot read {text[pos:pos + 16]!r} in LaTeX {text!r}")
    return _calls(toks)  # LaTeX calls are name\left( args \right)


def _calls(toks):
    """func/unvec followed by open-paren … close-paren become func ( args )."""
    out = []
    depth_stack: list[bool] = []   # for each open paren: is it a call's?
    pending_unvec: list[str | None] = []
    prev = None
    for t in toks:
        if t[0] == "open" and t[1] == "paren":
            is_call = prev is not None and prev[0] in ("func", "unvec")
            depth_stack.append(is_call)
            if is_call:
                out.append(("(",))
                pending_unvec.append(prev[1] if prev[0] == "unvec" else None)
            else:
                out.append(("(",))
                pending_unvec.append(None)
        elif t[0] == "close" and t[1] == "paren":
            depth_stack.pop()
            m = pending_unvec.pop()
            if m is not None:
                out += [(",",), ("name", _latex_ident(m)) if not m.isdigit() else ("num", m)]
            out.append((")",))
        elif t[0] == "unvec":
            out.append(("func", "unvec"))
        else:
            out.append(t)
        prev = t
    return out


class _LatexParser(_Parser):
    def atom(self):
        t = self.peek()
        if t[0] == "func" and self.peek(1)[0] == "open":   # \log\left|…\right|
            self.take()
            return ("call", t[1], [self.atom()])
        return super().atom()


def _latex_ast(text: str):
    return _LatexParser(_latex_tokens(text), implicit_juxt=False).parse()


def latex_to_matd(text: str, names=()) -> str:
    """matd's LaTeX of one expression -> matd syntax with the same meaning.  ``names``:
    the program's names, where LaTeX spells two alike (``W_{2}`` is W2 or W_2)."""
    global _names_now
    old, _names_now = _names_now, set(names)
    try:
        return emit(_latex_ast(text))
    finally:
        _names_now = old


# --- whole outputs ---------------------------------------------------------------------------
def read_text_output(out: str) -> tuple[dict, list]:
    """``matd diff`` text output -> ({label: (unicode expr, shape column)}, [(name, unicode
    body)] of the ``where`` lines, in order)."""
    rows: dict[str, str] = {}
    wheres: list[tuple[str, str]] = []
    for line in out.splitlines():
        if not line.strip() or line.startswith("("):
            continue
        s = line.strip()
        if s.startswith("where "):
            name, body = s[len("where "):].split(" = ", 1)
            wheres.append((name.strip(), body.strip()))
            continue
        label, rest = line.split(" = ", 1)
        shape = ""
        if "   " in rest:
            rest, shape = rest.rsplit("   ", 1)
        rows[label.strip()] = (rest.strip(), shape.strip())
    return rows, wheres


def _pin(shape: str) -> str | None:
    """The text output's shape column (``n×n``, ``m·n×p``, ``n``, ``scalar``) as a zeros(…)
    of that shape: a reader has the column beside the formula (it sizes a bare ``I``)."""
    if not shape or shape == "scalar":
        return None
    dims = [d.replace("·", "*") for d in shape.split("×")]
    return f"zeros({', '.join(dims)})"


def text_program(expr_text: str, wheres: list, shape: str = "", human: bool = False) -> str:
    """The matd program of one row: the ``where`` definitions it needs, then the row (its
    shape pinned by the row's shape column); ``human``: read as ``unicode_to_matd`` does."""
    asts = {name: _uni_ast(body, human) for name, body in wheres}
    need: list[str] = []

    def visit(t):
        for nm in sorted(names_in(t)):
            if nm in asts and nm not in need:
                visit(asts[nm])
                need.append(nm)
    root = _uni_ast(expr_text, human)
    visit(root)
    order = [nm for nm, _ in wheres if nm in need]
    last = emit(root)
    pin = _pin(shape)
    if pin:
        last = f"({last}) + {pin}"
    return "; ".join([f"{nm} = {emit(asts[nm])}" for nm in order] + [last])


def read_latex_output(tex: str) -> tuple[dict, list]:
    """``matd diff --format latex`` -> ({label: LaTeX body}, [(name, LaTeX body)] of the
    ``\\text{where }`` rows, in order).  A row continued on ``&\\quad …`` lines is joined;
    ``\\intertext`` (a note) is left out."""
    rows: dict[str, str] = {}
    wheres: list[list[str]] = []
    last = None
    for line in tex.splitlines():
        line = line.strip()
        if line in (r"\begin{align*}", r"\end{align*}") or line.startswith(r"\intertext"):
            continue
        body = line.removesuffix(r"\\").rstrip()
        if body.startswith(r"&\quad "):
            last[1] += " " + body[len(r"&\quad "):]
            continue
        label, rest = body.split(" &= ", 1)
        if label.startswith(r"\text{where } "):
            last = [label[len(r"\text{where } "):], rest]
            wheres.append(last)
        else:
            last = [label, rest]
            rows[label] = last
    return {k: v[1] for k, v in rows.items()}, [(n, b) for n, b in wheres]


def latex_program(body: str, wheres: list, names=()) -> str:
    """The matd program of one LaTeX row: the ``where`` definitions it uses (read back,
    in order), then the row."""
    asts = {latex_to_matd(n, names): b for n, b in wheres}
    read = {n: latex_to_matd(b, names) for n, b in asts.items()}
    need: list[str] = []

    def visit(text):
        for nm in sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))):
            if nm in read and nm not in need:
                visit(read[nm])
                need.append(nm)
    root = latex_to_matd(body, names)
    visit(root)
    order = [nm for nm in read if nm in need]
    return "; ".join([f"{nm} = {read[nm]}" for nm in order] + [root])


def json_programs(out: str, key: str = "derivative") -> dict:
    """``matd diff --format json`` output -> {wrt: the matd program of that variable's
    ``key`` formula (``derivative``, ``differential``, ``gradient``, …)}.  By one variable
    the formula is a program of its own; by several, its program is the shared
    ``declarations`` and ``definitions``, then the formula (matd.formats.render_json)."""
    top = json.loads(out)
    head = [top["declarations"]] if top.get("declarations") else []
    head += [f"{d['name']} = {d['body']}" for d in top.get("definitions", [])]
    return {r["wrt"]: "; ".join(head + [r[key]]) for r in top.get("results", [top])
            if r.get(key) is not None}
