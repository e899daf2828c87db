"""No input crashes matd: a fuzzer over the library paths behind `matd check`, `matd shape`
and `matd diff` (every format, --order 1 and 2), in-process (tests/fuzzgen.py).

The only exceptions allowed are matd's user errors (``MatdError`` and subclasses: exit 2);
anything else, or one call taking more than 2 s, is a finding, reported with a minimized
input.  The default run is short and deterministic; ``pytest -m slow`` runs 100,000 inputs
(set MATD_FUZZ_LOG / MATD_FUZZ_REPORT to paths for a progress log and a JSON report).
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest

import fuzzgen
from matd.core.primitives import FUNCTIONS

LIMIT = 2.0  # CPU seconds per call: longer is a hang

# Crash classes reported and being fixed in files outside this change.  The default run
# skips exactly these signatures (exception type, the file it is raised in, its message);
# the slow run reports everything.  Remove an entry once its fix is in.
KNOWN: list[tuple[str, str, str]] = [   # (type, file, message pattern) of reported crashes
]


def known(f) -> bool:
    return any(f["type"] == t and f["raise"].split(":")[0] == path and re.search(rx, f["message"])
               for t, path, rx in KNOWN)


def _report(found) -> str:
    return "\n".join(f"{f['type']} at {f['raise']} (matd frame {f['own']}) in {f['call']}: "
                     f"{f['minimal']!r}: {f['message']}  [x{f['count']}]"
                     for f in found)


def test_seeds_and_generators_cover_the_language():
    pool = fuzzgen.seeds()
    assert len(pool) >= 45 and any("norm(r)^2" in s for s in pool)
    rng = random.Random(0)
    text = " ".join(fuzzgen.generate(rng) for _ in range(400))
    for piece in ("spd", "orth", "diag(", "^T", "⁻¹", ".^", "∘", "⊗", "./", "R^{", "×",
                  "softmax(", "lambda_", "unvec(", "uf0(", "1e", ".5", "^{-0.5}",
                  "^{-1}", "^-T", "⁻ᵀ", "ᵀ", "⊤", "'", "²", " @ ", " − "):
        assert piece in text, piece
    # every function of the table, by every spelling, called
    for name in FUNCTIONS:
        assert re.search(rf"(?<![A-Za-z0-9_]){name}\(", text), name
    # the axis, offset and broadcast forms of the new rows
    for form in (r"\b(sum|mean|logsumexp)\([^;\n]*, 1\)", r"\b(sum|mean|logsumexp)\([^;\n]*, 2\)",
                 r"\bsoftmax\([^;\n]*, [12]\)", r"\btril\([^;\n]*, -[0-9]\)",
                 r"\btriu\([^;\n]*, [0-9]\)", r"\b(max|min)\([^;\n]*, 0\)"):
        assert re.search(form, text), form


def test_deck_forces_every_kind_and_spelling():
    """Each spelling of each construct is reached by construction (``fuzzgen.Deck``), not by
    the luck of one random stream: every entry of every table is dealt within 400
    programs, for any stream."""
    deck = fuzzgen.Deck(random.Random(5))
    assert len(deck.items) <= 200
    for kind in fuzzgen.KINDS:   # every kind has a shape (and is built there)
        assert any(kind in fuzzgen.Gen.kinds(s) for s in
                   [("1", "1"), ("n", "n"), ("n", "1"), ("1", "n"), ("m", "n")]), kind
    for seed in (1, 2):
        rng = random.Random(seed)
        deck = fuzzgen._DECKS[rng] = fuzzgen.Deck(rng)
        for _ in range(400):
            fuzzgen.generate(rng)   # asserts that a forced spelling made it into the program
        assert deck.programs == 400 and len(deck.dealt) == len(deck.items)


def test_typed_programs_type_and_reach_every_row():
    """The typed generator's programs (no ill-typed nodes) mostly type, and between them use
    every row of the primitive table, each function with arguments in its domain."""
    from matd.core.errors import MatdError
    from matd.core.expr import walk
    from matd.core.primitives import PRIMS
    from matd.grammar.parse import parse_program
    rng = random.Random(3)
    seen, failed, n = set(), [], 1000
    for _ in range(n):
        text = fuzzgen.generate(rng, ill=0.0)
        try:
            prog = parse_program(text)
        except MatdError as e:
            failed.append((text, str(e)))
            continue
        if prog.result is not None:
            seen.update(node.op for node in walk(prog.result))
        for uf in prog.functions.values():
            seen.update(node.op for node in walk(uf.body))
    # undeclared names left to inference and dims used as numbers do not always type
    assert len(failed) < 0.15 * n, failed[:5]
    missing = set(PRIMS) - seen - {"dvar"}
    assert not missing, sorted(missing)


def test_fuzz_quick():
    """≈10–15 s, deterministic: generated and mutated inputs, all calls."""
    n, secs, found = fuzzgen.campaign(seed=20240, count=2000, limit=LIMIT, deadline=40,
                                      minimize_budget=150)
    assert n >= 500, f"only {n} inputs in {secs:.0f} s"
    new = [f for f in found.values() if not known(f)]
    assert not new, f"{len(new)} crash(es) in {n} inputs:\n" + _report(new)


@pytest.mark.slow
def test_fuzz_100k():
    log_path = os.environ.get("MATD_FUZZ_LOG")
    log_fh = open(log_path, "a", encoding="utf-8") if log_path else None

    def log(msg):
        if log_fh:
            log_fh.write(msg + "\n")
            log_fh.flush()
    try:
        n, secs, found = fuzzgen.campaign(seed=1, count=100_000, limit=LIMIT, log=log)
        log(f"ran {n} inputs in {secs:.0f} s; {len(found)} distinct findings")
    finally:
        if log_fh:
            log_fh.close()
    if os.environ.get("MATD_FUZZ_REPORT"):
        Path(os.environ["MATD_FUZZ_REPORT"]).write_text(
            json.dumps({"inputs": n, "seconds": secs, "findings": list(found.values())},
                       indent=1, ensure_ascii=False), encoding="utf-8")
    assert n == 100_000
    assert not found, f"{len(found)} distinct crash(es) in {n} inputs:\n" + \
        _report(found.values())
