"""A fuzzer for matd's user-facing library paths (issue "no input crashes matd").

Inputs come from two sources, both seeded deterministically:

- *grammar-aware generation* (``Gen``): random programs built from grammar/matd.lark —
  declarations in every shape spelling with attributes, definitions, user functions
  ``f(t) = …``, every operator and postfix, numbers in every spelling, every function of
  the primitive table (``FUNCTIONS``) and the special forms — well-typed (built to a target
  shape, each function's arguments in its domain: spd arguments of chol and sqrtm, symmetric
  ones of eigvals and eigvecs, well-conditioned ones of solve and sylvester, axis and
  diagonal-offset literals) and ill-typed (a random shape where another is needed, wrong
  arities, unknown functions, bad axis and offset arguments, undeclared names left to
  inference);  every construct picks its spelling uniformly from all of its spellings
  (``inv(X)``, ``inverse(X)``, ``X^-1``, ``X⁻¹`` …), so a common construct reaches each;
- *mutation* (``mutate``): token- and character-level edits of the seeds (the textbook
  cases of tests/data/cases.json and the examples in README.md): delete, duplicate, swap
  and replace tokens, insert operators, unicode, invalid and huge numbers, splice two
  seeds, wrap in deep (bounded) nesting.

``run_input`` feeds one text to the functions the CLI calls for ``matd check`` (run_check,
with --verbose and --context), ``matd shape`` (text and json) and ``matd diff`` (run_diff,
then every renderer: text, steps, matd, json, latex, numpy; --order 1 and 2) in-process,
and classifies what it raised: a ``MatdError`` is a user error (exit 2, fine — it is also
rendered as the CLI would); anything else, or a call taking longer than ``limit`` seconds,
is a finding.  ``minimize`` shrinks a finding's input, keeping its signature.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import sys
import time
import traceback
import weakref
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# --------------------------------------------------------------------------------------
# seeds


def seeds() -> list[str]:
    """The textbook cases' programs and the README's example programs."""
    cases = json.loads((HERE / "data" / "cases.json").read_text(encoding="utf-8"))["cases"]
    out = [c["program"] for c in cases]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    out += re.findall(r"matd (?:diff|shape|grad|eval)\s+'([^']*)'", readme)
    # the indented language example, as one program
    block = re.search(r"\n    A: m x n .*?\n    norm\(r\)\^2 \+ c norm\(x\)\^2", readme, re.S)
    if block:
        out.append("\n".join(ln[4:] for ln in block.group(0).strip("\n").split("\n")))
    # the pasted-from-matrixcalculus.org examples and other inline code that is a formula
    out += ["x'*A*x", "norm2(A*x-y)^2", "sum(log(exp(-y.*(X*w)) + vector(1)))",
            "norm(T - U V^T)^2", "X: m x d; w: d; y: m; norm(X w - y)^2 / (2 m)"]
    return list(dict.fromkeys(s for s in out if s.strip()))


# --------------------------------------------------------------------------------------
# the vocabulary


def _functions():
    from matd.core.elaborate import SPECIAL_FORMS
    from matd.core.primitives import FUNCTIONS
    return sorted(FUNCTIONS), list(SPECIAL_FORMS)


FUNCS, SPECIALS = _functions()
# names that are no function of the table (unknown-function paths and their suggestions:
# near misses of real names, other families' names), and names of other kinds of thing
OTHER_FUNCS = ["logm", "sinm", "cholesky", "eig", "eigh", "svd", "qr", "lu", "argmax",
               "maximum", "cumsum", "mean_axis", "sum_axis", "softmax_axis", "frechet",
               "expm_frechet3", "sylvester2", "sym", "expp", "lg", "f", "g", "T", "I", "x", "d"]
BINOPS = [" + ", " - ", " − ", " ", " * ", " @ ", " .* ", " ∘ ", " ./ ", " / ", " ⊗ "]
POSTFIX = ["^T", "^{T}", "'", "ᵀ", "^⊤", "⊤", "^-1", "^{-1}", "⁻¹", "^-T", "^{-T}", "⁻ᵀ",
           "^{-⊤}", "²", "³", "⁴", "⁹", "^2", "^3", "^-2", "^0", "^1", "^k", "^n", "^(2)",
           "^{2}", "^{-0.5}", "^-1.5", "^0.5", "^1e2", "^{1/2}", ".^2", ".^-1", ".^0.5",
           ".^{-0.5}", ".^(1/3)", ".^p", ".^-2.5e-1", ".^c", "^{c}", "^(-1)"]
NUMBERS = ["0", "1", "2", "3", "10", "0.5", ".5", "1.", "2.0", "1e3", "1E-3", "2e+2",
           "1.5e3", ".5e-1", "1e999", "1e-999", "0.0", "00", "007", "1e0", "123456789012345",
           "9" * 30, "0e0", "1e308", "4.9e-324", "1.7976931348623157e308"]
WEIRD = ["\u200b", "\u00a0", "\u202e", "é", "\u0301", "ℝ", "×", "∘", "⊗", "−", "ᵀ", "⁻",
         "¹", "²", "½", "∞", "λ", "α", "Σ", "😀", "\ufeff", "\t", "\r", "\f", "\v", "\x00",
         "\udcff", "\\", "$", "[", "]", "|", "{", "}", "~", "!", "`", "\"", "%", "&", "<",
         ">", "?", "#", "\n", ";", ":", ",", "(", ")", "=", "^", ".", "'"]
ATTRS = ["sym", "spd", "diag", "orth", "simplex"]
# Every spelling of a construct, a tuple each (its identity names it): the typed generator
# draws a construct's spelling from its table ({} is an operand), uniformly, and its deck
# (``Deck``) forces every entry of every table in turn, so each spelling is reached.
ADD_OPS = (" + ", "+", " +")
SUB_OPS = (" - ", "-", " − ")
HAD_OPS = (" .* ", " ∘ ", ".*")
SMUL_OPS = (" ", " * ", "*")
NEG_OPS = ("-", "−", "+", "- ")
MATMUL_OPS = (" ", " * ", " @ ")
BCAST_OPS = (" + ", " - ", " .* ", " ./ ")
ELEMENTWISE = ("exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "relu", "sqrt",
               "abs", "step", "sign")
EPOW_EXPS = ("2", "3", "-1", "0.5", "{-0.5}", "(1/2)", "2.5")
POW_EXPS = ("^2", "^-1", "^{-1}", "^3", "²", "^-1.5", "^{-0.5}", "^0.5", "^(1/2)", "^c0")
MPOW_EXPS = ("2", "3", "-2", "{2}", "4")
SUPERSCRIPTS = ("²", "³", "⁴")
INVERSE = ("inv({})", "inverse({})", "({})^-1", "({})^{{-1}}", "({})⁻¹", "({})^(-1)")
INVERSE_T = ("({})^-T", "({})^{{-T}}", "({})⁻ᵀ", "inv({})^T", "inverse(({})ᵀ)")
TRANSPOSE = ("({})^T", "({})'", "({})ᵀ", "({})^{{T}}", "({})^⊤", "({})⊤", "transpose({})")
TRACE = ("tr({})", "trace({})")
NORMS = ("norm", "norm2")
EXTREME_EIGVALS = ("lambda_max", "lambda_min")
EXTREME_EIGVECS = ("eigvec_max", "eigvec_min")
TOP_SINGULAR = ("svd_u1", "svd_v1")
KRON = ("kron", "⊗")
EXTREMES = ("max", "min")
AXIS_REDUCTIONS = ("sum", "mean", "logsumexp")
SOFTMAX_AXES = ("1", "2")
TRIANGLES = ("tril", "triu")
SQUARE_FACTORS = ("svd_v", "qr_r")        # n×n of an m×n argument
TALL_FACTORS = ("svd_u", "qr_q")          # m×n of an m×n argument
# the kinds of node (Gen.build) and the table each draws its spelling from
KIND_TABLES = {"add": ADD_OPS, "sub": SUB_OPS, "had": HAD_OPS, "smul": SMUL_OPS,
               "neg": NEG_OPS, "elem": ELEMENTWISE, "matmul": MATMUL_OPS,
               "transpose": TRANSPOSE, "epow": EPOW_EXPS, "bcast": BCAST_OPS, "tr": TRACE,
               "norm": NORMS, "lmax": EXTREME_EIGVALS, "pow": POW_EXPS, "inv": INVERSE,
               "invpost": INVERSE_T, "mpow": MPOW_EXPS, "sup": SUPERSCRIPTS, "kronsq": KRON,
               "eigvec": EXTREME_EIGVECS, "svdv": TOP_SINGULAR, "extreme": EXTREMES,
               "axis0": AXIS_REDUCTIONS, "axis1": AXIS_REDUCTIONS, "axis2": AXIS_REDUCTIONS,
               "softmaxk": SOFTMAX_AXES, "tri": TRIANGLES, "svdvq": SQUARE_FACTORS,
               "svduq": TALL_FACTORS}
KINDS = ("add", "sub", "had", "hdiv", "smul", "div", "neg", "elem", "paren", "matmul",
         "transpose", "epow", "leaf", "bcast", "ufunc", "def", "extreme", "tr", "sum", "norm",
         "quad", "dot", "det", "logdet", "lse", "lmax", "pow", "norm1", "specnorm", "nuclear",
         "softmaxdot", "num", "dimc", "mean", "axis0", "softmaxk", "tri", "inv", "invpost",
         "mpow", "pinv", "adj", "diagv", "kronsq", "sup", "polar", "chol", "sqrtm", "expm",
         "frechet", "frechet2", "eigvecs", "gapinv", "svdvq", "diagm", "vec", "softmax",
         "eigvec", "svdv", "matvec", "axis2", "eigvals", "svdvals", "axis1", "solve", "pinvT",
         "unvec", "sylv", "svduq", "commut")
# diagonal offsets of tril/triu (integer literals, negative too) and bad axis / offset
# arguments (each a user error)
OFFSETS = ["0", "1", "-1", "2", "-2", "3", "+1", "-3"]
BAD_AXES = ["0", "3", "-1", "k", "n", "1.5", "1e999", "99999999999999999999", "(1)", "2 1",
            "", "x", "1, 2", "2.0", "-0", "m n", "1e0", "I"]
BAD_OFFSETS = ["1.5", "k", "n", "x", "99999999999999999999", "-99999999999999999999", "1e3",
               "0.0", "(-1)", "- 1", "--1", "1, 2", "", "2^3", "1e999", "I", "-k"]
DIMS = ["m", "n", "p", "k", "d", "1", "2", "3"]
TOKEN = re.compile(r"\^\{-1\}|\^\{-T\}|\^\{T\}|\^-1|\^-T|\^T|\.\^|\.\*|\./|"
                   r"(?:[0-9]+\.[0-9]+|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+(?:[eE][-+]?[0-9]+)?|"
                   r"[A-Za-z_\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*|[ \t]+|.", re.S)


# --------------------------------------------------------------------------------------
# grammar-aware generation


class Gen:
    """Random matd programs.  Shapes are (r, c) with dims from DIMS ('1' for one).

    ``ill`` is the chance, at each node, of building an ill-typed subexpression."""

    def __init__(self, rng: random.Random, ill: float = 0.08):
        self.r = rng
        self.ill = ill
        self.decls: dict[str, tuple] = {}
        self.attrs: dict[str, list] = {}
        self.defs: dict[str, tuple] = {}
        self.ufuncs: list[str] = []
        self.stmts: list[str] = []
        self.forced = None     # (table, index): a spelling the deck wants in this program

    # -- helpers
    def pick(self, xs):
        return self.r.choice(xs)

    def p(self, x: float) -> bool:
        return self.r.random() < x

    def dim(self) -> str:
        return self.pick(["m", "n", "p", "n", "k", "3", "2"])

    def shape(self):
        k = self.r.random()
        if k < 0.25:
            return ("1", "1")
        if k < 0.5:
            return (self.dim(), "1")
        if k < 0.6:
            return ("1", self.dim())
        d = self.dim()
        return (d, d) if self.p(0.45) else (d, self.dim())

    def shape_text(self, s) -> str:
        r, c = s
        if (r, c) == ("1", "1"):
            return self.pick(["scalar", "1", "R", "ℝ", "scalar"])
        if c == "1":
            return self.pick([r, r, f"R^{r}", f"ℝ^{r}", f"({r})", f"R^{{{r}}}"])
        # "2x n" is a shape, "nx n" the dim nx and an attribute n: glued only after a digit
        glued = f"{r}x {c}" if r[-1:].isdigit() else f"{r} x {c}"
        return self.pick([f"{r} x {c}", f"{r}×{c}", f"({r}, {c})", f"R^{{{r} x {c}}}",
                          f"ℝ^{{{r}×{c}}}", f"{r} x {c}", glued])

    def fresh(self, s) -> str:
        r, c = s
        pre = "c" if (r, c) == ("1", "1") else ("v" if c == "1" else "M")
        if self.p(0.3):
            pre = self.pick(["a", "x", "X", "S", "W", "θ", "lam", "T", "I2", "y_1", "d", "Q"])
        name = f"{pre}{len(self.decls)}" if self.p(0.7) or pre in ("I2",) else pre
        if name in self.decls or name in DIMS or name in FUNCS or name in SPECIALS:
            name = f"{pre}_{len(self.decls)}"
        self.decls[name] = s
        return name

    def var(self, s) -> str:
        have = [n for n, t in self.decls.items() if t == s]
        have += [n for n, t in self.defs.items() if t == s]
        if have and self.p(0.6):
            return self.pick(have)
        if self.p(0.07):  # an undeclared name, left to inference and the naming rule
            return self.pick(["A", "B", "X", "x", "y", "w", "a", "b", "c", "z", "Y", "K"])
        return self.fresh(s)

    def number(self) -> str:
        return self.pick(NUMBERS if self.p(0.3) else ["2", "3", "0.5", "1", ".5", "1e-3", "4"])

    def spell(self, table) -> str:
        """An entry of a spelling table: the forced one (``Deck``) if it is this table's."""
        if self.forced is not None and self.forced[0] is table:
            entry, self.forced = table[self.forced[1]], None
            return entry
        return self.pick(table)

    # -- arguments in a function's domain (DESIGN §1: chol/sqrtm need spd, eigvals/eigvecs
    # symmetric, solve/sylvester well-conditioned); numbers of such a matrix are drawn by
    # `matd check`/`grad`, the symbolic paths see the declared attribute
    def declared(self, s, attr: str) -> str:
        """A variable of shape s declared with attr (always declared: not left to inference)."""
        have = [n for n, a in self.attrs.items() if a == attr and self.decls.get(n) == s]
        if have and self.p(0.5):
            return self.pick(have)
        name = self.fresh(s)
        self.attrs[name] = attr
        return name

    def spd(self, n: str, d: int) -> str:
        k = self.r.random()
        if k < 0.4 or d <= 0:
            return self.declared((n, n), "spd")
        if k < 0.7:
            e = self.expr((n, self.dim()), d)
            return f"(({e}) ({e})^T + {self.pick([f'eye({n})', 'I', '0.5 I'])})"
        e = self.expr((self.dim(), n), d)
        return f"(({e})ᵀ ({e}) + {self.pick([f'eye({n})', 'I'])})"

    def sym(self, n: str, d: int) -> str:
        k = self.r.random()
        if k < 0.35 or d <= 0:
            return self.declared((n, n), self.pick(["sym", "sym", "spd"]))
        if k < 0.7:
            e = self.expr((n, n), d)
            return f"(({e}) + ({e})^T)"
        return self.spd(n, d)

    def wellcond(self, n: str, d: int) -> str:
        """Safely invertible: diagonally dominant or spd."""
        if self.p(0.5):
            return f"({self.pick(['4 I', f'4 eye({n})', '3 I'])} + tanh({self.expr((n, n), d)}))"
        return self.spd(n, d)

    def rows_for(self, c: str) -> str:
        """Rows of a matrix whose thin SVD / QR is taken (m ≥ n wanted; dims are symbolic)."""
        return self.pick([c, c, self.dim()])

    # -- expressions of a target shape
    def expr(self, s, depth: int) -> str:
        if self.p(self.ill):
            return self.illtyped(s, depth)
        if depth <= 0:
            return self.leaf(s)
        return self.build(self.pick(self.kinds(s)), s, depth - 1)

    def leaf(self, s) -> str:
        r, c = s
        scalar, square = (r, c) == ("1", "1"), r == c and r != "1"
        vector = c == "1" and r != "1"
        if scalar and self.p(0.3):
            return self.number() if self.p(0.7) else self.pick(["m", "n", "p"])
        if square and self.p(0.1):
            return self.pick(["I", f"eye({r})", "eye"])
        if self.p(0.05) and not scalar:
            return self.pick([f"ones({r}, {c})", f"zeros({r}, {c})", "matrix(1)"]
                             + ([f"ones({r})", "vector(1)"] if vector else []))
        return self.var(s)

    @staticmethod
    def kinds(s) -> list[str]:
        """The kinds of node (``build``) that make an expression of shape s."""
        r, c = s
        scalar, square = (r, c) == ("1", "1"), r == c and r != "1"
        vector = c == "1" and r != "1"
        opts = ["add", "sub", "had", "hdiv", "smul", "div", "neg", "elem", "paren", "matmul",
                "transpose", "epow", "leaf", "bcast", "ufunc", "def", "extreme"]
        if scalar:
            opts += ["tr", "sum", "norm", "quad", "dot", "det", "logdet", "lse", "lmax", "pow",
                     "norm1", "specnorm", "nuclear", "softmaxdot", "num", "dimc", "inv",
                     "mean", "axis0"]
        else:
            opts += ["softmaxk", "tri"]
        if square:
            opts += ["inv", "invpost", "mpow", "pinv", "adj", "diagv", "kronsq", "sup", "polar",
                     "chol", "sqrtm", "expm", "frechet", "frechet2", "eigvecs", "gapinv",
                     "svdvq"]
        if vector:
            opts += ["diagm", "vec", "softmax", "eigvec", "svdv", "matvec", "axis2", "eigvals",
                     "svdvals"]
        if r == "1" and c != "1":
            opts += ["axis1"]
        if r != "1" and not scalar:
            opts += ["solve"]
        if c != "1" and r != "1":
            opts += ["pinvT", "unvec", "sylv", "svduq", "commut"]
        return opts

    def build(self, k: str, s, d: int) -> str:
        """A node of kind k and shape s, its operands of depth d."""
        E = self.expr
        r, c = s
        scalar = (r, c) == ("1", "1")
        if k == "add":
            return f"{E(s, d)}{self.spell(ADD_OPS)}{E(s, d)}"
        if k == "sub":
            return f"{E(s, d)}{self.spell(SUB_OPS)}{E(s, d)}"
        if k == "had":
            return f"({E(s, d)}){self.spell(HAD_OPS)}({E(s, d)})"
        if k == "hdiv":
            return f"({E(s, d)}) ./ ({E(s, d)})"
        if k == "smul":
            op = self.spell(SMUL_OPS)
            return f"{E(('1', '1'), d)}{op}({E(s, d)})" if self.p(0.6) else \
                f"({E(s, d)}){op}{E(('1', '1'), d)}"
        if k == "div":
            return f"({E(s, d)}) / {self.pick([self.number(), '(' + E(('1', '1'), d) + ')'])}"
        if k == "neg":
            return f"{self.spell(NEG_OPS)}({E(s, d)})"
        if k == "elem":
            return f"{self.spell(ELEMENTWISE)}({E(s, d)})"
        if k == "paren":
            return f"({E(s, d)})"
        if k == "matmul":
            inner = self.pick(["1", self.dim(), r, c])
            if (r, inner) == ("1", "1") or (inner, c) == ("1", "1"):
                inner = self.dim()
            op = self.spell(MATMUL_OPS)
            return f"({E((r, inner), d)}){op}({E((inner, c), d)})"
        if k == "transpose":
            return self.spell(TRANSPOSE).format(E((c, r), d))
        if k == "epow":
            return f"({E(s, d)}).^{self.spell(EPOW_EXPS)}"
        if k == "leaf":
            return self.expr(s, 0)
        if k == "bcast":  # a scalar, row or column broadcast in an elementwise op
            op = self.spell(BCAST_OPS)
            part = ("1", "1") if self.p(0.5) or scalar else (("1", c) if self.p(0.5) else (r, "1"))
            return f"({E(s, d)}){op}({E(part, d)})"
        if k == "ufunc":
            return f"{self.ufunc()}({E(s, d)})"
        if k == "def":
            body = E(s, d)
            name = f"t{len(self.defs)}_{len(self.stmts)}"
            self.stmts.append(f"{name} = {body}")
            self.defs[name] = s
            return name
        if k == "tr":
            n = self.dim()
            return self.spell(TRACE).format(E((n, n), d))
        if k == "sum":
            return f"sum({E(self.shape(), d)})"
        if k == "norm":
            return f"{self.spell(NORMS)}({E(self.shape(), d)})^{self.pick(['2', '1', '3'])}"
        if k in ("norm1", "specnorm", "nuclear", "lse"):
            f = {"lse": "logsumexp"}.get(k, k)
            return f"{f}({E(self.shape(), d)})"
        if k == "quad":
            n = self.dim()
            return f"({E((n, '1'), d)})^T ({E((n, n), d)}) ({E((n, '1'), d)})"
        if k == "dot":
            t = self.shape()
            return f"dot({E(t, d)}, {E(t, d)})"
        if k in ("det", "logdet", "lmax"):
            n = self.dim()
            f = self.spell(EXTREME_EIGVALS) if k == "lmax" else k
            return f"{f}({E((n, n), d)})"
        if k == "pow":
            return f"({E(s, d)}){self.spell(POW_EXPS)}"
        if k == "softmaxdot":
            n = self.dim()
            return f"({E((n, '1'), d)})^T softmax({E((n, '1'), d)})"
        if k == "num":
            return self.number()
        if k == "dimc":
            return f"{self.pick(['m', 'n', 'p'])} {E(s, d)}"
        if k == "inv":
            return self.spell(INVERSE).format(E(s, d))
        if k == "invpost":
            return self.spell(INVERSE_T).format(E(s, d))
        if k == "mpow":
            return f"({E(s, d)})^{self.spell(MPOW_EXPS)}"
        if k == "sup":
            return f"({E(s, d)}){self.spell(SUPERSCRIPTS)}"
        if k in ("pinv", "adj", "polar"):
            return f"{k}({E(s, d)})"
        if k == "diagv":
            return f"diag({E((r, '1'), d)})"
        if k == "kronsq":
            return f"kron({E(('1', '1'), d)} I, {E(s, d)})" if self.spell(KRON) == "kron" \
                else f"({E(s, d)}) ⊗ {E(('1', '1'), d)}"
        if k == "diagm":
            return f"diag({E((r, r), d)})"
        if k == "vec":
            return f"vec({E((r, '1'), d)})"
        if k == "softmax":
            return f"softmax({E(s, d)})"
        if k == "eigvec":
            return f"{self.spell(EXTREME_EIGVECS)}({E((r, r), d)})"
        if k == "svdv":
            return f"{self.spell(TOP_SINGULAR)}({E((r, r), d)})"
        if k == "matvec":
            n = self.dim()
            return f"({E((r, n), d)}) ({E((n, '1'), d)})"
        if k == "pinvT":
            return f"pinv({E((c, r), d)})"
        if k == "unvec":
            name = self.fresh((f"{r}*{c}", "1"))
            return f"unvec({name}, {r})"
        # batches, extremes, triangles and the matrix functions (decompositions, expm,
        # solves), each with arguments in its domain
        if k == "extreme":    # max/min; either side may be a scalar, row or column
            f = self.spell(EXTREMES)
            a = E(s, d)
            if scalar or self.p(0.5):
                return f"{f}({a}, {E(s, d)})"
            part = self.pick([("1", "1"), ("1", c), (r, "1")])
            b = E(part, d) if self.p(0.6) else self.pick([self.number(), "0"])
            return f"{f}({a}, {b})" if self.p(0.5) else f"{f}({b}, {a})"
        if k == "mean":
            return f"mean({E(self.shape(), d)})"
        if k == "axis0":      # an axis reduction of a vector or a row: a scalar
            n = self.dim()
            f = self.spell(AXIS_REDUCTIONS)
            return f"{f}({E((n, '1'), d)}, 1)" if self.p(0.5) else f"{f}({E(('1', n), d)}, 2)"
        if k == "axis1":      # down the columns: 1×c
            return f"{self.spell(AXIS_REDUCTIONS)}({E((self.dim(), c), d)}, 1)"
        if k == "axis2":      # across the rows: r×1
            return f"{self.spell(AXIS_REDUCTIONS)}({E((r, self.dim()), d)}, 2)"
        if k == "softmaxk":
            return f"softmax({E(s, d)}, {self.spell(SOFTMAX_AXES)})"
        if k == "tri":
            f = self.spell(TRIANGLES)
            if self.p(0.3):
                return f"{f}({E(s, d)})"
            return f"{f}({E(s, d)}, {self.pick(OFFSETS)})"
        if k in ("chol", "sqrtm"):
            return f"{k}({self.spd(r, d)})"
        if k == "expm":
            a = E(s, d)
            return f"expm({a})" if self.p(0.6) else f"expm({self.pick(['0.5', '0.1', '-1'])} ({a}))"
        if k == "frechet":
            return f"expm_frechet({E(s, d)}, {E(s, d)})"
        if k == "frechet2":
            return f"expm_frechet2({E(s, d)}, {E(s, d)}, {E(s, d)})"
        if k == "eigvecs":
            return f"eigvecs({self.sym(r, d)})"
        if k == "eigvals":
            return f"eigvals({self.sym(r, d)})"
        if k == "gapinv":     # of a vector (distinct entries, almost surely)
            v = E((r, "1"), d) if self.p(0.6) else f"eigvals({self.sym(r, d)})"
            return f"gapinv({v})"
        if k == "svdvq":      # c×c factors of a tall matrix
            return f"{self.spell(SQUARE_FACTORS)}({E((self.rows_for(r), r), d)})"
        if k == "svduq":      # r×c factors of a tall r×c matrix
            return f"{self.spell(TALL_FACTORS)}({E(s, d)})"
        if k == "svdvals":
            return f"svdvals({E((self.rows_for(r), r), d)})"
        if k == "solve":
            return f"solve({self.wellcond(r, d)}, {E(s, d)})"
        if k == "sylv":       # A Y + Y B = C with A (r×r) and B (c×c) spd
            return f"sylvester({self.spd(r, d)}, {self.spd(c, d)}, {E(s, d)})"
        if k == "commut":
            return f"unvec(commutation({c}, {r}) vec({E((c, r), d)}), {r})"
        raise AssertionError(k)

    def illtyped(self, s, depth: int) -> str:
        """Something that will not type at shape s (or at all)."""
        d = max(depth - 1, 0)
        k = self.r.random()
        if k < 0.35:
            return self.expr(self.shape(), d)      # a random shape where s is needed
        if k < 0.5:                                  # a function of any arity
            f = self.pick(FUNCS + SPECIALS + OTHER_FUNCS)
            n = self.pick([0, 1, 1, 2, 3])
            return f"{f}({', '.join(self.expr(self.shape(), d) for _ in range(n))})"
        if k < 0.6:
            return f"({self.expr(s, d)}){self.pick(POSTFIX)}"
        if k < 0.7:
            return f"{self.pick(SPECIALS)}({', '.join(self.pick(DIMS + ['0', '-1', 'x', '2.5', 'm n', 'm*n', 'A', '']) for _ in range(self.pick([0, 1, 2, 3])))})"
        if k < 0.8:
            return f"({self.expr(self.shape(), d)}){self.pick(BINOPS)}({self.expr(self.shape(), d)})"
        if k < 0.88:
            return self.pick(["m", "n", "p", "d", "x", "I", "eye", "ones", "tr", "c / 0", "0^-1",
                              "1e999", "0 ./ 0", "(-1)^0.5", "0^0", "1/0", "0.0/0.0"])
        if k < 0.96:
            return self.misuse(d)
        return f"{self.expr(s, d)} {self.pick(BINOPS).strip() or ' '}"

    def misuse(self, d: int) -> str:
        """A new function called wrongly: a bad axis or offset, softmax of a matrix without
        one, a decomposition of a non-square or wide matrix, mismatched solves."""
        E, sh = self.expr, self.shape
        k = self.r.randrange(7)
        if k == 0:
            f = self.pick(AXIS_REDUCTIONS + ("softmax",))
            return f"{f}({E(sh(), d)}, {self.pick(BAD_AXES)})"
        if k == 1:
            return f"{self.pick(['tril', 'triu'])}({E(sh(), d)}, {self.pick(BAD_OFFSETS)})"
        if k == 2:
            return f"softmax({E((self.dim(), self.dim()), d)})"
        if k == 3:
            f = self.pick(["chol", "sqrtm", "expm", "eigvecs", "eigvals", "svd_v", "qr_r",
                           "gapinv", "svdvals", "svd_u", "qr_q", "mean", "transpose", "trace",
                           "inverse"])
            return f"{f}({E(sh(), d)})"
        if k == 4:
            f = self.pick(["sylvester", "expm_frechet2", "solve", "expm_frechet", "max", "min"])
            n = self.pick([1, 2, 2, 3, 3, 4])
            return f"{f}({', '.join(E(sh(), d) for _ in range(n))})"
        if k == 5:   # a numeric degenerate point: an error at evaluation, not at typing
            n = self.dim()
            return self.pick([f"chol(-eye({n}))", f"sqrtm(zeros({n}, {n}))",
                              f"gapinv(ones({n}))", f"eigvecs(eye({n}))", f"solve(zeros({n}, {n}), ones({n}))",
                              f"svd_u(ones({n}, {n}))", f"qr_r(zeros({n}, {n}))",
                              f"sylvester(eye({n}), -eye({n}), eye({n}))", f"expm(1e3 eye({n}))"])
        return f"{self.pick(['sum', 'mean', 'tril', 'triu', 'softmax', 'logsumexp'])}" \
               f"({E(sh(), d)}, {E(sh(), d)})"

    def ufunc(self) -> str:
        if self.ufuncs and self.p(0.6):
            return self.pick(self.ufuncs)
        name = f"uf{len(self.ufuncs)}"
        t = self.pick(["t", "u", "s"])
        body = self.scalar_body(t, self.pick([1, 2, 3]))
        self.stmts.append(f"{name}({t}) = {body}")
        self.ufuncs.append(name)
        return name

    def scalar_body(self, t: str, depth: int) -> str:
        if depth <= 0 or self.p(0.2):
            return self.pick([t, t, self.number(), f"2 {t}"])
        d = depth - 1
        k = self.r.random()
        if k < 0.4:
            f = self.pick(["exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "relu",
                           "sqrt", "abs", "step", "sign"]
                          + (self.ufuncs if self.p(0.2) else []))
            return f"{f}({self.scalar_body(t, d)})"
        if k < 0.8:
            op = self.pick([" + ", " - ", " * ", " ", " / ", " .* ", " ./ "])
            return f"({self.scalar_body(t, d)}){op}({self.scalar_body(t, d)})"
        return f"({self.scalar_body(t, d)}){self.pick(['^2', '^3', '^-1', '.^0.5', '^{-0.5}', '²', '^1.5', '^(1/2)'])}"

    def shape_for(self, kind: str):
        """A shape that a node of this kind can have."""
        for _ in range(200):
            s = ("1", "1") if self.p(0.3) else self.shape()
            if kind in self.kinds(s):
                return s
        raise AssertionError(f"no shape for {kind}")

    def program(self, scalar: bool | None = None, force=None) -> str:
        """A program; ``force`` = (kind, table, index): its expression is a node of that
        kind, and the table's entry index is spelled in it (see ``Deck``)."""
        depth = self.pick([1, 2, 2, 3, 3, 4, 5])
        if force is not None:
            kind, table, index = force
            target = self.shape_for(kind)
            self.forced = (table, index) if table is not None else None
            body = self.build(kind, target, depth - 1)
            assert self.forced is None, (force, body)   # the spelling is in the program
        else:
            if scalar is None:
                scalar = self.p(0.7)
            target = ("1", "1") if scalar else self.shape()
            body = self.expr(target, depth)
        lines = []
        for name, s in self.decls.items():
            if name in self.attrs:  # a domain's attribute (spd for chol, …): declared
                lines.append(f"{name}: {self.shape_text(s)} {self.attrs[name]}")
                continue
            if self.p(0.08):        # left undeclared: inference
                continue
            attrs = ""
            if s[0] == s[1] and s[0] != "1" and self.p(0.35):
                attrs = " " + " ".join(self.r.sample(ATTRS[:4], self.pick([1, 1, 2])))
            elif self.p(0.03):
                attrs = " " + self.pick(ATTRS)
            lines.append(f"{name}: {self.shape_text(s)}{attrs}")
        if len(lines) > 1 and self.p(0.3):   # group same-shaped declarations: x, y: n
            pass
        self.r.shuffle(lines)
        stmts = lines + self.stmts + [body]
        if self.p(0.1):
            stmts.insert(self.r.randrange(len(stmts) + 1), "# a comment")
        sep = self.pick(["; ", "\n", ";", " ;\n"])
        return sep.join(stmts)


class Deck:
    """Every kind of node, and every spelling of each (every entry of its table), in a
    shuffled order, dealt one a program to every other program of one random stream: 400
    programs force each of them at least once (there are fewer than 200), so a construct
    reaches all of its spellings however the stream falls."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.items = [(k, KIND_TABLES[k], i) for k in KINDS if k in KIND_TABLES
                      for i in range(len(KIND_TABLES[k]))]
        self.items += [(k, None, None) for k in KINDS if k not in KIND_TABLES]
        self.queue: list = []
        self.programs = 0
        self.dealt: set = set()    # (kind, index) of the items dealt so far

    def deal(self):
        """The next item for this program, or None (a free program)."""
        self.programs += 1
        if self.programs % 2:
            return None
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        item = self.queue.pop()
        self.dealt.add((item[0], item[2]))
        return item


_DECKS: "weakref.WeakKeyDictionary[random.Random, Deck]" = weakref.WeakKeyDictionary()


def generate(rng: random.Random, ill: float | None = None) -> str:
    """One program of the random stream rng (every other one built around its deck's next
    kind and spelling); ``ill``: the chance of an ill-typed node (by default drawn: 0 for
    half the programs)."""
    deck = _DECKS.get(rng)
    if deck is None:
        deck = _DECKS[rng] = Deck(rng)
    force = deck.deal()
    if ill is None:
        ill = rng.choice([0.0, 0.0, 0.05, 0.15])
    return Gen(rng, ill=ill).program(force=force)


# --------------------------------------------------------------------------------------
# mutation


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _rand_token(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.2:
        return rng.choice(BINOPS)
    if k < 0.35:
        return rng.choice(POSTFIX)
    if k < 0.5:
        return rng.choice(NUMBERS + ["1.2.3", "1e", "1e+", "0x10", "1_000", "١", "-0", "9" * 5000,
                                     "1" + "0" * 400, "0.000000000000000000001"])
    if k < 0.65:
        return rng.choice(FUNCS + SPECIALS + OTHER_FUNCS) + rng.choice(["(", "", "()"])
    if k < 0.8:
        return rng.choice(WEIRD)
    if k < 0.9:
        return rng.choice(DIMS + ATTRS + ["x", "X", "A", "I", "R", "scalar", "T", "d", "dX"])
    return chr(rng.randrange(0x20, 0x3000))


def mutate(rng: random.Random, text: str, pool: list[str]) -> str:
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
        text = _mutate1(rng, text, pool)
    return text[:4000]


def _mutate1(rng, text, pool):
    toks = tokens(text) or [""]
    n = len(toks)
    i, j = rng.randrange(n), rng.randrange(n)
    k = rng.randrange(14)
    if k == 0:                                   # delete a token
        del toks[i]
    elif k == 1:                                 # duplicate a token
        toks.insert(i, toks[i])
    elif k == 2:                                 # swap two tokens
        toks[i], toks[j] = toks[j], toks[i]
    elif k == 3:                                 # replace a token
        toks[i] = _rand_token(rng)
    elif k == 4:                                 # insert a token
        toks.insert(i, _rand_token(rng))
    elif k == 5:                                 # insert an operator and an operand
        toks.insert(i, rng.choice(BINOPS) + rng.choice(["x", "A", "2", "c", "I", "(x)"]))
    elif k == 6:                                 # splice two programs
        other = tokens(rng.choice(pool))
        toks = toks[:i] + other[rng.randrange(len(other) or 1):]
    elif k == 7:                                 # wrap a run of tokens
        a, b = sorted((i, j))
        w = rng.choice(["(", "tr(", "inv(", "vec(", "sum(", "exp(", "diag(", "norm(",
                        "{", "(-", "kron(", "unvec("])
        close = "}" if w == "{" else ")"
        if w == "unvec(":
            close = rng.choice([", m)", ", 2)", ", n)", ")"])
        toks = toks[:a] + [w] + toks[a:b + 1] + [close] + toks[b + 1:]
    elif k == 8:                                 # deep nesting (bounded)
        depth = rng.choice([5, 20, 50, 100, 200])
        w = rng.choice(["(", "-", "exp(", "tr(", "(I ", "x^T "])
        a, b = sorted((i, j))
        close = ")" if w.endswith("(") or w == "(I " else ""
        toks = toks[:a] + [w * depth] + toks[a:b + 1] + [close * depth] + toks[b + 1:]
    elif k == 9:                                 # a character edit
        if text:
            c = rng.randrange(len(text))
            op = rng.randrange(3)
            if op == 0:
                return text[:c] + text[c + 1:]
            if op == 1:
                return text[:c] + rng.choice(WEIRD + ["x", " ", "0", "^", "-"]) + text[c:]
            return text[:c] + chr(rng.randrange(0x20, 0x110000)) + text[c + 1:]
    elif k == 10:                                # replace a number or exponent
        nums = [q for q, t in enumerate(toks) if t[:1].isdigit() or t[:1] == "."]
        q = rng.choice(nums) if nums else i
        toks[q] = rng.choice(NUMBERS + ["0", "-1", "1e999", "0^-1", "-0.5", "2^-1.5"])
    elif k == 11:                                # append a postfix somewhere
        toks.insert(i + 1, rng.choice(POSTFIX))
    elif k == 12:                                # repeat a statement / the whole text
        return text + rng.choice(["; ", "\n", " "]) + rng.choice([text.split(";")[-1], text])
    else:                                        # change a declaration's shape or attribute
        return re.sub(r":\s*[^;\n]*", lambda m: ": " + rng.choice(
            ["scalar", "n", "m x n", "n x n " + rng.choice(ATTRS), "0", "0 x 3", "1 x 1",
             "m*n", "R^{m x n}", "(m, n)", "(m,", "x", "n x n x n", "m×", "-1", "n sym spd",
             "3 x 3 orth diag", "", "ℝ^{2×2}", "1.5", "m*0", "2*m x 2*n"]), text, count=1)
    return "".join(toks)


# --------------------------------------------------------------------------------------
# running one input through the CLI's library paths


class Timeout(BaseException):
    """Raised by the alarm: a call ran past the time bound (a hang)."""


def _alarm(signum, frame):
    raise Timeout()


_STATE: dict = {}


def setup() -> None:
    """Once per process: the CLI's recursion limit, warm caches (lark, sympy)."""
    if _STATE.get("ready"):
        return
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # as matd.cli.main does
    import matd.cli.check as check_mod
    _STATE["check_mod"] = check_mod
    _STATE["files"] = {}
    real = check_mod.read_file

    def read_file(path):  # run_check reads our in-memory "files"
        if path in _STATE["files"]:
            return _STATE["files"][path]
        return real(path)
    check_mod.read_file = read_file
    signal.signal(signal.SIGVTALRM, _alarm)   # CPU time: other processes' load does not count
    for text in ("sp(t) = log(1 + exp(2 t)); X: m x n; sum(sp(X))", "x: n; norm(x)^2"):
        run_input(text, random.Random(0), limit=60)
    _STATE["ready"] = True


def _safe_text(text: str) -> str:
    """EXPR that the CLI would read as a file or standard input becomes text (so that a
    fuzz input never reads a file): a trailing ';' is an empty statement."""
    from matd.cli.sources import names_a_file
    if text == "-" or names_a_file(text):
        return " " + text + ";"
    return text


def _calls(text: str, rng: random.Random):
    """The CLI's library calls for one input, as (label, thunk) pairs."""
    from matd.cli import check as C
    from matd.cli import diff as D
    from matd.cli.render import render_error

    def do_check():
        name = rng.choice(["fuzz.matd", "fuzz.py"])
        body = text if name.endswith(".matd") else \
            "x = 1\n" + "\n".join("# matd: " + ln for ln in text.split("\n")) + "\n"
        _STATE["files"][name] = body
        for fmt in ("text", "json"):
            report, lines, status = C.run_check(C.CheckOptions((name,), fmt, True, fmt == "text"))
            json.dumps(report, ensure_ascii=False)
            assert status in (0, 1), status

    def do_shape():
        for fmt in ("text", "json"):
            with contextlib.redirect_stdout(io.StringIO()):
                C.shape.callback(_safe_text(text), fmt, False)

    def do_diff(order):
        def go():
            wrt = ()
            k = rng.random()
            if k < 0.25:
                names = re.findall(r"[A-Za-z_\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*", text)
                if names:
                    wrt = tuple(rng.sample(names, min(len(names), rng.choice([1, 1, 2]))))
            opts = D.DiffOptions(_safe_text(text), wrt, order, "text",
                                 rng.choice(["numerator", "numerator", "denominator"]),
                                 rng.choice([None, "vec"]), rng.random() < 0.3)
            prog, d = D.run_diff(opts)
            for fmt in D.FORMATS:
                o = opts.__class__(**{**opts.__dict__, "fmt": fmt})
                if fmt == "text":
                    if o.steps:
                        D.render_steps(d, D._names(prog, d, o))
                    D.render_text(prog, d, o, False)
                else:
                    {"json": D.render_json, "matd": D.render_matd, "latex": D.render_latex,
                     "numpy": D.render_numpy}[fmt](prog, d, o)
        return go

    return [("check", do_check), ("shape", do_shape), ("diff1", do_diff(1)),
            ("diff2", do_diff(2))], render_error


def _where(tb) -> tuple[str, str]:
    """(the raise site, the deepest frame in matd's own source) as file:line."""
    frames = traceback.extract_tb(tb)
    last = frames[-1]
    raise_site = f"{_short(last.filename)}:{last.lineno}"
    own = [f for f in frames if _is_matd(f.filename)]
    own_site = f"{_short(own[-1].filename)}:{own[-1].lineno}" if own else raise_site
    return raise_site, own_site


def _is_matd(fn: str) -> bool:
    fn = os.path.realpath(fn)
    return fn.startswith(str(ROOT)) and "/tests/" not in fn and "/.venv/" not in fn


def _short(fn: str) -> str:
    real = os.path.realpath(fn)
    if real.startswith(str(ROOT) + os.sep) and "/.venv/" not in real:
        return os.path.relpath(real, ROOT)
    m = re.search(r"site-packages/(.*)", fn)
    return m.group(1) if m else fn


def run_input(text: str, rng: random.Random, limit: float = 2.0, only=None):
    """Run one input through every call; returns a list of findings (dicts), [] if clean."""
    from matd.core.errors import MatdError
    calls, render_error = _calls(text, rng)
    out = []
    for label, thunk in calls:
        if only is not None and label != only:
            continue
        t0 = time.perf_counter()
        # repeating: a Timeout swallowed where exceptions are ignored (a weakref
        # callback) is raised again a moment later
        signal.setitimer(signal.ITIMER_VIRTUAL, limit, 0.25)
        try:
            try:
                thunk()
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        except MatdError as e:
            try:  # the CLI boundary renders it
                render_error(e, getattr(e, "source", None))
                str(e)
            except Exception as e2:  # noqa: BLE001
                out.append(_finding(text, label, e2, t0))
        except Timeout as e:
            f = _finding(text, label, e, t0)
            f["type"] = "hang"
            out.append(f)
        except Exception as e:  # noqa: BLE001 - everything else is a finding
            out.append(_finding(text, label, e, t0))
    return out


def _finding(text, label, e, t0):
    raise_site, own_site = _where(e.__traceback__)
    return {"type": type(e).__name__, "raise": raise_site, "own": own_site,
            "message": str(e)[:200], "call": label, "input": text,
            "seconds": round(time.perf_counter() - t0, 3)}


def signature(f) -> tuple:
    if f["type"] == "hang":
        return ("hang", f["call"])
    return (f["type"], f["own"], f["raise"])


def reproduces(text: str, sig: tuple, limit: float = 2.0) -> bool:
    call = sig[1] if sig[0] == "hang" else None
    for seed in range(2):  # options (wrt, steps, layout) are drawn per call: try two draws
        fs = run_input(text, random.Random(seed), limit=limit, only=call)
        if any(signature(f) == sig for f in fs):
            return True
        if call is not None:
            return False
    return False


def minimize(text: str, sig: tuple, budget: int = 400, limit: float = 2.0) -> str:
    """Delta debugging over tokens, then characters, keeping the signature."""
    tries = 0
    if sig[0] == "hang":
        budget = min(budget, 25)

    def ok(t):
        nonlocal tries
        tries += 1
        return reproduces(t, sig, limit)

    for unit in ("stmt", "tok", "chr"):
        parts = {"stmt": re.findall(r"[^;\n]+[;\n]?|[;\n]", text), "tok": tokens(text),
                 "chr": list(text)}[unit]
        n = 2
        while len(parts) >= 2 and tries < budget:
            chunk = max(len(parts) // n, 1)
            reduced = False
            for start in range(0, len(parts), chunk):
                cand = parts[:start] + parts[start + chunk:]
                if cand and ok("".join(cand)):
                    parts, n, reduced = cand, max(n - 1, 2), True
                    break
                if tries >= budget:
                    break
            if not reduced:
                if chunk == 1:
                    break
                n = min(n * 2, len(parts))
        text = "".join(parts)
        # unwrap parenthesized groups one at a time: ((x)) -> (x) -> x
        changed = True
        while changed and tries < budget:
            changed = False
            for m in re.finditer(r"\(", text):
                close = _match(text, m.start())
                if close is None:
                    continue
                cand = text[:m.start()] + text[m.start() + 1:close] + text[close + 1:]
                if ok(cand):
                    text, changed = cand, True
                    break
        # tidy: collapse runs of spaces
        t2 = re.sub(r"[ \t]+", " ", text).strip()
        if t2 != text and t2 and ok(t2):
            text = t2
    return text


def _match(text: str, i: int):
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return None


# --------------------------------------------------------------------------------------
# a campaign


def inputs(seed: int, count: int, avoid=None):
    """count inputs: generated and mutated (of seeds and of generated programs), in turn."""
    rng = random.Random(seed)
    pool = seeds()
    made = 0
    while made < count:
        k = rng.random()
        if k < 0.45:
            text = generate(rng)
        elif k < 0.8:
            text = mutate(rng, rng.choice(pool), pool)
        else:
            text = mutate(rng, generate(rng), pool)
        if avoid is not None and avoid(text):
            continue
        made += 1
        yield text


def campaign(seed: int, count: int, limit: float = 2.0, avoid=None, deadline=None,
             log=None, minimize_budget: int = 300):
    """Run count inputs; returns (n run, seconds, {signature: finding})."""
    setup()
    found: dict[tuple, dict] = {}
    rng = random.Random(seed + 1)
    t0 = time.perf_counter()
    n = 0
    for text in inputs(seed, count, avoid):
        if deadline is not None and time.perf_counter() - t0 > deadline:
            break
        n += 1
        for f in run_input(text, rng, limit):
            sig = signature(f)
            if sig in found:
                found[sig]["count"] += 1
                if len(found[sig]["examples"]) < 5:
                    found[sig]["examples"].append(text[:300])
                continue
            f["examples"] = []
            f["count"] = 1
            f["minimal"] = minimize(text, sig, minimize_budget, limit) if minimize_budget \
                else text
            again = [g for seed in range(2) for g in run_input(f["minimal"], random.Random(seed),
                                                                 limit) if signature(g) == sig]
            if again:  # the minimal input's own message and call
                f["message"], f["call"] = again[0]["message"], again[0]["call"]
            found[sig] = f
            if log:
                log(f"[{n}] NEW {sig}: {f['minimal']!r} ({f['message'][:100]})")
        if log and n % 5000 == 0:
            log(f"[{n}] {time.perf_counter() - t0:.0f}s, {len(found)} distinct findings")
    return n, time.perf_counter() - t0, found


def main(argv=None):  # python tests/fuzzgen.py COUNT [SEED] [OUT.json]
    argv = sys.argv[1:] if argv is None else argv
    count = int(argv[0]) if argv else 1000
    seed = int(argv[1]) if len(argv) > 1 else 0
    out = argv[2] if len(argv) > 2 else None

    def log(msg):
        print(msg, flush=True)
    n, secs, found = campaign(seed, count, log=log)
    log(f"ran {n} inputs in {secs:.0f}s; {len(found)} distinct findings")
    if out:
        Path(out).write_text(json.dumps(list(found.values()), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
