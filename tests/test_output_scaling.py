"""Issue 11: `matd diff` of a k-layer network by every weight is linear in k, in every format.

The shared parts of all the variables' formulas are named once for the whole derivation and
defined once: `where` rows in text and LaTeX, one program (`--format matd`), one function
with shared temporaries (`--format numpy`), and a top-level `definitions` list in JSON that
the results' formulas refer to.  So each format's size, and the printer's work (nodes
walked and printed: operation counts, not time), grow at most 2.2x when k doubles.  The
shared-definitions JSON read back (declarations, definitions, formula) gives `matd grad`'s
numbers, through the real `matd` command.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import matd
from matd_cli import matd as run
from printed_readers import json_programs, read_text_output

FORMATS = ("text", "matd", "latex", "json", "numpy")
KS = (32, 64, 128)   # linear from k = 8 on, but there W9 -> W10, t99 -> t100 add ~10%


def network(k: int) -> str:
    """sum(tanh(Wk … tanh(W1 x))), as bench/scaling.py has it."""
    decl = "x: n; " + "; ".join(f"W{i}: n x n" for i in range(1, k + 1))
    e = "x"
    for i in range(1, k + 1):
        e = f"tanh(W{i} {e})"
    return f"{decl}; sum({e})"


def rendered(k: int, fmt: str) -> str:
    r = matd.diff(network(k))      # by every variable: what `matd diff FILE` prints
    return {"text": r.text, "matd": r.matd, "latex": r.latex, "json": r.json,
            "numpy": r.numpy_source}[fmt]()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_grows_linearly_in_depth(fmt):
    sizes = {k: len(rendered(k, fmt)) for k in KS}
    for k in KS[:-1]:
        assert sizes[2 * k] <= 2.2 * sizes[k], (fmt, sizes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_naming_and_printing_work_grows_linearly_in_depth(fmt, monkeypatch):
    """Nodes walked and nodes printed, for all the variables: one walk of the derivation,
    not one per variable (which was quadratic: each gradient holds the forward pass)."""
    import matd.core.expr as expr
    import matd.core.printers as printers
    count = {"work": 0}
    walk, walk_new, render = expr.walk, printers.walk_new, printers._Printer.render

    def counted_walk(root):
        out = walk(root)
        count["work"] += len(out)
        return out

    def counted_walk_new(root, seen, order):
        before = len(order)
        out = walk_new(root, seen, order)
        count["work"] += len(out) - before
        return out

    def counted_render(self, node):
        count["work"] += 1
        return render(self, node)

    monkeypatch.setattr(expr, "walk", counted_walk)
    monkeypatch.setattr(printers, "walk_new", counted_walk_new)
    monkeypatch.setattr(printers._Printer, "render", counted_render)
    work = {}
    for k in KS:
        r = matd.diff(network(k))
        count["work"] = 0
        {"text": r.text, "matd": r.matd, "latex": r.latex, "json": r.json,
         "numpy": r.numpy_source}[fmt]()
        work[k] = count["work"]
    for k in KS[:-1]:
        assert work[2 * k] <= 2.2 * work[k], (fmt, work)


def test_shared_parts_are_defined_once_in_every_format():
    text = rendered(16, "text")
    _, wheres = read_text_output(text)
    names = [n for n, _ in wheres]
    assert len(names) > 16 and len(names) == len(set(names))
    tex = rendered(16, "latex")
    rows = re.findall(r"^\\text\{where \} (\S+) &=", tex, re.M)
    assert len(rows) > 16 and len(rows) == len(set(rows))
    program = rendered(16, "matd")
    defs = re.findall(r"^(t[0-9]+) = ", program, re.M)
    assert len(defs) > 16 and len(defs) == len(set(defs))
    src = rendered(16, "numpy")
    assert src.count("def matd_f(") == 1
    top = json.loads(rendered(16, "json"))
    names = [d["name"] for d in top["definitions"]]
    assert len(names) > 16 and len(names) == len(set(names))
    assert [r["wrt"] for r in top["results"]] == [f"W{i}" for i in range(16, 0, -1)] + ["x"]
    assert all("expression" not in r for r in top["results"])   # said once, at the top
    for d in top["definitions"]:    # n-vectors, and rows 1 - t8ᵀ
        assert set(d) == {"name", "body", "shape"} and d["shape"] in (["n"], ["1", "n"])


def _literal(a: np.ndarray) -> str:
    return json.dumps(a.tolist())


def test_shared_definitions_json_reads_back_to_matd_grads_numbers():
    k, n = 4, 3
    program = network(k)
    rng = np.random.default_rng(7)
    values = {"x": rng.standard_normal(n)}
    values |= {f"W{i}": 0.6 * rng.standard_normal((n, n)) for i in range(1, k + 1)}
    at = [a for name, v in values.items() for a in ("--at", f"{name}={_literal(v)}")]
    rc, out, err = run("diff", program, "--format", "json")
    assert rc == 0, err
    top = json.loads(out)
    assert top["definitions"] and top["declarations"].startswith("x: n; W1: n x n")
    derivatives = json_programs(out)
    wrt = [f"W{i}" for i in range(k, 0, -1)] + ["x"]
    assert list(derivatives) == wrt
    rc, want, err = run("grad", program, *[a for w in wrt for a in ("--wrt", w)], *at,
                        "--format", "json")
    assert rc == 0, err
    want = json.loads(want)["derivative"]
    # each derivative's program, and W1's differential along dW1 (⟨∂f/∂W1, dW1⟩)
    dW1 = rng.standard_normal((n, n))
    items = [{"expression": derivatives[w], "at": {k: v.tolist() for k, v in values.items()}}
             for w in wrt]
    items.append({"expression": json_programs(out, "differential")["W1"],
                  "at": {**items[0]["at"], "dW1": dW1.tolist()}})
    rc, got, err = run("eval", "--batch", stdin="".join(json.dumps(i) + "\n" for i in items))
    assert rc == 0, err
    got = [json.loads(line) for line in got.splitlines()]
    assert all("value" in g for g in got), got
    for w, g in zip(wrt, got):
        np.testing.assert_allclose(g["value"], want[w], rtol=1e-12, atol=1e-14)
    assert got[-1]["value"] == pytest.approx(float(np.sum(np.asarray(want["W1"]) * dW1)),
                                             rel=1e-10)


def test_batch_of_several_variables_is_the_json_object():
    program = network(3)
    rc, out, err = run("diff", "--batch", stdin=program + "\n")
    assert rc == 0, err
    obj = json.loads(out)
    rc, one, err = run("diff", program, "--format", "json")
    assert {k: v for k, v in obj.items() if k != "line"} == json.loads(one)
