"""The whole pipeline on the textbook corpus and on every primitive of the table:
text -> IR -> derivative -> numbers, checked against central finite differences."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matd.core.derive import derive
from matd.core.evaluate import evaluate
from matd.core.fdcheck import central_jacobian, rel_error
from matd.core.primitives import PRIMS, NotDifferentiable
from matd.core.randomize import random_inputs
from matd.grammar.parse import parse_program


def corpus_path() -> Path:
    """The textbook cases: this project's own data file (sources cited in it)."""
    return Path(__file__).resolve().parent / "data" / "cases.json"


CASES = json.loads(corpus_path().read_text())["cases"]


def fd_reference(prog, f, x, env, sizes, order):
    """Finite differences of f (order 1) or of its gradient (order 2), as matd lays
    derivatives out: gradient X-shaped, (vec-)Jacobian |f|×|X| column-major."""
    name = x.params[0]
    if order == 2:
        G = derive(prog, [name], 2).results[0].gradient
        target = G
    else:
        target = f

    def fun(X):
        e = dict(env)
        e[name] = X
        return evaluate(target, e, sizes)

    J = central_jacobian(fun, env[name])            # target2d + x2d
    fp, fq, xp_, xq = J.shape
    if target.is_scalar:
        J = J[0, 0]
        if any(a in x.params[1] for a in ("sym", "spd")):
            J = (J + J.T) / 2
        return J
    J = J.transpose(1, 0, 3, 2).reshape(fp * fq, xp_ * xq)
    if order == 2 and any(a in x.params[1] for a in ("sym", "spd")):
        P = _sym_projector(xp_)      # the Hessian on symmetric directions: P H P
        J = P @ J @ P
    return J


def _sym_projector(n):
    """P = (I + K)/2 on vec of n×n matrices: vec(M) -> vec((M + Mᵀ)/2)."""
    K = np.zeros((n * n, n * n))
    for i in range(n):
        for j in range(n):
            K[i * n + j, j * n + i] = 1
    return (np.eye(n * n) + K) / 2


def matd_derivative(prog, name, order):
    r = derive(prog, [name], order).results[0]
    return r.derivative


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(case):
    prog = parse_program(case["program"])
    f, x = prog.result, prog.variables[case["wrt"]]
    env, sizes = random_inputs(prog, case["dims"], np.random.default_rng(7), case["inputs"])
    D = matd_derivative(prog, case["wrt"], case["order"])
    got = evaluate(D, env, sizes)
    ref = fd_reference(prog, f, x, env, sizes, case["order"])
    if case["order"] == 2 and x.shape[1].is_one:
        ref = ref.reshape(got.shape)
    assert got.shape == ref.shape
    assert rel_error(got, ref) < 1e-6
    if case["expected"]:
        expected = parse_program(case["program"] + "; " + case["expected"]).result
        assert rel_error(evaluate(expected, env, sizes), got) < 1e-9


@pytest.mark.parametrize("op", [p.op for p in PRIMS.values() if p.sample])
def test_primitive_row_against_fd(op):
    """Every row's differential, by way of its sample program, to first and second order."""
    src, kinds = PRIMS[op].sample
    prog = parse_program(src)
    env, sizes = random_inputs(prog, {"m": 3, "n": 4, "p": 2, "q": 3}, np.random.default_rng(3),
                               kinds)
    f = prog.result
    for name, x in prog.variables.items():
        d = derive(prog, [name], 1).results[0]
        got = evaluate(d.derivative, env, sizes)
        ref = fd_reference(prog, f, x, env, sizes, 1)
        assert rel_error(got, ref) < 1e-6, (op, name)
        try:
            h = derive(prog, [name], 2).results[0]
        except Exception as e:  # noqa: BLE001 - only the documented exception is allowed
            assert isinstance(e.__cause__ or e, (NotDifferentiable,)) or \
                "no closed-form differential" in str(e), e
            continue
        if h.derivative is None:
            continue
        got2 = evaluate(h.derivative, env, sizes)
        ref2 = fd_reference(prog, f, x, env, sizes, 2)
        assert rel_error(got2, ref2.reshape(got2.shape)) < 1e-5, (op, name, "order 2")


def test_every_non_leaf_row_has_a_sample():
    leaves = {"var", "dvar", "const", "commutation", "eigvec_max", "eigvec_min", "svd_u1",
              "svd_v1", "polar"}
    missing = [p.op for p in PRIMS.values() if not p.sample and p.op not in leaves]
    assert missing == []


def test_printed_textbook_forms():
    """The derivative as matd prints it, for the design card and textbook cases."""
    from matd.core.printers import to_matd
    forms = {
        "tr_AtXB": "A B^T", "logdet": "X^-T", "tr_XtX": "2 X", "fro2": "2 X",
        "tr_invX_A": "-X^-T A^T X^-T", "aTx": "a", "xTAx_sym": "2 A x", "norm2sq": "2 x",
        "tr_AXB": "A^T B^T", "tr_AX": "A^T", "tr_XAXt": "X (A + A^T)",
        "tr_AXBXt": "A X B + A^T X B^T", "lsq_half": "X^T (X w - y)",
        "logistic": "X^T (sigmoid(X w) - y)", "mse_W": "X^T (X W - Y)", "upstream_W": "X^T G",
        "upstream_X": "G W^T", "det_jacobi": "det(X) X^-T",
        "matnormal_M": "U^-1 (X - M) V^-1", "gauss_mu": "-2 S^-1 (x - mu)",
        "gauss_S": "S^-1 - S^-1 (x - mu) (x - mu)^T S^-1",
        "mlp2_W2": "tanh(X W1)^T (tanh(X W1) W2 - Y)",
        "bias_broadcast": "(X W + b^T - Y)^T ones(m)",
        "softplus_layer": "W^T (c .* sigmoid(W x))", "jac_Ax": "A",
        "jac_sigmoid_Ax": "diag(sigmoid(A x) .* (1 - sigmoid(A x))) A",
        "vec_AXB": "kron(B^T, A)", "inv_matrix": "-kron(X^-T, X^-1)",
        "hess_lsq": "A^T A",
        "hess_logistic": "X^T diag(sigmoid(X w) .* (1 - sigmoid(X w))) X",
    }
    by_id = {c["id"]: c for c in CASES}
    for cid, text in forms.items():
        c = by_id[cid]
        prog = parse_program(c["program"])
        assert to_matd(matd_derivative(prog, c["wrt"], c["order"])) == text, cid


def evaluate_alone(text: str, env: dict, sizes: dict):
    """A printed program, parsed on its own, evaluated on the arrays of the names it uses
    (its dims sized by those arrays, as `matd eval --at` sizes them)."""
    from matd.core.numeric import bind
    alone = parse_program(text)
    b = bind(alone, {k: v for k, v in env.items() if k in alone.variables})
    return evaluate(alone.result, b.env, {**sizes, **b.sizes})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_printed_derivative_evaluates_back(case):
    """The derivative as `matd diff --format json` prints it (a matd program, perhaps with
    t1 = … definitions), parsed back beside the declarations and evaluated, matches finite
    differences; `--format matd` parses back too."""
    from matd.cli.diff import DiffOptions, render_json, render_matd
    prog = parse_program(case["program"])
    opts = DiffOptions(case["program"], (case["wrt"],), case["order"], "json", "numerator",
                       "vec", False)
    d = derive(prog, [case["wrt"]], case["order"])
    obj = json.loads(render_json(prog, d, opts))
    assert obj["wrt"] == case["wrt"] and obj["order"] == case["order"]
    env, sizes = random_inputs(prog, case["dims"], np.random.default_rng(11), case["inputs"])
    x = prog.variables[case["wrt"]]
    got = evaluate_alone(obj["derivative"], env, sizes)   # a program of its own
    ref = fd_reference(prog, prog.result, x, env, sizes, case["order"])
    assert rel_error(got, ref.reshape(got.shape)) < 1e-6
    block = render_matd(prog, d, opts)
    again = parse_program(block).result          # declarations included: stands alone
    assert rel_error(evaluate(again, env, sizes), got) < 1e-12
