"""The rewrite rules of ``matd.core.rules``, row by row: each row's example program is
simplified (the row must fire on it) and keeps its value (lhs ≡ rhs) at random inputs that
respect the declared attributes; simplifying twice changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from matd.core.evaluate import evaluate
from matd.core.randomize import random_inputs
from matd.core.rules import RULES
from matd.core.simplify import simplify
from matd.grammar.parse import parse_program

SIZES = {"m": 3, "n": 4, "p": 2, "q": 5, "k": 3, "r": 2, "s": 3}


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule_fires_on_its_example_and_keeps_the_value(rule):
    prog = parse_program(rule.example)
    f = prog.result
    fired: list = []
    g = simplify(f, fired)
    assert rule.name in fired, f"{rule.name} does not fire on {rule.example!r}: {fired}"
    assert simplify(g) is g                     # idempotent
    for seed in range(3):
        kinds = {n: "wellcond" for n, v in prog.variables.items()
                 if v.shape[0] == v.shape[1] and not v.params[1]}
        env, sizes = random_inputs(prog, SIZES, np.random.default_rng(seed), kinds)
        np.testing.assert_allclose(evaluate(g, env, sizes), evaluate(f, env, sizes),
                                   rtol=1e-9, atol=1e-10, err_msg=rule.name)


def test_rule_names_are_unique():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
