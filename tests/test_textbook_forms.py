"""Issue 10: derivatives in textbook form — equal in value to the form the references
write (tests/data/textbook_forms.json, with citations, and the corpus' expected forms) and
no longer than it, counted in tokens."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from matd.core.derive import derive
from matd.core.evaluate import evaluate
from matd.core.printers import to_matd
from matd.core.randomize import random_inputs
from matd.grammar.parse import parse_program

DATA = Path(__file__).resolve().parent / "data"
FORMS = json.loads((DATA / "textbook_forms.json").read_text())["cases"]
CORPUS = [c for c in json.loads((DATA / "cases.json").read_text())["cases"] if c["expected"]]
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*|\^-T|\^-1|\^T|\.\*|\./|\.\^|[-+*/^(),@]")


def tokens(text: str) -> int:
    """Names, numbers and operators (a function call counts its name and parentheses)."""
    return len(TOKEN.findall(text))


def check(program, wrt, order, textbook, dims=None, inputs=None):
    prog = parse_program(program)
    D = derive(prog, [wrt], order).results[0].derivative
    assert D is not None
    got = to_matd(D)
    assert tokens(got) <= tokens(textbook), f"{got!r} is longer than {textbook!r}"
    ref = parse_program(program + "; " + textbook).result
    kinds = {n: "wellcond" for n, v in prog.variables.items()
             if v.shape[0] == v.shape[1] and not v.params[1]}
    kinds.update(inputs or {})
    for seed in range(2):
        env, sizes = random_inputs(prog, dims or {"m": 3, "n": 4, "p": 2, "q": 3, "d": 3,
                                                  "k": 4}, np.random.default_rng(seed), kinds)
        a, b = evaluate(D, env, sizes), evaluate(ref, env, sizes)
        np.testing.assert_allclose(a, b.reshape(a.shape), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", FORMS, ids=[c["program"][:40] for c in FORMS])
def test_textbook_form(case):
    check(case["program"], case["wrt"], case["order"], case["textbook"])


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_prints_no_longer_than_its_textbook_form(case):
    check(case["program"], case["wrt"], case["order"], case["expected"], case["dims"],
          case["inputs"])
