"""A small LALR(1) runtime for matd.lark: a lexer and a shift-reduce loop over lark's tables.

lark computes the tables from ``grammar/matd.lark`` (``build``), with the options matd always
parsed with (``parser="lalr", lexer="basic", propagate_positions=True,
maybe_placeholders=True``), and ``grammar/tables.py`` keeps them.  Parsing then needs neither
lark's import (about 20 ms, most of it its grammar loader) nor a parse tree: each reduction
calls the transformer's method at once (``method(span, *children)``), with the children lark's
tree builder would give it — ``_`` terminals and anonymous strings filtered out, ``[x]`` as
None, ``?rule`` passing a single child through, ``__rule_star`` helpers spliced in — and the
span its ``propagate_positions`` would give the node (from the first to the last character of
what the rule matched, its filtered tokens included).  tests/test_grammar_tables.py holds the
two parsers to the same results, errors included.

The kept tables are used only while they were built from the very text of matd.lark on disk;
otherwise they are built again, with lark, in memory.  After editing the grammar, write them:

    python -m matd.grammar.lalr          (rewrites grammar/tables.py)

>>> start, span, (decl, stmt) = Parser(load(), Echo()).parse("x: n; (A) x")
>>> decl
('decl', (0, 4), [('names', (0, 1), ['x']), ('shape_tok', (3, 4), ['n'])])
>>> stmt
('exprstmt', (6, 11), [('juxt', (6, 11), [('name', (7, 8), ['A']), ('name', (10, 11), ['x'])])])
"""
from __future__ import annotations

import os

GRAMMAR = os.path.join(os.path.dirname(__file__), "matd.lark")   # os.path: no pathlib to import
TABLES = os.path.join(os.path.dirname(__file__), "tables.py")
OPTIONS = dict(parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True)


class Token(str):
    """A token: its text, with ``type`` (the terminal's name) and ``start_pos``/``end_pos``
    (character offsets), like lark's Token."""

    def __new__(cls, type_: str, value: str, start_pos: int, end_pos: int):
        self = str.__new__(cls, value)
        self.type, self.start_pos, self.end_pos = type_, start_pos, end_pos
        return self

    def __repr__(self):
        return f"Token({self.type!r}, {str(self)!r})"


class UnexpectedCharacters(Exception):
    """No terminal matches at ``pos_in_stream``; ``allowed``: the terminals of the lexer."""

    def __init__(self, pos: int, allowed):
        super().__init__(f"no terminal matches at {pos}")
        self.pos_in_stream, self.allowed = pos, set(allowed)


class UnexpectedToken(Exception):
    """``token`` cannot come here; ``expected``: the terminals that could."""

    def __init__(self, token: Token, expected):
        super().__init__(f"unexpected {token.type} at {token.start_pos}")
        self.token, self.expected = token, set(expected)


class Tables:
    """What the runtime needs of lark's analysis of a grammar (the fields of tables.py)."""

    FIELDS = ("GRAMMAR", "LARK", "TERMINALS", "IGNORE", "ALLOWED", "PATTERNS", "KEEP",
              "RULES", "STATES", "START", "END")

    def __init__(self, **fields):
        for name in self.FIELDS:
            setattr(self, name, fields[name])


def load(text: str | None = None) -> Tables:
    """The tables of grammar/matd.lark: the kept ones while they match its text, else built."""
    if text is None:
        text = _read(GRAMMAR)
    from matd.grammar import tables
    if tables.GRAMMAR == text:
        return Tables(**{f: getattr(tables, f) for f in Tables.FIELDS})
    return build(text)


def build(text: str) -> Tables:
    """The tables of a grammar, from lark's own analysis (the only use of lark)."""
    import lark
    from lark.parsers.lalr_analysis import Shift

    p = lark.Lark(text, **OPTIONS)
    lexer = p.parser.lexer
    scanner = lexer.scanner                     # lark's terminal order; builds lexer.callback
    if lexer.callback:                          # a string terminal the NAME pattern also matches
        raise ValueError(f"terminals that need lark's lexer callbacks: {sorted(lexer.callback)}")
    terminals = tuple((str(t.name), t.pattern.to_regexp()) for t in scanner.terminals)
    rules, keep = [], set()
    for r in p.rules:
        keep_all, expand = r.options.keep_all_tokens, r.expansion
        empty = r.options.empty_indices         # where a [x] left nothing: a None goes there
        if empty:
            digits = "".join(str(int(b)) for b in empty)
            nones = [len(ones) for ones in digits.split("0")]
        else:
            nones = [0] * (len(expand) + 1)
        include, pending = [], 0
        for i, sym in enumerate(expand):
            pending += nones[i]
            if keep_all or not (sym.is_term and sym.filter_out):
                splice = not sym.is_term and sym.name.startswith("_")
                include.append((i, splice, pending))
                if sym.is_term:
                    keep.add(str(sym.name))
                pending = 0
        pending += nones[len(expand)]
        name = str(r.origin.name)
        rules.append((name, len(expand), str(r.alias or r.options.template_source or name),
                      bool(r.options.expand1 and not r.alias), name.startswith("_"),
                      tuple(include), pending))
    index = {r: i for i, r in enumerate(p.rules)}
    table = p.parser.parser.parser.parse_table
    # lark numbers its states in set order (it varies with the hash seed): number them
    # breadth first from the start state, symbols in sorted order, so the file is reproducible
    start = table.start_states["start"]
    order, seen = [start], {start}
    for s in order:
        for sym, (action, arg) in sorted(table.states[s].items()):
            if action is Shift and arg not in seen:
                seen.add(arg)
                order.append(arg)
    number = {s: i for i, s in enumerate(order)}
    states = []
    for s in order:
        states.append({str(sym): number[arg] if action is Shift else ~index[arg]
                       for sym, (action, arg) in sorted(table.states[s].items())})
    return Tables(GRAMMAR=text, LARK=lark.__version__, TERMINALS=terminals,
                  IGNORE=tuple(sorted(lexer.ignore_types)),
                  ALLOWED=tuple(sorted(scanner.allowed_types - lexer.ignore_types)),
                  PATTERNS={str(t.name): str(t.pattern.value) for t in p.terminals},
                  KEEP=tuple(sorted(keep)),
                  RULES=tuple(rules), STATES=tuple(states),
                  START=number[start], END=number[table.end_states["start"]])


def source(t: Tables) -> str:
    """tables.py: the tables as Python literals."""
    out = ['"""The LALR(1) tables of grammar/matd.lark, as lark computes them (see '
           'matd.grammar.lalr).\n\nGenerated by `python -m matd.grammar.lalr`; do not edit.\n"""',
           "# flake8: noqa", "# ruff: noqa", "",
           f"LARK = {t.LARK!r}", f"START = {t.START!r}", f"END = {t.END!r}",
           f"IGNORE = {t.IGNORE!r}", f"ALLOWED = {t.ALLOWED!r}",
           "# the terminals some rule keeps as a child (the others are only places)",
           f"KEEP = {t.KEEP!r}", "",
           "# (name, regexp), in the order the lexer tries them", "TERMINALS = ("]
    out += [f"    {x!r}," for x in t.TERMINALS] + [")", "", "PATTERNS = {"]
    out += [f"    {k!r}: {v!r}," for k, v in sorted(t.PATTERNS.items())] + ["}", ""]
    out += ["# (name, length, method, pass a single child through, splice into the parent,",
            "#  ((child, splice it, Nones before it), ...), Nones at the end)", "RULES = ("]
    out += [f"    {r!r}," for r in t.RULES] + [")", ""]
    out += ["# one row per state: symbol -> next state (shift, goto) or ~rule (reduce)",
            "STATES = ("]
    out += [f"    {row!r}," for row in t.STATES] + [")", ""]
    out += ["GRAMMAR = " + repr(t.GRAMMAR), ""]
    return "\n".join(out)


class Parser:
    """Parse text with tables, calling ``transformer.<method>(span, *children)`` per reduction.

    ``span`` is ``span_type((start, end))`` for a tuple type (None for a rule that matched
    nothing).  An exception of a ``defer`` class that a method raises is raised only once the
    whole text has parsed (a syntax error further on comes first, as after a tree's
    transform); the methods are not called again after it."""

    def __init__(self, tables: Tables, transformer, span_type=tuple, defer=()):
        import re
        self.tables = tables
        self.regex = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in tables.TERMINALS))
        self.ignore = frozenset(tables.IGNORE)
        self.keep = frozenset(tables.KEEP)
        self.states = tables.STATES
        self.rules = [(r[0], r[1], _reducer(r, transformer, span_type)) for r in tables.RULES]
        self.defer = defer

    def expected(self, state: int) -> list[str]:
        return [s for s in self.states[state] if s.isupper()]

    def parse(self, text: str):
        """The value of the start rule for ``text``; UnexpectedCharacters or UnexpectedToken."""
        match, ignore, keep, states = self.regex.match, self.ignore, self.keep, self.states
        rules, end_state = self.rules, self.tables.END
        # the states, and beside them what each one holds: (value, start, end), where start
        # and end are the reach of the text it matched (None, None for nothing)
        stack, items = [self.tables.START], []
        state = self.tables.START
        pos, n, deferred = 0, len(text), None
        start = end = None
        while True:
            if pos < n:
                m = match(text, pos)
                if m is None:
                    raise UnexpectedCharacters(pos, self.tables.ALLOWED)
                kind = m.lastgroup
                if kind in ignore:
                    pos = m.end()
                    continue
                start, pos = pos, m.end()
                end = pos
                # a token no rule keeps (punctuation, operators) is only a place: no object
                tok = Token(kind, m.group(), start, end) if kind in keep else None
            else:
                kind, tok = "$END", None
                if start is None:
                    start, end = 0, 1
            while True:
                action = states[state].get(kind)
                if action is None:
                    raise UnexpectedToken(Token(kind, text[start:end] if kind != "$END" else "",
                                                start, end), self.expected(state))
                if action >= 0:                                     # shift
                    state = action
                    stack.append(action)
                    items.append((tok, start, end))
                    break
                name, size, reduce = rules[~action]
                if reduce is None:                   # X -> Y, Y passed through: a goto
                    stack[-1] = state = states[stack[-2]][name]
                    continue
                if size:
                    kids = items[-size:]
                    del stack[-size:], items[-size:]
                else:
                    kids = []
                try:
                    item = reduce(kids)
                except self.defer as err:
                    deferred = deferred or err
                    rules = [(r[0], r[1], r[2] and _nothing) for r in rules]
                    item = _NOTHING
                state = states[stack[-1]][name]
                stack.append(state)
                items.append(item)
                if kind == "$END" and state == end_state:
                    if deferred is not None:
                        raise deferred
                    return item[0]


_NOTHING = (None, None, None)


def _nothing(kids):
    return _NOTHING


def _reach(kids):
    """(start, end) of the children that have a place (None, None if none has)."""
    s = next((k[1] for k in kids if k[1] is not None), None)
    e = next((k[2] for k in reversed(kids) if k[2] is not None), None)
    return s, e


def _reducer(rule, transformer, span_type):
    """The function of one reduction: the children's (value, start, end) -> the node's, where
    start/end are the reach of everything the rule matched (lark's container); None for
    X -> Y where Y is passed through as it is (the parser only moves to a state)."""
    name, size, method_name, expand1, splice_up, include, append_none = rule
    plain = (include == tuple((i, False, 0) for i in range(size)) and not append_none)
    if expand1 and plain and size == 1:
        return None
    method = None if splice_up else getattr(transformer, method_name, None)
    new = tuple.__new__
    picks = tuple(i for i, splice, nones in include)
    if not (splice_up or expand1 or append_none or method is None) and size and \
            all(not splice and not nones for _, splice, nones in include):
        # the common case, a rule with a method and fixed children (a, b of `a + b`)
        if len(picks) == 1:
            (i,) = picks

            def reduce1(kids):
                s, e = kids[0][1], kids[-1][2]
                if s is None or e is None:
                    s, e = _reach(kids)
                return method(new(span_type, (s, e)), kids[i][0]), s, e
            return reduce1
        if len(picks) == 2:
            i, j = picks

            def reduce2(kids):
                s, e = kids[0][1], kids[-1][2]
                if s is None or e is None:
                    s, e = _reach(kids)
                return method(new(span_type, (s, e)), kids[i][0], kids[j][0]), s, e
            return reduce2

    def reduce(kids):
        s, e = _reach(kids)
        out = []
        for i, splice, nones in include:
            if nones:
                out += [None] * nones
            if splice:                        # x* as left recursion: grow the same list
                if out:
                    out += kids[i][0]
                else:
                    out = kids[i][0]
            else:
                out.append(kids[i][0])
        if append_none:
            out += [None] * append_none
        if splice_up:                          # a helper rule (x*, x+): its children go up
            return out, s, e
        if expand1 and len(out) == 1:
            v = out[0]
            if v is None or isinstance(v, Token):  # lark keeps a token's own place
                return (v, None, None) if v is None else (v, v.start_pos, v.end_pos)
            return v, s, e
        if method is None:
            raise AssertionError(f"the transformer has no method {method_name!r} (rule {name})")
        return method(None if s is None else new(span_type, (s, e)), *out), s, e

    return reduce


class Echo:
    """A transformer for trying the runtime: (method, span, children) for every rule."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda span, *kids: (name, span, [str(k) if isinstance(k, Token) else k
                                                 for k in kids])


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def main() -> None:  # python -m matd.grammar.lalr
    new = source(build(_read(GRAMMAR)))
    old = _read(TABLES) if os.path.exists(TABLES) else ""
    if new == old:
        print(f"{TABLES} is up to date")
        return
    with open(TABLES, "w", encoding="utf-8", newline="") as fh:
        fh.write(new)
    print(f"wrote {TABLES}")


if __name__ == "__main__":
    main()
