"""Every printed derivative, in every format, gives `matd grad`'s numbers, and those are JAX's.

For random programs (the generator of test_printed_roundtrip, which extends
test_properties'), by every variable of the expression, at order 1 (gradients, Jacobians,
derivatives by a scalar, vec-Jacobians) and order 2 (Hessians):

1. `matd grad`'s numbers (matd.core.numeric.derivative_array, what cli/numeric.py prints)
   equal JAX autograd of the original expression (tests/jax_ref.py), with the gradient by a
   sym/spd variable symmetrized, (G + Gᵀ)/2, and by a diag variable kept diagonal, as
   DESIGN §2 says (JAX differentiates the unconstrained function; the projection follows);
2. the derivative printed by each format — `--format json`'s `derivative` (evaluated alone,
   as `matd eval` would, after the shared declarations and definitions where there are
   several variables: printed_readers.json_programs), `--format matd` (its block parsed
   as a program), the text output (read back with printed_readers, with its `where`
   lines), LaTeX (read back), and the numpy source (executed) — evaluates to those numbers.

All in-process through cli/diff.py's library calls.  The default suite is small and
derandomized; `pytest -m slow` runs 10,000 programs and prints a summary of counts.
"""
from __future__ import annotations

import collections
import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import jax
from jax_ref import jax_function
from matd.cli.diff import (LABELS, DiffOptions, render_json, render_latex, render_matd,
                           render_numpy, render_text, run_diff)
from matd.core.errors import MatdError
from matd.core.expr import free_vars
from matd.core.fdcheck import rel_error
from matd.core.numeric import Binding, derivative_array, run, unvec
from matd.core.plan import NumericError
from matd.grammar.parse import parse_program
from matd.core.printers import shape_decl
from matd.core.printers import _latex_name
from printed_readers import (_pin, json_programs, latex_to_matd, read_text_output,
                             text_program)
from test_printed_roundtrip import (SIZES, declarations, random_env, run_numpy, shape2, user,
                                    wide_programs)

FORMATS = ("json", "matd", "text", "latex", "numpy")
TOL_JAX = 1e-6      # two exact derivatives, different arithmetic
TOL_PRINTED = 1e-7  # the same formula, printed and read back
COUNTS: collections.Counter = collections.Counter()


# -- shapes ------------------------------------------------------------------------------------
def _user_shape(shape2d, node_shape):
    r, c = node_shape
    if r.is_one and c.is_one:
        return ()
    if c.is_one:
        return (shape2d[0],)
    return tuple(shape2d)


def as_derivative(D, r, f, prog):
    """A printed derivative's 2-D value as `matd grad`'s array (shape f + X)."""
    x = prog.variables[r.wrt]
    x2 = shape2(x)
    xu = _user_shape(x2, x.shape)
    f2 = shape2(f)
    fu = _user_shape(f2, f.shape)
    if r.kind in ("hessian", "vec-hessian"):
        f2, fu = x2, xu
    D = np.asarray(D, float)
    if r.kind == "gradient":
        return D.reshape(tuple(fu) + tuple(xu))
    if r.kind == "derivative":
        return D.reshape(fu)
    return unvec(D.reshape(shape2(r.derivative)), f2, fu, x2, xu)


def jax_reference(prog, f, r, env, order):
    """JAX's derivative of the original expression, shaped as `matd grad`'s, projected."""
    x = prog.variables[r.wrt]
    x2 = shape2(x)
    xu = _user_shape(x2, x.shape)
    fixed = {k: v for k, v in env.items() if k != r.wrt}
    fn = jax_function(f, [r.wrt], SIZES, fixed)
    X = np.asarray(env[r.wrt])
    if order == 2:
        H = np.asarray(jax.hessian(lambda X: fn(X)[0, 0])(X)).reshape(tuple(xu) + tuple(xu))
        attrs = x.params[1]
        if len(xu) == 2 and "diag" in attrs:      # D H D: diagonal directions only
            keep = np.eye(xu[0], dtype=bool)
            H = H * keep[:, :, None, None] * keep[None, None, :, :]
        elif len(xu) == 2 and ("sym" in attrs or "spd" in attrs):   # P H P, P = (I + K)/2
            H = (H + H.transpose(1, 0, 2, 3)) / 2
            H = (H + H.transpose(0, 1, 3, 2)) / 2
        return H
    if f.is_scalar:
        G = np.asarray(jax.grad(lambda X: fn(X)[0, 0])(X))
        attrs = x.params[1]
        if len(xu) == 2 and "diag" in attrs:
            G = np.diag(np.diag(G))
        elif len(xu) == 2 and ("sym" in attrs or "spd" in attrs):
            G = (G + G.T) / 2
        return G.reshape(xu)
    J = np.asarray(jax.jacobian(fn)(X))
    fu = _user_shape(shape2(f), f.shape)
    J = J.reshape(tuple(fu) + tuple(xu))
    attrs = x.params[1]
    if len(xu) == 2 and "diag" in attrs:          # J D: diagonal directions only
        J = J * np.eye(xu[0], dtype=bool)
    elif len(xu) == 2 and ("sym" in attrs or "spd" in attrs):   # J P
        J = (J + np.swapaxes(J, -1, -2)) / 2
    return J


# -- evaluating printed derivatives ------------------------------------------------------------
def eval_program(text, env):
    """A printed program's value (2-D), bound to the same arrays, as `matd eval` does."""
    p = parse_program(text)
    b = Binding({k: env[k] for k in p.variables if k in env}, dict(SIZES))
    return run([p.result], p, b)[0]


def eval_alone(text, env):
    """`matd eval TEXT --at …`: the text parsed with the arrays' shapes, nothing else."""
    given = {k: tuple(v.shape) for k, v in env.items()}
    p = parse_program(text, given={k: s for k, s in given.items() if k in _names(text)})
    b = Binding({k: env[k] for k in p.variables if k in env}, dict(SIZES))
    missing = [k for k in p.variables if k not in env]
    if missing:
        raise MatdError(f"no value for {', '.join(missing)} (not a variable of the program)")
    return run([p.result], p, b)[0]


def _names(text):
    import re
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def printed_values(prog, d, opts, env):
    """{(format, wrt): (printed text, 2-D value or an exception)} for every shown derivative."""
    out = {}
    results = [r for r in d.results if r.derivative is not None]

    def attempt(key, text, thunk):
        try:
            out[key] = (text, thunk())
        except Exception as e:  # noqa: BLE001 - the failure is the finding
            out[key] = (text, e)

    # json: by one variable `derivative` is a program `matd eval` accepts back; by several,
    # it is one after the shared declarations and definitions
    js = render_json(prog, d, dataclasses.replace(opts, fmt="json"))
    for wrt, program in json_programs(js).items():
        attempt(("json", wrt), program, lambda t=program: eval_alone(t, env))
    # matd: one block per variable, each a whole program
    blocks = render_matd(prog, d, dataclasses.replace(opts, fmt="matd")).split("\n\n")
    for r, block in zip(d.results, blocks):
        if r.derivative is not None:
            attempt(("matd", r.wrt), block, lambda t=block: eval_program(t, env))
    # text: rows read back, with the `where` definitions they use, in the program's context
    lines = render_text(prog, d, dataclasses.replace(opts, fmt="text"), False)
    text = "\n".join(t for t, _, _ in lines)
    rows, wheres = read_text_output(text)
    decls = declarations(prog)
    for r in results:
        label = LABELS[r.kind][0].format(x=r.wrt)
        if r.kind == "vec-jacobian" and not d.f.is_vector:
            label = label.replace("vec f", "vec F")
        if label not in rows:
            out[("text", r.wrt)] = (text, KeyError(f"no row {label!r}"))
            continue
        row, shape = rows[label]
        attempt(("text", r.wrt), row, lambda row=row, shape=shape: eval_program(
            decls + "\n" + text_program(row, wheres, shape), env))
    # LaTeX: the align rows, read back
    tex = render_latex(prog, d, dataclasses.replace(opts, fmt="latex"))
    where = r"\text{where } "
    tex_defs, in_df = [], set()   # the named shared parts, in order: t1 = …
    for ln in tex.splitlines():
        if ln.startswith(where):
            name, body = ln[len(where):].removesuffix(r" \\").split(" &= ", 1)
            name, body = latex_to_matd(name), body
            # parts of a differential (dX in them, or in a part they use) are not needed
            if r"\mathrm{d}" in body or any(re.search(rf"\b{t}\b", latex_to_matd(body))
                                             for t in in_df):
                in_df.add(name)
                continue
            tex_defs.append(f"{name} = {latex_to_matd(body)}")
    for r in results:
        head = LABELS[r.kind][1].format(x=_latex_name(r.wrt)) + " &= "
        if r.kind == "vec-jacobian" and not d.f.is_vector:
            head = head.replace(r"\operatorname{vec} f", r"\operatorname{vec} F")
        row = next((ln[len(head):] for ln in tex.splitlines() if ln.startswith(head)), None)
        if row is None:
            out[("latex", r.wrt)] = (tex, KeyError(f"no row {head!r}"))
            continue
        row = row.removesuffix(r" \\")
        # the label says what is shown (∂f/∂X has X's shape): the reader sizes a bare I by it
        pin = _pin(shape_decl(r.derivative.shape).replace(" x ", "×"))
        attempt(("latex", r.wrt), row, lambda row=row, pin=pin: eval_program(
            "\n".join([decls, *tex_defs, f"({latex_to_matd(row)})" + (f" + {pin}" if pin
                                                                     else "")]), env))
    # numpy: the function returns (value, derivative by each variable)
    try:
        src = render_numpy(prog, d, dataclasses.replace(opts, fmt="numpy"))
        got = run_numpy(src, "matd_f", env, prog.variables)
        got = got if isinstance(got, tuple) else (got,)
        for r, g in zip(results, got[1:]):
            out[("numpy", r.wrt)] = (src, np.asarray(g, float).reshape(shape2(r.derivative)))
    except Exception as e:  # noqa: BLE001
        for r in results:
            out[("numpy", r.wrt)] = (locals().get("src", ""), e)
    return out


# -- one case ----------------------------------------------------------------------------------
def differential_check(src, order, seed=0, nwrt=None):
    """Mismatches [(what, wrt, printed, problem)] of one program at one order, by its
    variables (the first ``nwrt`` of them, rotated by ``seed``; all by default)."""
    prog0 = parse_program(src)
    wrt = tuple(dict.fromkeys(v.params[0] for v in free_vars(prog0.result)))
    if nwrt is not None and len(wrt) > nwrt:
        k = seed % len(wrt)
        wrt = (wrt[k:] + wrt[:k])[:nwrt]
    opts = DiffOptions(src, wrt, order, "json", "numerator", "vec", False)
    try:
        prog, d = run_diff(opts)
    except MatdError as e:
        if order == 2 and "second derivative" in (e.hint or "") + str(e):
            COUNTS["hessian unavailable (spectral)"] += 1
            return []
        raise
    env = random_env(prog, seed)
    COUNTS["programs"] += 1
    COUNTS[f"programs, order {order}"] += 1
    bad = []
    grads = {}
    for r in d.results:
        b = Binding(dict(env), dict(SIZES))
        try:
            mine = derivative_array(prog, b, r, d.f)
        except NumericError:
            COUNTS["numeric overflow (skipped)"] += 1
            return []
        grads[r.wrt] = mine
        ref = jax_reference(prog, prog.result, r, env, order)
        COUNTS[f"matd grad vs JAX ({r.kind})"] += 1
        if not np.all(np.isfinite(ref)):
            COUNTS["JAX not finite (skipped)"] += 1
        elif mine.shape != ref.shape or rel_error(mine, ref) > TOL_JAX:
            bad.append(("matd grad vs JAX", r.wrt, "", f"{_err(mine, ref)}"))
    for (fmt, name), (text, val) in printed_values(prog, d, opts, env).items():
        r = next(r for r in d.results if r.wrt == name)
        COUNTS[f"printed derivatives compared: {fmt}"] += 1
        if isinstance(val, Exception):
            bad.append((fmt, name, text, f"{type(val).__name__}: {val}"))
            continue
        try:
            got = as_derivative(val, r, d.f, prog)
        except Exception as e:  # noqa: BLE001
            bad.append((fmt, name, text, f"shape {np.shape(val)}: {e}"))
            continue
        if got.shape != grads[name].shape or rel_error(got, grads[name]) > TOL_PRINTED:
            bad.append((fmt, name, text, _err(got, grads[name])))
    return bad


def _err(got, want):
    if np.shape(got) != np.shape(want):
        return f"shape {np.shape(got)} != {np.shape(want)}"
    return (f"rel. error {rel_error(got, want):.2e}: {np.ravel(got)[:3]} vs "
            f"{np.ravel(want)[:3]}")


def _report(src, order, bad):
    return "\n".join([f"{src}  (order {order})"]
                     + [f"[{w}] by {x}: {t[:400]!r}\n    -> {why[:300]}" for w, x, t, why in bad])


SETTINGS = dict(deadline=None, derandomize=True, database=None,  # unshrunk: see the other file
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@st.composite
def cases(draw, depth=3):
    """(program, order, seed); a quarter of the programs are built around one of the batch,
    extreme, triangle and matrix-function rows (``matrix_top``), whose kinds are otherwise
    a sixth of the nodes."""
    order = draw(st.sampled_from((1, 1, 2)))
    scalar = order == 2 or draw(st.booleans())
    top = draw(st.integers(0, 3)) == 0
    src, _ = draw(wide_programs(scalar=scalar, depth=depth if order == 1 else depth - 1,
                                matrix_top=top))
    return src, order, draw(st.integers(0, 2 ** 16))


def _check(case):
    src, order, seed = case
    bad = differential_check(src, order, seed, nwrt=2)
    assert not bad, _report(src, order, bad)


@settings(max_examples=25, **SETTINGS)
@given(cases())
def test_printed_derivatives_are_matd_grad_and_jax(case):
    _check(case)


@pytest.mark.parametrize("src,order", [
    ("A: m x n; x: n; S: n x n sym; c: scalar; "
     "sum(softplus(A x)) + c norm(x)^2 + x^T S x + logdet(4 eye(n) + S)", 1),
    ("X: m x n; W: n x p; D: p x p diag; tanh(X W D)", 1),
    ("A: n x n; x: n; sigmoid(A x)", 1),
    ("X: n x n spd; B: n x n; tr(B inv(X)) + logdet(X)", 1),
    ("X: m x n; w: n; y: m; sum(softplus(X w)) - y^T X w", 2),
    ("X: m x n; norm(X)^2 + sum(exp(X))", 2),
    ("c: scalar; X: m x n; c X + c^2 X", 1),
])
def test_known_forms(src, order):
    bad = differential_check(src, order)
    assert not bad, _report(src, order, bad)


# every new row of the table once, in its domain (SIZES: m = 2 < n = 3 < p = 4, so p x n is
# tall); sides of max/min differ by a constant (a tie, measure zero, has two conventions)
MATRIX_FORMS = [
    ("X: m x n; a: n; b: m; sum(X, 1) a + b^T sum(X .* X, 2) + mean(X .* X)"
     " + b^T mean(X .* X, 2) + mean(X, 1) a", 1),
    ("Z: m x n; C: m x n; sum(C .* softmax(Z, 2)) + sum(C .* softmax(Z, 1))"
     " + sum(logsumexp(Z, 1)) + sum(logsumexp(Z, 2))", 1),
    ("X: m x n; Y: m x n; c: scalar; r: n; sum(max(X, Y + 0.3183) .* X)"
     " + sum(min(X, c + 0.3183)) + sum(max(r^T, X .* X))", 1),
    ("X: p x n; C: p x n; sum(C .* tril(X, -1)) + sum(exp(triu(X, 1))) + sum(C .* tril(X))", 1),
    ("S: n x n spd; C: n x n; sum(C .* chol(S)) + logdet(chol(S))", 1),
    ("S: n x n spd; C: n x n; tr(C sqrtm(S))", 1),
    ("A: n x n; E: n x n; C: n x n; tr(C^T expm(0.5 A)) + tr(C^T expm_frechet(0.3 A, E))", 1),
    ("E: n x n; F: n x n; D: n x n; tr(D^T expm_frechet2(eye(n) + 0.3 ones(n, n), E, F .* F))",
     1),
    ("S: n x n spd; T: m x m spd; B: n x m; C: n x m; sum(C .* sylvester(S, T, B))", 1),
    ("A: n x n; B: n x p; C: n x p; sum(C .* solve(4 eye(n) + tanh(A), B))", 1),
    ("S: n x n sym; c: n; C: n x n; c^T eigvals(S) + sum(C .* eigvecs(S))", 1),
    ("v: n; C: n x n; sum(C .* gapinv(v))", 1),
    ("X: p x n; c: n; C: p x n; D: n x n; c^T svdvals(X) + sum(C .* svd_u(X))"
     " + sum(D .* svd_v(X))", 1),
    ("X: p x n; C: p x n; D: n x n; sum(C .* qr_q(X)) + sum(D .* qr_r(X))", 1),
    ("X: n x n; y: n; trace(transpose(X) inverse(4 I + tanh(X))) + y^T transpose(X) y", 1),
    ("X: p x n; qr_q(X)", 1), ("S: n x n sym; eigvecs(S)", 1), ("X: p x n; svd_v(X)", 1),
    ("S: n x n spd; C: n x n; tr(C sqrtm(S))", 2),
    ("S: n x n sym; c: n; C: n x n; c^T eigvals(S) + sum(C .* eigvecs(S))", 2),
]
# Hessians that take JAX longer (expm's, the SVD's, solves through JAX's autodiff)
MATRIX_FORMS_SLOW = [
    ("X: m x n; a: n; b: m; sum(X, 1) a + b^T sum(X .* X, 2) + mean(X .* X)"
     " + b^T mean(X .* X, 2) + mean(X, 1) a", 2),
    ("Z: m x n; C: m x n; sum(C .* softmax(Z, 2)) + sum(logsumexp(Z, 1))", 2),
    ("S: n x n spd; C: n x n; sum(C .* chol(S))", 2),
    ("A: n x n; C: n x n; tr(C^T expm(0.5 A))", 2),
    ("A: n x n; B: n x p; C: n x p; sum(C .* solve(4 eye(n) + tanh(A), B))", 2),
    ("X: p x n; c: n; C: p x n; D: n x n; c^T svdvals(X) + sum(C .* svd_u(X))"
     " + sum(D .* svd_v(X))", 2),
    ("X: p x n; C: p x n; D: n x n; sum(C .* qr_q(X)) + sum(D .* qr_r(X))", 2),
]


# mismatches this test found in matd, fixed: regressions (each with what was wrong)
FIXED_FORMS = [
    ("S: m x m sym; expm(S)", 1),           # J, not J P, where no Kronecker form exists
    ("D: m x m diag; M: m x m; expm(M + D)", 1),                   # J, not J D
    ("S0: p x p spd; S1: p x p diag; "
     "sum(S1 .* expm_frechet2(eye(p) + 0.3 ones(p, p), S0, S1))", 2),   # H, not D H D
    ("c0: scalar; sin(max(c0, c0 + 0.3183))", 2),   # numpy: step of a number as a bool
    ("M: m x n; sin(mean(M))", 2),                  # the dimension m·n printed as `m·n`
    ("c0: scalar; M1: 1 x m; M2: 1 x n; v3: m; v4: p; M5: p x p; "
     "(norm(((c0 M1) * (norm(M2) v3))) (softmax(v4)^T pinv(4 eye(p) + tanh(M5)) "
     "softmax(v4)))", 1),                           # ‖c0 ‖M2‖ M1 v3‖ was ambiguous
]


@pytest.mark.parametrize("src,order", FIXED_FORMS)
def test_fixed_mismatches(src, order):
    bad = differential_check(src, order)
    assert not bad, _report(src, order, bad)


@pytest.mark.parametrize("src,order", MATRIX_FORMS)
def test_matrix_function_forms(src, order):
    bad = differential_check(src, order)
    assert not bad, _report(src, order, bad)


@pytest.mark.slow
@pytest.mark.parametrize("src,order", MATRIX_FORMS_SLOW)
def test_matrix_function_hessians(src, order):
    bad = differential_check(src, order)
    assert not bad, _report(src, order, bad)


@settings(max_examples=8, **SETTINGS)
@given(st.integers(1, 2).flatmap(lambda order: st.tuples(
    wide_programs(scalar=order == 2, depth=3 if order == 1 else 2, matrix_top=True),
    st.just(order), st.integers(0, 2 ** 16))))
def test_matrix_functions_are_matd_grad_and_jax(case):
    """Random programs around one of the new rows (``matrix_top``), at orders 1 and 2."""
    (src, _), order, seed = case
    _check((src, order, seed))


class _OutOfTime(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("shard", [0, 1])
def test_many_programs_summary(shard):
    """Over 10,000 programs in two shards of 5,250 cases (run them as two processes on two cores:
    ``pytest -m slow -k 'summary and 0'`` and ``… and 1``): every failure is collected, not
    just the first, and a summary of counts and of the kinds of mismatch is printed."""
    import os
    import time

    from hypothesis import seed as hseed
    budget = float(os.environ.get("MATD_SLOW_BUDGET_S", "inf"))  # to stop early, say so
    start = time.monotonic()
    COUNTS.clear()
    failures: list = []
    crashed: list = []

    @hseed(20261201 + shard)
    @settings(max_examples=5_250, deadline=None, database=None, phases=SETTINGS["phases"],
              suppress_health_check=SETTINGS["suppress_health_check"])
    @given(cases(depth=3))
    def one(case):
        if time.monotonic() - start > budget:
            raise _OutOfTime
        src, order, seed = case
        COUNTS["cases drawn"] += 1
        try:
            bad = differential_check(src, order, seed, nwrt=1)
        except Exception as e:  # noqa: BLE001
            crashed.append(src)
            bad = [("exception", "", "", f"{type(e).__name__}: {e}")]
        if bad:
            failures.append((src, order, bad))
        if COUNTS["cases drawn"] % 500 == 0:
            print(f"shard {shard}: {COUNTS['cases drawn']} cases, {len(failures)} with "
                  "mismatches", flush=True)
    try:
        one()
    except _OutOfTime:
        print(f"\nMATD_SLOW_BUDGET_S={budget:g} s spent: stopped early")
    kinds = collections.Counter()
    example: dict = {}
    for src, order, bad in failures:
        for w, _, text, why in bad:
            key = (w, re.sub(r"\?[0-9]+|[0-9.e+-]+", "#", why)[:70])
            kinds[key] += 1
            if key not in example or len(src) < len(example[key][0]):
                example[key] = (src, order, text, why)
    print(f"\nsummary (shard {shard}):")
    for k, v in sorted(COUNTS.items()):
        print(f"  {k}: {v}")
    print(f"  programs with a mismatch: {len(failures)}")
    for key, k in kinds.most_common():
        src, order, text, why = example[key]
        print(f"  {k:6d}  [{key[0]}] {key[1]}\n          e.g. {src}  (order {order})"
              f"\n          printed: {text[:200]!r}\n          -> {why[:200]}")
    assert COUNTS["cases drawn"] >= 5_250
    assert not failures, f"{len(failures)} programs with mismatches (see the summary above)"
