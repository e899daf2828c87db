"""Functions with no differential (polar, svd_u1, svd_v1, …), through the real `matd`
command: a `PLACE: error:` at the call, the source line with carets under it, exit 2, and a
hint that fits the request — order 1: what matd can differentiate instead; order 2: that the
first derivative is there."""
from __future__ import annotations

import json

import pytest

from matd_cli import matd


def carets(err: str, program: str, call: str) -> None:
    """The error shows the program's line with carets under exactly ``call``."""
    lines = err.splitlines()
    i = lines.index("  " + program)
    col = program.index(call)
    assert lines[i + 1] == "  " + " " * col + "^" * len(call), lines[i + 1]


POLAR = "X: m x n; c: m; c^T polar(X) ones(n)"


@pytest.mark.parametrize("command", [("diff", POLAR, "--wrt", "X"),
                                     ("diff", POLAR),
                                     ("grad", POLAR, "--wrt", "X", "--random")])
def test_order_1_points_at_the_call_and_names_what_is_differentiable(command):
    rc, out, err = matd(*command)
    assert rc == 2 and out == ""
    col = POLAR.index("polar(") + 1
    assert err.startswith(f"<expr>:{col}: error: polar has no closed-form differential in matd")
    carets(err, POLAR, "polar(X)")
    hint = err.splitlines()[-1]
    assert hint.startswith("hint: matd has no derivative of polar")
    assert "nuclear is differentiable" in hint and "second" not in hint


def test_order_1_inside_a_definition_and_singular_vectors():
    prog = "X: m x n; P = polar(X); c: m; c^T P ones(n)"
    rc, _, err = matd("diff", prog, "--wrt", "X")
    assert rc == 2
    carets(err, prog, "polar(X)")
    for fn in ("svd_u1", "svd_v1"):
        prog = f"X: m x n; w: {'m' if fn == 'svd_u1' else 'n'}; w^T {fn}(X)"
        rc, _, err = matd("diff", prog, "--wrt", "X")
        assert rc == 2 and f"error: {fn} has no closed-form differential in matd" in err
        carets(err, prog, f"{fn}(X)")
        assert "specnorm is differentiable" in err.splitlines()[-1]


@pytest.mark.parametrize("program,call", [("X: m x n; specnorm(X)", "specnorm(X)"),
                                          ("X: m x n; 3 + specnorm(X)^2", "specnorm(X)")])
def test_order_2_points_at_the_call_and_offers_the_first_derivative(program, call):
    rc, out, err = matd("diff", program, "--wrt", "X", "--order", "2")
    assert rc == 2 and out == ""
    assert err.startswith(f"<expr>:{program.index(call) + 1}: error: specnorm has no second "
                          "derivative in matd")
    assert "svd_u1" in err.splitlines()[0]
    carets(err, program, call)
    assert err.splitlines()[-1] == ("hint: first derivatives are available: without "
                                    "--order 2, matd gives ∂f/∂X")
    rc, out, err = matd("diff", program, "--wrt", "X")   # which is so
    assert rc == 0 and "∂f/∂X" in out, err
    rc, _, err = matd("grad", program, "--wrt", "X", "--order", "2", "--random")
    assert rc == 2 and "specnorm has no second derivative" in err
    carets(err, program, call)


def test_batch_and_json_report_the_place():
    items = [json.dumps({"expression": POLAR}),
             json.dumps({"expression": "X: m x n; specnorm(X)", "order": 2})]
    rc, out, _ = matd("diff", "--batch", stdin="\n".join(items) + "\n")
    assert rc == 2
    first, second = (json.loads(line) for line in out.splitlines())
    assert (first["line"], first["col"]) == (1, POLAR.index("polar(") + 1)
    assert "nuclear is differentiable" in first["hint"]
    assert second["col"] == len("X: m x n; ") + 1 and "first derivatives" in second["hint"]
