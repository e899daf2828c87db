"""The straight-line function a numpy plan runs (core/straight.py) computes what the
step-by-step loop computes, bit for bit, over every corpus case's gradient and Hessian,
and never gives a run back to the loop unless the run fails."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matd.core.derive import derive
from matd.core.errors import MatdError
from matd.core.plan import NumericError, Plan
from matd.core.randomize import random_inputs
from matd.core.straight import source
from matd.grammar.parse import parse_program

CASES = json.loads((Path(__file__).parent / "data" / "cases.json").read_text())["cases"]


def has_hessian(case) -> bool:
    try:
        derive(parse_program(case["program"]), [case["wrt"]], 2)
    except MatdError:   # not a scalar, or a function with no second derivative in matd
        return False
    return True


RUNS = [(c, 1) for c in CASES] + [(c, 2) for c in CASES if has_hessian(c)]


def plan_of(program, wrt, order, dims):
    prog = parse_program(program)
    D = derive(prog, [wrt], order).results[0].derivative
    env, sizes = random_inputs(prog, dims, np.random.default_rng(0))
    spd = frozenset(k for k, v in prog.variables.items() if "spd" in v.params[1])
    return Plan([D, prog.result], sizes, spd), env


@pytest.mark.parametrize(("case", "order"), RUNS, ids=[f"{c['id']}-{k}" for c, k in RUNS])
def test_straight_line_equals_the_step_loop(case, order):
    plan, env = plan_of(case["program"], case["wrt"], order, case["dims"] or {})
    fast = plan.run(env, np, check=False)
    assert plan.fallbacks == 0
    assert plan._compiled, "the numpy run went through the straight-line function"
    slow = plan._run(env, np, {}, np.float64, blame=True)   # the loop, step by step
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    again = plan.run(env, np, check=False)                    # buffers reused afresh
    for a, b in zip(again, fast):
        np.testing.assert_array_equal(a, b)


def test_the_function_is_the_plan_written_out():
    plan, _ = plan_of("A: n x n; x: n; tanh(A x) - x", "x", 1, {"n": 3})
    text = source(plan)
    assert text.startswith("def plan(env, denv, given):")
    assert text.count("matmul(") == sum(st.kind == "matmul" for st in plan.steps)
    assert "env['A']" in text and "del " in text


def test_a_failing_run_goes_back_to_the_loop_which_names_the_step():
    prog = parse_program("X, B: n x n; tr(inv(X) B)")
    plan = Plan([prog.result], {"n": 3})
    with pytest.raises(NumericError, match="singular"):
        plan.run({"X": np.zeros((3, 3)), "B": np.eye(3)}, np)
    assert plan.fallbacks == 1
