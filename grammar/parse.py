"""Text -> surface syntax -> typed IR.

``parse_program(text)`` returns a typed ``Program`` (see ``matd.core.elaborate``);
``parse_syntax(text)`` stops at the untyped statements.  The LALR parser is
built once per process from a cache on disk.

>>> prog = parse_program("A: m x n; x: n; A x")
>>> str(prog.result.shape[0]), str(prog.result.shape[1])
('m', '1')
"""
from __future__ import annotations

from pathlib import Path

from matd.core.errors import MatdSyntaxError, Span
from matd.core.syntax import Decl, Define, DimSyn, ExprStmt, FunDef, Source, Syn

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from lark import Lark
        grammar = Path(__file__).with_name("matd.lark").read_text(encoding="utf-8")
        _PARSER = Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True,
                       maybe_placeholders=True, cache=True)
    return _PARSER


def _span(meta) -> Span:
    return Span(meta.start_pos, meta.end_pos)


def _tspan(tok) -> Span:
    return Span(tok.start_pos, tok.end_pos)


_SUPER_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _number(tok) -> "int | float":
    """A number token's value: an int where it is exact, else a float; never inf."""
    text = str(tok)
    if text.isdigit():
        v = int(text)
        if v < 2 ** 53:
            return v
    v = float(text)
    if v == float("inf"):
        raise MatdSyntaxError(f"the number {text} is too large", _tspan(tok),
                              "numbers must fit a 64-bit float (at most about 1.8e308)")
    return v


def _transformer():
    from lark import Token

    class ToSyntax:
        """Tree -> matd.core.syntax.  Total: every alias of matd.lark has a method.

        A plain bottom-up walk (iterative, so deep expressions do not hit Python's
        recursion limit) calling ``method(meta, *children)`` for each rule."""

        def transform(self, tree):
            out: list = []
            stack = [(tree, False)]
            while stack:
                node, done = stack.pop()
                if isinstance(node, Token) or node is None:
                    out.append(node)
                elif done:
                    k = len(node.children)
                    args = out[len(out) - k:] if k else []
                    del out[len(out) - k:]
                    out.append(getattr(self, node.data)(node.meta, *args))
                else:
                    stack.append((node, True))
                    stack.extend((c, False) for c in reversed(node.children))
            return out[0]

        # statements
        def start(self, meta, *stmts):
            return [s for s in stmts if s is not None]

        def decl(self, meta, names, *toks):
            dims, attrs = read_shape(toks, _span(meta))
            return Decl(tuple(names), dims, attrs, _span(meta))

        def shape_tok(self, meta, tok):
            return tok

        def names(self, meta, *toks):
            return [(str(t), _tspan(t)) for t in toks]

        def define(self, meta, name, expr):
            return Define(str(name), _tspan(name), expr, _span(meta))

        def fundef(self, meta, call, body):
            params = []
            for a in call.args:
                if a.kind != "name":
                    raise MatdSyntaxError(
                        "a function's parameters must be plain names", a.span,
                        "write e.g. f(t) = log(1 + exp(t))")
                params.append((a.value, a.span))
            return FunDef(call.value, tuple(params), body, _span(meta))

        def exprstmt(self, meta, expr):
            return ExprStmt(expr, _span(meta))

        # expressions
        def _op(self, meta, op, *args, op_span=None):
            return Syn("op", tuple(args), op, _span(meta), op_span)

        def add(self, meta, a, b):
            return self._op(meta, "add", a, b)

        def sub(self, meta, a, b):
            return self._op(meta, "sub", a, b)

        def juxt(self, meta, a, b):
            return self._op(meta, "juxt", a, b)

        def star(self, meta, a, b):
            return self._op(meta, "star", a, b)

        def matmul(self, meta, a, b):
            return self._op(meta, "matmul", a, b)

        def hadamard(self, meta, a, b):
            return self._op(meta, "hadamard", a, b)

        def hdiv(self, meta, a, b):
            return self._op(meta, "hdiv", a, b)

        def div(self, meta, a, b):
            return self._op(meta, "div", a, b)

        def kron(self, meta, a, b):
            return self._op(meta, "kron", a, b)

        def neg(self, meta, a):
            return self._op(meta, "neg", a)

        def pos(self, meta, a):
            return a

        def transpose(self, meta, a):
            return self._op(meta, "transpose", a)

        def inverse(self, meta, a):
            return self._op(meta, "inverse", a)

        def inverse_t(self, meta, a):
            return self._op(meta, "inverse_t", a)

        def power(self, meta, a, e):
            return self._op(meta, "power", a, e)

        def power_sup(self, meta, a, tok):
            k = int(str(tok).translate(_SUPER_DIGITS))
            if k == -1:  # X⁻¹: the inverse, as X^-1
                return self._op(meta, "inverse", a)
            return self._op(meta, "power", a, Syn("num", (), k, _tspan(tok)))

        def epower(self, meta, a, e):
            return self._op(meta, "epower", a, e)

        def exp_int(self, meta, tok):
            return Syn("num", (), _number(tok), _tspan(tok))

        exp_num = exp_int

        def exp_neg(self, meta, tok):
            return Syn("num", (), -_number(tok), _span(meta))

        def exp_expr(self, meta, e):
            return e

        def exp_name(self, meta, tok):
            return Syn("name", (), str(tok), _tspan(tok))

        def number(self, meta, tok):
            return Syn("num", (), _number(tok), _tspan(tok))

        def name(self, meta, tok):
            return Syn("name", (), str(tok), _tspan(tok))

        def call(self, meta, fname, *args):
            args = tuple(a for a in args if a is not None)
            return Syn("call", args, str(fname), _span(meta), _tspan(fname))

    return ToSyntax()


_TRANSFORMER = None
ATTRIBUTES = ("sym", "spd", "diag", "orth", "simplex")
_SHAPE_HINT = "shapes are written m x n, m×n, (m, n), R^{m x n}, n (a vector), or scalar"


def read_shape(toks, span: Span):
    """The words of a declaration after ':' -> (dims, attributes).

    >>> from lark import Token
    >>> words = "m x n spd".split()
    >>> ts = [Token("NAME", w, start_pos=i, end_pos=i + 1) for i, w in enumerate(words)]
    >>> dims, attrs = read_shape(ts, Span(0, 4))
    >>> [d.value for d in dims], [a for a, _ in attrs]
    (['m', 'n'], ['spd'])
    """
    toks = list(toks)
    attrs = []
    while len(toks) > 1 and toks[-1].type == "NAME" and str(toks[-1]) in ATTRIBUTES:
        attrs.insert(0, (str(toks[-1]), _tspan(toks[-1])))
        toks.pop()
    pos = 0

    def peek(k=0):
        return toks[pos + k] if pos + k < len(toks) else None

    def fail(msg, tok=None):
        where = _tspan(tok) if tok is not None else Span(span.end, span.end + 1)
        raise MatdSyntaxError(msg, where, _SHAPE_HINT)

    def take(text=None):
        nonlocal pos
        t = peek()
        if t is None:
            fail("the shape ends too soon" if text is None else f"expected '{text}'")
        if text is not None and str(t) != text:
            fail(f"expected '{text}', got '{t}'", t)
        pos += 1
        return t

    def dim():
        start = peek()
        values = []
        while True:
            t = take()
            if t.type == "INT":
                values.append(int(t))
            elif t.type == "NAME" and str(t) not in ("x", "R"):
                values.append(str(t))
            else:
                fail(f"expected a dimension (a name or a number), got '{t}'", t)
            if peek() is not None and str(peek()) == "*":
                take("*")
                continue
            break
        end = toks[pos - 1]
        return DimSyn(values[0] if len(values) == 1 else tuple(values),
                      Span(start.start_pos, end.end_pos))

    def times():
        t = peek()
        return t is not None and str(t) in ("x", "×")

    def pair(closing=None):
        d1 = dim()
        if times():
            take()
            return (d1, dim())
        return (d1,)

    first = peek()
    if first is None:
        fail("expected a shape after ':'")
    if str(first) == "scalar" and len(toks) == 1:
        return (), tuple(attrs)
    if str(first) in ("R", "ℝ"):
        take()
        if peek() is None:
            return (), tuple(attrs)
        take("^")
        if peek() is not None and str(peek()) == "{":
            take("{")
            dims = pair()
            take("}")
        else:
            dims = (dim(),)
    elif str(first) == "(":
        take("(")
        d1 = dim()
        if str(peek()) == ",":
            take(",")
            dims = (d1, dim())
        else:
            dims = (d1,)
        take(")")
    else:
        dims = pair()
    if pos < len(toks):
        t = toks[pos]
        if t.type == "NAME" and pos + 1 < len(toks):
            raise MatdSyntaxError(f"expected 'x' between dimensions, got '{t}'", _tspan(t),
                                  _SHAPE_HINT)
        if t.type == "NAME":
            raise MatdSyntaxError(f"unknown attribute '{t}'", _tspan(t),
                                  "attributes are sym, spd, diag and orth")
        fail(f"unexpected '{t}' in a shape", t)
    return dims, tuple(attrs)

_FRIENDLY = {"NAME": "a name", "FUNC_NAME": "a function", "INT": "a number",
             "FLOAT": "a number", "_SEP": "';' or a new line", "$END": "the end",
             "_TRANSPOSE": "'^T'", "_INVERSE": "'^-1'", "_INVERSE_T": "'^-T'",
             "SUPERSCRIPT": "a superscript", "_MINUS": "'-'", "_PLUS": "'+'",
             "_HADAMARD": "'.*'"}


def _friendly(parser, names) -> list[str]:
    out = set()
    for n in names:
        if n in _FRIENDLY:
            out.add(_FRIENDLY[n])
            continue
        try:
            out.add(repr(parser.get_terminal(n).pattern.value))
        except Exception:  # noqa: BLE001 - best effort for the hint
            out.add(n)
    return sorted(out)


def parse_syntax(text: str) -> list:
    """Parse matd text into surface statements (``matd.core.syntax``).

    >>> [type(s).__name__ for s in parse_syntax("x: n; 2 x")]
    ['Decl', 'ExprStmt']
    """
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    global _TRANSFORMER
    p = _parser()
    try:
        tree = p.parse(text)
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        hint = None
        if ch in "[]{}|":
            hint = "matd has no such bracket here; use ( ) for grouping"
        elif e.allowed:
            hint = "expected " + ", ".join(_friendly(p, e.allowed))
        raise MatdSyntaxError(f"unexpected character {ch!r}",
                              Span(e.pos_in_stream, e.pos_in_stream + 1), hint) from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            pos = len(text.rstrip())
            raise MatdSyntaxError("unexpected end of input", Span(pos, pos + 1),
                                  "expected " + ", ".join(_friendly(p, e.expected))) from None
        what = "end of statement" if tok.type == "_SEP" else repr(str(tok))
        hint = "expected " + ", ".join(_friendly(p, e.expected))
        raise MatdSyntaxError(f"unexpected {what}",
                              Span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1)),
                              hint) from None
    except UnexpectedInput as e:  # pragma: no cover - other lark input errors
        pos = getattr(e, "pos_in_stream", 0) or 0
        raise MatdSyntaxError("cannot parse this", Span(pos, pos + 1)) from None
    if _TRANSFORMER is None:
        _TRANSFORMER = _transformer()
    return _TRANSFORMER.transform(tree)


def parse_program(text: str, source: Source | None = None, **kw):
    """Parse and type a program.  Raises ``MatdError`` on syntax or shape errors."""
    from matd.core.elaborate import elaborate
    return elaborate(parse_syntax(text), source or Source(text), **kw)
