"""`matd diff --steps`: every step is a named rule (no catch-all read-off), in text, JSON and
LaTeX, and each step's formulas mean what the step says — the two sides of an equality give
the same numbers, a differential matches central differences, a read-off gives back the
differential — checked by evaluating the JSON steps (matd text) with the Python API."""
from __future__ import annotations

import doctest
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import matd
from matd_cli import matd as run

H = 1e-6


def steps_json(program: str, *args: str) -> list[dict]:
    rc, out, err = run("diff", program, *args, "--steps", "--format", "json")
    assert rc == 0, err
    top = json.loads(out)             # by several variables, one object with their results
    return top.get("results", [top])


def steps_text(program: str, *args: str) -> str:
    rc, out, err = run("diff", program, *args, "--steps")
    assert rc == 0, err
    return out


def _api(a: np.ndarray, shape) -> np.ndarray:
    """A 2-D array as the Python API takes it (vectors 1-D, scalars 0-D)."""
    r, c = shape
    if r.is_one and c.is_one:
        return np.asarray(a).reshape(())
    if c.is_one:
        return np.asarray(a).reshape(-1)
    return np.asarray(a)


def _values(preamble: str, seed: int = 0):
    """Random values for the variables the preamble declares (attributes respected; the
    dX's Gaussian), as the Python API takes them, and the program."""
    from matd.core.randomize import random_inputs
    from matd.grammar.parse import parse_program
    prog = parse_program(preamble + "; 0")
    dims = {}
    for k, d in enumerate(sorted({f for v in prog.variables.values() for d in v.shape
                                  for f in d.factors if isinstance(f, str)})):
        dims[d] = 5 - k % 3     # distinct sizes catch transposed shapes
    env, _ = random_inputs(prog, dims, np.random.default_rng(seed))
    return {name: _api(env[name], v.shape) for name, v in prog.variables.items()}, prog


def _eval(preamble: str, text: str, values) -> np.ndarray:
    return np.asarray(matd.eval(preamble + "; " + text, at=values), float)


def _vec(a) -> np.ndarray:
    a = np.asarray(a)
    return (a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)).reshape(-1, order="F")


def close(a, b, tol=1e-6) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(1.0, float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0)) <= tol * scale


def check_steps(obj: dict, seed: int = 0) -> dict:
    """Evaluate every step of one JSON object; returns how many of each kind were checked."""
    pre = obj["steps_preamble"]
    values, prog = _values(pre, seed)
    x = obj["wrt"]
    attrs = prog.variables[x].params[1]
    dxs = [n for n in values if n.startswith("d") and n[1:] in prog.variables]
    for dname in dxs:     # directions within each variable's structure
        kinds = prog.variables[dname[1:]].params[1]
        if any(a in kinds for a in ("sym", "spd")):
            values[dname] = (values[dname] + values[dname].T) / 2
        if "diag" in kinds:
            values[dname] = np.diag(np.diag(values[dname]))
    done: dict = {}
    for st in obj["steps"]:
        kind = st["kind"]
        what = f"{st['rule']}: {st['from']}  ->  {st['to']}"
        to = _eval(pre, st["to"], values)
        if kind == "d":        # to = d(from): central differences along the dX's
            plus = dict(values)
            minus = dict(values)
            moved = pre.replace(" orth", "")   # Q ± h dQ leaves the Stiefel manifold
            # the step's variable moves (an order-2 step, one variable's Jacobian); a
            # step shared by all the variables moves them all
            by = [st["wrt"]] if "wrt" in st else [obj["wrt"]] if st.get("order") == 2 or \
                obj["kind"] not in ("gradient", "hessian", "vec-hessian") else \
                [dn[1:] for dn in dxs]
            for v in by:
                dname = "d" + v
                plus[v] = values[v] + H * values[dname]
                minus[v] = values[v] - H * values[dname]
            fd = (_eval(moved, st["from"], plus) - _eval(moved, st["from"], minus)) / (2 * H)
            assert close(fd, to, 1e-5), what
        elif kind == "=":
            assert close(_eval(pre, st["from"], values), to), what
        elif kind == "read-off":
            frm = _eval(pre, st["from"], values)
            dx = values["d" + x]
            if frm.ndim == 0 and to.shape == np.shape(dx):       # df = ⟨G, dX⟩
                assert close(frm, np.sum(to * dx)), what
            elif np.ndim(dx) == 0:                                 # dF = M dt
                assert close(frm, to * dx), what
            else:                                                  # vec(dF) = J vec(dX)
                assert close(_vec(frm), np.atleast_2d(to) @ _vec(dx)
                             if to.ndim == 2 else to * _vec(dx)), what
        elif kind == "projection":
            frm = _eval(pre, st["from"], values)
            dx = values["d" + x]
            if "orth" in attrs:
                pass       # the Riemannian gradient: a projection, checked elsewhere
            elif frm.shape == np.shape(dx):   # ⟨G, dS⟩ on symmetric (diagonal) dS
                assert close(np.sum(frm * dx), np.sum(to * dx)), what
            else:                              # a Hessian's quadratic form, a Jacobian's action
                v = _vec(dx)
                if st.get("order") == 2:
                    assert close(v @ frm @ v, v @ to @ v), what
                else:
                    assert close(frm @ v, to @ v), what
        elif kind == "layout":
            assert close(_eval(pre, st["from"], values).T, to), what
        else:
            raise AssertionError(f"unknown step kind {kind}")
        done[kind] = done.get(kind, 0) + 1
    return done


def rules(objs) -> list[str]:
    return [st["rule"] for o in objs for st in o["steps"]]


# program, wrt, extra flags, rule names that must appear (each a prefix of a step's rule)
CASES = [
    ("A: m x n; X: m x p; B: p x n; tr(A^T X B)", ["X"], [],
     ["adjoint of the trace", "trace cyclicity", "written as the textbooks do", "read-off"]),
    ("x: n; A: n x n; y: n; sum(exp(A x) .* y)", ["x"], [],
     ["adjoint of sum", "adjoint of a Hadamard product", "elementwise exp"]),
    ("X: m x n; C: m x n; sum(X .* X .* C)", ["X"], [],
     ["adjoint of sum", "adjoint of a Hadamard product"]),
    ("A: p x q; X: m x n; C: p*m x q*n; sum(kron(A, X) .* C)", ["X"], [],
     ["adjoint of a Kronecker product"]),
    ("x: n; A: n x n; x^T A x", ["x"], [], ["scalar transpose", "cotangents add"]),
    ("x, y: n; A: n x n; (x^T A y)^T (y^T x)", ["x"], [], ["scalar transpose"]),
    ("S: n x n sym; A: n x n; tr(S A S)", ["S"], [], ["symmetrization (S sym)"]),
    ("S: n x n spd; A: n x n; y: n; logdet(S) + y^T inv(S) A y", ["S"], [],
     ["symmetrization (S spd)"]),
    ("D: n x n diag; A: n x n; tr(A D)", ["D"], [], ["diagonal part"]),
    ("Q: n x p orth; A: n x p; tr(A^T Q)", ["Q"], [], ["Riemannian gradient"]),
    ("X: n x n; Y: n x n; tr(inv(X) Y X) + tr(X)", ["X"], [],
     ["simplification: factor-common-left", "collect-like-terms"]),
    ("A: m x n; x: n; y: m; norm(A x - y)^2", ["x"], [], ["simplification: scalar-monomial"]),
    ("A: n x n; X: n x n; Y: n x n; tr(A X Y)", ["X", "Y"], [], ["linearity: ⟨G, A + B⟩"]),
    ("r = A x - y; A: m x n; x: n; y: m; r^T r", ["x"], [], ["chain rule through r"]),
    ("X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", ["w"], ["--order", "2"],
     ["second differential", "vec of a Hadamard product", "read-off: d²f"]),
    ("S: n x n sym; A: n x n; tr(S A S)", ["S"], ["--order", "2"],
     ["second differential", "vec of a product", "restricted to symmetric directions"]),
    ("X: m x n; A: n x m; tr(A X) + norm(X)^2", ["X"], ["--order", "2"],
     ["second differential", "read-off: d²f"]),
    ("W: m x n; x: n; tanh(W x)", ["x"], [], ["vec of a Hadamard product", "read-off: vec(dF)"]),
    ("W: m x n; x: n; tanh(W x)", ["x"], ["--layout", "denominator"], ["denominator layout"]),
    ("A: m x n; X: n x p; B: p x q; A X B", ["X"], [], ["vec of a product"]),
    ("A: m x n; X: m x n; X^T A", ["X"], [], ["vec of a transpose"]),
    ("S: n x n sym; A: n x n; A S", ["S"], [], ["restricted to symmetric directions"]),
    ("A: n x n; B: n x n; t: scalar; inv(A + t B)", ["t"], [], ["read-off: dF = M dt"]),
]


@pytest.mark.parametrize("program, wrt, extra, want", CASES,
                         ids=[f"{c[0][-24:]}|{' '.join(c[2])}" for c in CASES])
def test_named_steps_hold_numerically(program, wrt, extra, want):
    args = [a for w in wrt for a in ("--wrt", w)] + extra
    objs = steps_json(program, *args)
    names = rules(objs)
    for w in want:
        assert any(r.startswith(w) or w in r for r in names), (w, names)
    assert not any(r.startswith("read-off") and "adjoints of the linear maps" in r
                   for r in names), "the catch-all read-off step is gone"
    for o in objs:
        done = check_steps(o)
        assert done.get("read-off"), o["steps"]


def test_text_steps_name_each_adjoint():
    out = steps_text("A: m x n; X: m x p; B: p x n; tr(A^T X B)", "--wrt", "X")
    lines = out.splitlines()
    assert lines[0] == "derivation:"
    derivation = lines[1:lines.index(next(ln for ln in lines if ln.startswith("f ")))]
    assert all(re.search(r"\[[^\]]+\]$", ln) for ln in derivation), derivation
    assert "  tr(Aᵀ dX B) = ⟨Iₙ, Aᵀ dX B⟩    [adjoint of the trace" in out
    assert "  ⟨Iₙ, Aᵀ dX B⟩ = ⟨A Bᵀ, dX⟩    [trace cyclicity" in out
    assert "  ∂f/∂X = A Bᵀ    [read-off: df = ⟨G, dX⟩ ⇒ ∂f/∂X = G]" in out
    # the result lines follow, the same as without --steps
    rc, plain, _ = run("diff", "A: m x n; X: m x p; B: p x n; tr(A^T X B)", "--wrt", "X")
    assert out.endswith(plain)


def test_scalar_transpose_is_a_step():
    out = steps_text("x: n; A: n x n; x^T A x", "--wrt", "x")
    assert "  dxᵀ A x = xᵀ Aᵀ dx    [scalar transpose: a 1×1 equals its transpose" in out
    assert "  xᵀ Aᵀ dx = ⟨A x, dx⟩    [trace cyclicity" in out


def test_second_order_derivation_is_shown():
    out = steps_text("X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt", "w",
                     "--order", "2")
    head = out.index("second order: ∂f/∂w differentiated again")
    assert out.index("∂f/∂w = Xᵀ (σ(X w) − y)    [read-off") < head
    assert "d(σ(X w)) = σ(X w) ∘ (1 − σ(X w)) ∘ (X dw)" in out[head:]
    assert "d²f = ⟨" in out[head:] and "[second differential" in out
    assert "∂²f/∂w² = Xᵀ diag(σ(X w) ∘ (1 − σ(X w))) X    [read-off: d²f" in out
    objs = steps_json("X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w", "--wrt", "w",
                      "--order", "2")
    assert any(st.get("order") == 2 for st in objs[0]["steps"])
    assert check_steps(objs[0])["d"] >= 4


def test_several_variables_each_get_their_read_off():
    objs = steps_json("A: n x n; X: n x n; Y: n x n; tr(A X Y)", "--wrt", "X", "--wrt", "Y")
    assert [o["wrt"] for o in objs] == ["X", "Y"]
    for o in objs:
        reads = [st for st in o["steps"] if st["kind"] == "read-off"]
        assert [st["label"] for st in reads] == [f"∂f/∂{o['wrt']}"]
        assert o["derivative"].endswith(reads[0]["to"])


def _network(k: int) -> str:
    prog, h = "x: n; y: n;", "x"
    for i in range(1, k + 1):
        prog += f" W{i}: n x n;"
        h = f"tanh(W{i} {h})"
    return prog + f" norm({h} - y)^2"


def test_steps_of_a_deep_network_grow_linearly():
    sizes = {}
    for k in (4, 8, 16):
        out = steps_text(_network(k), "--wrt", "W1")
        sizes[k] = len(out)
        assert max(len(ln) for ln in out.splitlines()) < 400
    assert sizes[16] < 2.6 * sizes[8] and sizes[8] < 2.6 * sizes[4], sizes
    obj = steps_json(_network(6), "--wrt", "W1")[0]
    assert check_steps(obj)["="] >= 10


@pytest.mark.parametrize("fmt", ["matd", "numpy"])
def test_steps_with_a_program_format_is_a_clear_error(fmt):
    rc, out, err = run("diff", "x: n; norm(x)^2", "--steps", "--format", fmt)
    assert rc == 2 and not out
    assert "--steps shows the derivation with --format text, json or latex" in err


def test_steps_in_latex_are_aligned_rows():
    rc, out, err = run("diff", "x: n; A: n x n; y: n; sum(exp(A x) .* y)", "--wrt", "x",
                       "--steps", "--format", "latex")
    assert rc == 0, err
    blocks = out.split(r"\end{align*}")
    assert len(blocks) == 3 and blocks[0].lstrip().startswith(r"\begin{align*}")
    rows = [ln for ln in blocks[0].splitlines()[1:] if ln.strip() and "where" not in ln]
    assert all("&= " in ln for ln in rows), rows
    objs = steps_json("x: n; A: n x n; y: n; sum(exp(A x) .* y)", "--wrt", "x")
    assert sum(r"&& \text{" in ln for ln in rows) == len(objs[0]["steps"]), rows
    assert r"\text{adjoint of a Hadamard product: $\langle$G, A $\circ$ dY$\rangle$" in out
    rc, plain, _ = run("diff", "x: n; A: n x n; y: n; sum(exp(A x) .* y)", "--wrt", "x",
                       "--format", "latex")
    assert out.endswith(plain)


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex is not installed")
def test_steps_latex_compiles(tmp_path):
    for program, args in [("S: n x n sym; A: n x n; tr(S A S)", ["--wrt", "S", "--order", "2"]),
                          ("x: n; A: n x n; x^T A x", ["--wrt", "x"]),
                          (_network(3), ["--wrt", "W1"])]:
        rc, out, err = run("diff", program, *args, "--steps", "--format", "latex")
        assert rc == 0, err
        tex = tmp_path / "steps.tex"
        tex.write_text("\\documentclass{article}\\usepackage{amsmath,amssymb}"
                       "\\usepackage[utf8]{inputenc}\\begin{document}\n" + out
                       + "\n\\end{document}\n", encoding="utf-8")
        p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                            tex.name], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stdout[-2000:]


def test_docstring_examples_run():
    import matd.steps
    result = doctest.testmod(matd.steps)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("fmt", ["text", "latex", "json"])
def test_steps_are_printed_in_work_linear_in_the_derivation(fmt, monkeypatch):
    """The rows of --steps share one printer and one walk (a printer per step printed the
    shared parts once per step: 5.7 s for a product of 174 factors, a fuzz-found hang)."""
    import matd.core.printers as printers
    from matd.cli.diff import DiffOptions, run_diff
    from matd.formats import View, _names
    from matd.steps import render_steps, render_steps_latex, steps_records
    count = {"n": 0}
    render = printers._Printer.render

    def counted(self, node):
        count["n"] += 1
        return render(self, node)
    monkeypatch.setattr(printers._Printer, "render", counted)
    work = []
    for k in (20, 40, 80):
        program = "X: m x n; w: n; y: m; x: 1; norm(X w - y)^2 / " + "x^T " * k + "2 m"
        opts = DiffOptions(program, (), 1, fmt, "numerator", None, True)
        prog, d = run_diff(opts)
        names = _names(prog, d, View(fmt))
        count["n"] = 0
        {"text": lambda: render_steps(d, names), "latex": lambda: render_steps_latex(d, names),
         "json": lambda: steps_records(prog, d, names)}[fmt]()
        work.append(count["n"])
    assert work[2] <= 2.6 * work[1] and work[1] <= 2.6 * work[0], work
