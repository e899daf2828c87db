"""Text -> surface syntax -> typed IR.

``parse_program(text)`` returns a typed ``Program`` (see ``matd.core.elaborate``);
``parse_syntax(text)`` stops at the untyped statements.  The LALR parser runs on
tables that lark computed from matd.lark (``matd.grammar.lalr``, kept in
``matd.grammar.tables``), so parsing imports no lark.

>>> prog = parse_program("A: m x n; x: n; A x")
>>> str(prog.result.shape[0]), str(prog.result.shape[1])
('m', '1')
"""
from __future__ import annotations

from matd.core.errors import MatdSyntaxError, Span
from matd.core.syntax import Decl, Define, DimSyn, ExprStmt, FunDef, Source, Syn

_PARSER = None


def _parser():
    """The LALR parser of matd.lark, built once per process from its kept tables
    (``matd.grammar.lalr``), reducing straight to surface syntax."""
    global _PARSER
    if _PARSER is None:
        from matd.grammar.lalr import Parser, load
        _PARSER = Parser(load(), ToSyntax(), Span, defer=MatdSyntaxError)
    return _PARSER


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


def _op(op: str):
    """The method of a rule that makes the operator node ``op`` of its operands."""
    def method(self, span, *args):
        return Syn("op", args, op, span)
    method.__name__ = op
    return method


class ToSyntax:
    """matd.lark's rules -> matd.core.syntax.  Total: every alias of matd.lark has a method
    (tests/test_grammar_tables.py checks), called as ``method(span, *children)`` by the
    parser at each reduction: ``span`` covers what the rule matched, from its first to its
    last character."""

    # statements
    def start(self, span, *stmts):
        return [s for s in stmts if s is not None]

    def decl(self, span, names, *toks):
        dims, attrs = read_shape(toks, span)
        return Decl(tuple(names), dims, attrs, span)

    def shape_tok(self, span, tok):
        return tok

    def names(self, span, *toks):
        return [(str(t), _tspan(t)) for t in toks]

    def define(self, span, name, expr):
        return Define(str(name), _tspan(name), expr, span)

    def fundef(self, span, call, body):
        params = []
        for a in call.args:
            if a.kind != "name":
                raise MatdSyntaxError(
                    "a function's parameters must be plain names", a.span,
                    "write e.g. f(t) = log(1 + exp(t))")
            params.append((a.value, a.span))
        return FunDef(call.value, tuple(params), body, span)

    def exprstmt(self, span, expr):
        return ExprStmt(expr, span)

    # expressions: an operator node per rule; spans come from the parser
    add, sub, juxt, star = _op("add"), _op("sub"), _op("juxt"), _op("star")
    matmul, hadamard, hdiv, div, kron = (_op("matmul"), _op("hadamard"), _op("hdiv"),
                                         _op("div"), _op("kron"))
    neg, transpose, inverse, inverse_t = (_op("neg"), _op("transpose"), _op("inverse"),
                                          _op("inverse_t"))
    power, epower = _op("power"), _op("epower")

    def pos(self, span, a):
        return a

    def power_sup(self, span, a, tok):
        k = int(str(tok).translate(_SUPER_DIGITS))
        if k == -1:  # X⁻¹: the inverse, as X^-1
            return Syn("op", (a,), "inverse", span)
        return Syn("op", (a, Syn("num", (), k, _tspan(tok))), "power", span)

    def exp_int(self, span, tok):   # rules of one token: the span is the token's
        return Syn("num", (), _number(tok), span)

    exp_num = exp_int

    def exp_neg(self, span, tok):
        return Syn("num", (), -_number(tok), span)

    def exp_expr(self, span, e):
        return e

    def exp_name(self, span, tok):
        return Syn("name", (), str(tok), span)

    def number(self, span, tok):
        return Syn("num", (), _number(tok), span)

    def name(self, span, tok):
        return Syn("name", (), str(tok), span)

    def call(self, span, fname, *args):
        args = tuple(a for a in args if a is not None)
        return Syn("call", args, str(fname), span, _tspan(fname))


ATTRIBUTES = ("sym", "spd", "diag", "orth", "simplex")
_SHAPE_HINT = "shapes are written m x n, m×n, (m, n), R^{m x n}, n (a vector), or scalar"


def read_shape(toks, span: Span):
    """The words of a declaration after ':' -> (dims, attributes).

    >>> from matd.grammar.lalr import Token
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


def _friendly(patterns, names) -> list[str]:
    return sorted({_FRIENDLY[n] if n in _FRIENDLY else repr(patterns[n]) if n in patterns else n
                   for n in names})


def parse_syntax(text: str) -> list:
    """Parse matd text into surface statements (``matd.core.syntax``).

    >>> [type(s).__name__ for s in parse_syntax("x: n; 2 x")]
    ['Decl', 'ExprStmt']
    """
    from matd.grammar.lalr import UnexpectedCharacters, UnexpectedToken

    p = _parser()
    try:
        return p.parse(text)
    except (UnexpectedCharacters, UnexpectedToken) as e:
        raise syntax_error(e, text, p.tables.PATTERNS) from None


def syntax_error(e, text: str, patterns) -> MatdSyntaxError:
    """The MatdSyntaxError of the parser's UnexpectedCharacters or UnexpectedToken (or of
    lark's own, which have the same fields)."""
    if not hasattr(e, "token"):  # no terminal matches here
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        hint = None
        if ch in "[]{}|":
            hint = "matd has no such bracket here; use ( ) for grouping"
        elif e.allowed:
            hint = "expected " + ", ".join(_friendly(patterns, e.allowed))
        return MatdSyntaxError(f"unexpected character {ch!r}",
                               Span(e.pos_in_stream, e.pos_in_stream + 1), hint)
    tok = e.token
    if tok.type == "$END":
        pos = len(text.rstrip())
        return MatdSyntaxError("unexpected end of input", Span(pos, pos + 1),
                               "expected " + ", ".join(_friendly(patterns, e.expected)))
    what = "end of statement" if tok.type == "_SEP" else repr(str(tok))
    hint = "expected " + ", ".join(_friendly(patterns, e.expected))
    return MatdSyntaxError(f"unexpected {what}",
                           Span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1)), hint)


def parse_program(text: str, source: Source | None = None, **kw):
    """Parse and type a program.  Raises ``MatdError`` on syntax or shape errors.

    The cyclic garbage collector is paused meanwhile: parsing and typing make objects by
    the hundred thousand for a long file and free them by reference counts, and collections
    that rescan every one of them made the time per statement grow with the file (twice
    as much from 1,000 to 10,000 statements)."""
    import gc

    from matd.core.elaborate import elaborate
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return elaborate(parse_syntax(text), source or Source(text), **kw)
    finally:
        if was_enabled:
            gc.enable()
