"""The parser's kept LALR tables (grammar/tables.py) and its runtime (grammar/lalr.py), held to
lark: the tables are lark's for the matd.lark on disk, and parsing with them gives what lark's
own parser and a transform of its tree give — statements, spans and syntax errors alike."""
from __future__ import annotations

import random

import lark
import pytest

import fuzzgen
from matd.core.errors import MatdError, Span
from matd.grammar import lalr, parse, tables

GRAMMAR = lalr._read(lalr.GRAMMAR)


def lark_parse(text: str):
    """The former parser, as reference: lark builds a tree (propagate_positions), then a
    bottom-up walk calls ToSyntax's methods with each node's span."""
    if not hasattr(lark_parse, "parser"):
        lark_parse.parser = lark.Lark(GRAMMAR, **lalr.OPTIONS)
    try:
        tree = lark_parse.parser.parse(text)
    except (lark.exceptions.UnexpectedCharacters, lark.exceptions.UnexpectedToken) as e:
        raise parse.syntax_error(e, text, tables.PATTERNS) from None
    t = parse.ToSyntax()
    out, stack = [], [(tree, False)]
    while stack:
        node, done = stack.pop()
        if isinstance(node, lark.Token) or node is None:
            out.append(node)
        elif done:
            k = len(node.children)
            args = out[len(out) - k:]
            del out[len(out) - k:]
            m = node.meta
            out.append(getattr(t, node.data)(None if m.empty else Span(m.start_pos, m.end_pos),
                                             *args))
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children))
    return out[0]


def outcome(f, text):
    try:
        return "ok", f(text)
    except MatdError as e:
        return type(e).__name__, e.message, e.span, e.hint


def test_the_kept_tables_are_of_the_grammar_on_disk():
    assert tables.GRAMMAR == GRAMMAR, \
        "grammar/matd.lark changed: run `python -m matd.grammar.lalr` to rewrite grammar/tables.py"


def test_the_kept_tables_are_what_lark_computes_now():
    built = lalr.build(GRAMMAR)
    kept = lalr.load()
    for field in lalr.Tables.FIELDS:
        if field != "LARK":
            assert getattr(built, field) == getattr(kept, field), field
    assert lalr.source(built).replace(f"LARK = {built.LARK!r}", "") == \
        lalr._read(lalr.TABLES).replace(f"LARK = {tables.LARK!r}", "")


def test_an_edited_grammar_is_parsed_with_tables_built_again():
    t = lalr.load(GRAMMAR + "\n// an edit that changes nothing\n")
    assert t.GRAMMAR != tables.GRAMMAR and t.STATES == tables.STATES


def test_every_rule_has_its_method():
    """ToSyntax is total: every rule that makes a node (not a pass-through X -> Y, not a
    helper of x* or x+) has a method of the name lark would call."""
    for name, size, method, expand1, splice, include, append_none in tables.RULES:
        passes_through = expand1 and len(include) + sum(n for _, _, n in include) \
            + append_none == 1
        if not splice and not passes_through:
            assert callable(getattr(parse.ToSyntax, method, None)), (name, method)


EDGES = ["", "\n", "# only a comment", ";;", "x: n;", "x:", ":", "-", "(((", "f()", "f(,)",
         "x: n\r\nx", "\r\n", "é", "α β", "ℝ", "x: ℝ^{m x n}", "x: R", "x: (m, n)", "x: m x",
         "x: n spd foo", "x: 1e999", "A⁻¹ B²", "X^-1.5", "c^-1e3", "x$", "a [b]",
         "1e999 x", "1e999; )", "f(2) = 1; x +", "f(2) = 1", "x: m*n x p; A' * B .^ 2",
         "A ⊗ B ∘ C ./ D / 2 @ E", "X^{-T} X^{T} X^{-1} X⊤ Xᵀ X⁻ᵀ", "-+-x", "x = ; y"]


def corpus(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pool = fuzzgen.seeds()
    out = list(pool) + EDGES
    for _ in range(count):
        out.append(fuzzgen.generate(rng))
        out.append(fuzzgen.mutate(rng, rng.choice(pool), pool))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_parsing_with_the_kept_tables_is_parsing_with_lark(seed):
    texts = corpus(seed, 300)
    differ = [t for t in texts if outcome(parse.parse_syntax, t) != outcome(lark_parse, t)]
    assert not differ, differ[:3]
    kinds = {outcome(parse.parse_syntax, t)[0] for t in texts}
    assert kinds == {"ok", "MatdSyntaxError"}


def test_a_syntax_error_further_on_comes_before_an_earlier_bad_number():
    e = outcome(parse.parse_syntax, "x: n; 1e999 x; )")
    assert e[1] == "unexpected ')'" and e[2] == Span(15, 16)
    e = outcome(parse.parse_syntax, "x: n; 1e999 x; 2e999")
    assert e[1] == "the number 1e999 is too large" and e[2] == Span(6, 11)


def test_deep_nesting_parses_without_recursion():
    depth = 5000
    prog = parse.parse_syntax("(" * depth + "x" + ")" * depth)
    assert prog[0].expr.value == "x" and prog[0].span == Span(0, 2 * depth + 1)


@pytest.mark.parametrize("module", [lalr, parse])
def test_docstring_examples_run(module):
    import doctest
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
