"""Issue 10, items 3 and 4: derivatives printed as a paper prints them, through the real
`matd` command, held to matd's numbers.

- powers under a postfix operator are parenthesized in every format: (X³)⁻¹, (X²)ᵀ, (Xᵀ)²;
- ∘ ⊘ ⊗ beside a juxtaposed product are parenthesized ((C Vᵀ) ∘ S, (A ⊗ B) x): the text
  read as a person reads it (∘ looser than juxtaposition) means what matd computed;
- a ``where`` name is never a piece of a differential (no dX in a definition), and the
  user's definitions (``r = A x - y``) keep their names in every format, JSON included;
- LaTeX: ``--order 2`` labels d²f and keeps the gradient row; W2 is W_{2} in labels and
  bodies; Greek names are letters (mu → \\mu, Sigma → \\Sigma, mu2 → \\mu_{2}; lam stays a
  word); exact fractions (\\frac{1}{2}; ½ in text; 0.5 in matd text and JSON); long formulas
  as aligned ``where`` rows that fit a page (pdflatex: no overfull line) and grow linearly
  with a network's depth.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from printed_readers import (latex_program, read_latex_output, read_text_output,  # noqa: E402
                             text_program)

MATD = str(Path(sys.executable).with_name("matd"))
GRAD = r"\frac{{\partial f}}{{\partial {}}}"     # the LaTeX label of a gradient


def matd(*args: str) -> str:
    p = subprocess.run([MATD, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"})
    assert p.returncode == 0, p.stderr
    return p.stdout


def arrays(decls: dict, seed: int = 0) -> dict:
    """Values for declared variables: {name: shape} with concrete sizes."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in decls.items():
        a = rng.uniform(0.3, 0.9, shape) if shape else rng.uniform(0.3, 0.9)
        if len(shape) == 2 and shape[0] == shape[1]:
            a = a @ a.T / shape[0] + np.eye(shape[0])        # spd, well conditioned
        out[name] = a
    return out


def at_args(values: dict) -> list[str]:
    args = []
    for k, v in values.items():
        args += ["--at", f"{k}={json.dumps(np.asarray(v).tolist())}"]
    return args


def names_of(program: str) -> set:
    """The names a program uses (its declarations' shapes left out: `A: m x n`)."""
    program = re.sub(r":[^;\n=]*", "", re.sub(r"#[^\n]*", "", program))
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", program))


def evaluate(program: str, values: dict) -> np.ndarray:
    """`matd eval` of a printed program at the values (only the names it uses)."""
    used = names_of(program)
    out = matd("eval", program, *at_args({k: v for k, v in values.items() if k in used}),
               "--format", "json")
    return np.asarray(json.loads(out)["value"], dtype=float)


def grad(program: str, wrt: str, values: dict, order: int = 1) -> np.ndarray:
    used = names_of(program)
    out = matd("grad", program, "--wrt", wrt, "--order", str(order), "--format", "json",
               *at_args({k: v for k, v in values.items() if k in used}))
    return np.asarray(json.loads(out)["derivative"][wrt], dtype=float)


def close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.size == b.size and np.allclose(a.reshape(b.shape), b, rtol=1e-8, atol=1e-10)


def text_rows(out: str, human: bool = False) -> dict:
    """{label: matd program of the row} of the text output (its where lines included)."""
    rows, wheres = read_text_output(out)
    return {label: text_program(body, wheres, shape, human)
            for label, (body, shape) in rows.items()}


def latex_rows(tex: str, names=()) -> dict:
    rows, wheres = read_latex_output(tex)
    return {label: latex_program(body, wheres, names) for label, body in rows.items()}


# --- powers under postfix operators --------------------------------------------------------
POWERS = [  # program, what the f row must show in text / matd / LaTeX
    ("X: n x n; tr(inv(X^3))", "(X³)⁻¹", "(X^3)^-1", r"\left(X^{3}\right)^{-1}"),
    ("X: n x n; A: n x n; tr(A (X^2)^T)", "(X²)ᵀ", "(X^2)^T", r"\left(X^{2}\right)^{\top}"),
    ("X: n x n; A: n x n; tr(A (X^T)^2)", "(Xᵀ)²", "(X^T)^2", r"\left(X^{\top}\right)^{2}"),
    ("X: n x n; A: n x n; tr(A inv(X^3)^T)", "(X³)⁻ᵀ", "(X^3)^-T", r"\left(X^{3}\right)^{-\top}"),
]


@pytest.mark.parametrize("program, uni, text, tex", POWERS, ids=[p[1] for p in POWERS])
def test_powers_under_a_postfix_operator_are_parenthesized(program, uni, text, tex):
    out = matd("diff", program, "--wrt", "X")
    assert uni in out and not re.search(r"[²³]⁻|[²³]ᵀ|ᵀ[²³]", out), out
    js = json.loads(matd("diff", program, "--wrt", "X", "--format", "json"))
    assert text in js["expression"] and not re.search(r"\^-?[0-9T]+\^", json.dumps(js)), js
    assert not re.search(r"\^-?[0-9T]+\^", matd("diff", program, "--wrt", "X", "--format",
                                                 "matd"))
    latex = matd("diff", program, "--wrt", "X", "--format", "latex")
    assert tex in latex and "}^{" not in latex.replace(r"\right)^{", ""), latex
    # and the gradient, read back from each format, is matd's
    values = arrays({"X": (3, 3), "A": (3, 3)})
    want = grad(program, "X", values)
    decls = program.rsplit(";", 1)[0]
    assert close(evaluate(js["derivative"] if ":" in js["derivative"]
                          else f"{decls}; {js['derivative']}", values), want)
    assert close(evaluate(f"{decls}; {text_rows(out)['∂f/∂X']}", values), want)
    row = latex_rows(latex)[GRAD.format("X")]
    assert close(evaluate(f"{decls}; {row}", values), want)


# --- products beside ∘ ⊘ ⊗ ----------------------------------------------------------------
ATTENTION = "Q: m x d; K: n x d; V: n x p; C: m x p; sum(C .* (softmax(Q K^T / sqrt(d), 2) V))"
PRODUCTS = [  # program, wrt, concrete shapes, a form the text must show
    (ATTENTION, "Q", {"Q": (3, 2), "K": (4, 2), "V": (4, 2), "C": (3, 2)}, None),
    ("A: m x n; B: n x p; C: m x p; sum((A B) .* C)", "A",
     {"A": (2, 3), "B": (3, 2), "C": (2, 2)}, "(A B) ∘ C"),
    ("A: m x n; B: p x q; x: n*q; y: m*p; y^T kron(A, B) x", "x",
     {"A": (2, 3), "B": (2, 2), "x": (6,), "y": (4,)}, "(A ⊗ B) x"),
    ("M: m x n; R: m x n; V: n x p; W: m x p; tr(W^T (M .* R) V)", "M",
     {"M": (2, 3), "R": (2, 3), "V": (3, 2), "W": (2, 2)}, "(M ∘ R) V"),
    ("X: m x n; w: n; y: m; sum(exp(-(X w) .* y))", "w", {"X": (3, 2), "w": (2,), "y": (3,)},
     None),
    ("X: m x n; W1: n x h; W2: h x k; Y: m x k; 0.5 norm(tanh(X W1) W2 - Y)^2", "W1",
     {"X": (3, 2), "W1": (2, 2), "W2": (2, 2), "Y": (3, 2)}, None),
]


@pytest.mark.parametrize("program, wrt, shapes, form", PRODUCTS, ids=range(len(PRODUCTS)))
def test_products_beside_elementwise_and_kronecker_read_as_meant(program, wrt, shapes, form):
    """Read as a person reads it (∘ ⊘ ⊗ looser than juxtaposition) and as matd's grammar
    does, every row of the text output means the same numbers: matd's."""
    out = matd("diff", program, "--wrt", wrt)
    if form:
        assert form in out, out
    values = arrays(shapes)
    decls = program.rsplit(";", 1)[0]
    want = grad(program, wrt, values)
    label = f"∂f/∂{wrt}"
    for human in (False, True):
        rows = text_rows(out, human)
        assert close(evaluate(f"{decls}; {rows[label]}", values), want), (human, rows[label])
        f = evaluate(f"{decls}; {rows['f']}", values)
        assert close(f, evaluate(program, values)), (human, rows["f"])
    # the same for the matd program (parenthesized too: it reads the same both ways)
    prog = matd("diff", program, "--wrt", wrt, "--format", "matd")
    assert close(evaluate(prog, values), want)


def test_attention_prints_the_product_beside_hadamard_in_parentheses():
    out = matd("diff", ATTENTION, "--wrt", "Q")
    assert "(C Vᵀ) ∘" in out and "C Vᵀ ∘" not in out.replace("(C Vᵀ) ∘", ""), out
    tex = matd("diff", ATTENTION, "--wrt", "Q", "--format", "latex")
    assert r"\left(C\,V^{\top}\right) \odot" in tex, tex
    prog = matd("diff", ATTENTION, "--wrt", "Q", "--format", "matd")
    assert "(C V^T) .*" in prog, prog


# --- where names and definitions ---------------------------------------------------------------
DIFFERENTIALS = [  # programs whose differentials once had named pieces (tr(t2), t2 = t1 dX)
    ("X: n x n; A: n x n; tr(A inv(X^3)^T)", ["X", "A"], {"X": (3, 3), "A": (3, 3)}),
    ("X: m x n; W1: n x h; W2: h x k; Y: m x k; 0.5 norm(tanh(X W1) W2 - Y)^2", ["W1", "W2"],
     {"X": (3, 2), "W1": (2, 2), "W2": (2, 2), "Y": (3, 2)}),
    (ATTENTION, ["Q"], {"Q": (3, 2), "K": (4, 2), "V": (4, 2), "C": (3, 2)}),
]


@pytest.mark.parametrize("program, wrt, shapes", DIFFERENTIALS, ids=range(len(DIFFERENTIALS)))
def test_no_where_name_holds_a_differential(program, wrt, shapes):
    flags = [a for x in wrt for a in ("--wrt", x)]
    dnames = [f"d{x}" for x in wrt]
    out = matd("diff", program, *flags)
    _, wheres = read_text_output(out)
    for name, body in wheres:
        assert not any(re.search(rf"\b{d}\b", body) for d in dnames), (name, body)
    rows, _ = read_text_output(out)
    assert any(re.search(rf"\b{d}\b", rows["df"][0]) for d in dnames)
    for order in (1, 2):
        tex = matd("diff", program, *flags, "--format", "latex", "--order", str(order))
        for line in tex.splitlines():
            if line.startswith(r"\text{where }"):
                assert r"\mathrm{d}" not in line, line
    top = json.loads(matd("diff", program, *flags, "--format", "json"))
    shared = [f"{d['name']} = {d['body']}" for d in top.get("definitions", [])]
    for obj in top.get("results", [top]):
        for st in shared + obj["differential"].split("; ")[:-1]:
            if " = " in st:
                assert not any(re.search(rf"\b{d}\b", st) for d in dnames), st
    # df read back, along a direction, is the gradient's inner product with it
    values = arrays(shapes)
    decls = program.rsplit(";", 1)[0]
    direction = arrays({f"d{x}": shapes[x] for x in wrt}, seed=1)
    ddecls = "; ".join(re.search(rf"\b{x}: [^;]*", program).group().replace(x, f"d{x}", 1)
                       for x in wrt)
    df = evaluate(f"{decls}; {ddecls}; {text_rows(out)['df']}", {**values, **direction})
    want = sum(float(np.sum(grad(program, x, values) * direction[f"d{x}"])) for x in wrt)
    assert np.isclose(float(df), want, rtol=1e-8)


DEFINED = "A: m x n; x: n; y: m; r = A x - y; norm(r)^2 + sum(exp(r))"


def test_definitions_keep_their_names_in_every_format():
    values = arrays({"A": (3, 2), "x": (2,), "y": (3,)})
    want = grad(DEFINED, "x", values)
    text = matd("diff", DEFINED, "--wrt", "x")
    assert "where r = A x − y" in text and "Aᵀ (exp(r) + 2 r)" in text
    tex = matd("diff", DEFINED, "--wrt", "x", "--format", "latex")
    assert r"\text{where } r &= A\,x - y" in tex
    prog = matd("diff", DEFINED, "--wrt", "x", "--format", "matd")
    assert "\nr = A x - y\n" in prog and "exp(r)" in prog
    obj = json.loads(matd("diff", DEFINED, "--wrt", "x", "--format", "json"))
    for key in ("expression", "differential", "derivative"):
        assert "r = A x - y" in obj[key] and "exp(r)" in obj[key], (key, obj[key])
    # each format, read back, is matd's gradient
    decls = DEFINED.rsplit(";", 2)[0]
    assert close(evaluate(obj["derivative"] if ":" in obj["derivative"]
                          else f"{decls}; {obj['derivative']}", values), want)
    assert close(evaluate(prog, values), want)
    assert close(evaluate(f"{decls}; {text_rows(text)['∂f/∂x']}", values), want)
    row = latex_rows(tex)[GRAD.format("x")]
    assert close(evaluate(f"{decls}; {row}", values), want)


# --- LaTeX ---------------------------------------------------------------------------------------
LOGISTIC = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w + 0.5 norm(w)^2"


def test_latex_second_order_labels_d2f_and_keeps_the_gradient():
    tex = matd("diff", LOGISTIC, "--wrt", "w", "--order", "2", "--format", "latex")
    text = matd("diff", LOGISTIC, "--wrt", "w", "--order", "2")
    assert r"\mathrm{d}^2 f &= " in tex and r"\mathrm{d}f &=" not in tex
    grad_label = r"\frac{\partial f}{\partial w}"
    hess_label = r"\frac{\partial^2 f}{\partial w\,\partial w^{\top}}"
    rows = latex_rows(tex)
    assert list(rows)[:2] == ["f", grad_label] and hess_label in rows
    assert [ln.split(" = ")[0].strip() for ln in text.splitlines()
            if " = " in ln and not ln.lstrip().startswith("where")] == \
        ["f", "∂f/∂w", "d²f", "∂²f/∂w²"]
    values = arrays({"X": (4, 3), "w": (3,), "y": (4,)})
    decls = LOGISTIC.rsplit(";", 1)[0]
    assert close(evaluate(f"{decls}; {rows[grad_label]}", values), grad(LOGISTIC, "w", values))
    assert close(evaluate(f"{decls}; {rows[hess_label]}", values),
                 grad(LOGISTIC, "w", values, order=2))


def test_latex_subscripts_alike_in_labels_and_bodies():
    program = "X: m x n; W_1: n x h; W2: h x k; Y: m x k; 0.5 norm(tanh(X W_1) W2 - Y)^2"
    tex = matd("diff", program, "--wrt", "W_1", "--wrt", "W2", "--format", "latex")
    assert r"\partial W_{1}}" in tex and r"\partial W_{2}}" in tex
    assert r"\mathrm{d}W_{1}" in tex and r"\mathrm{d}W_{2}" in tex
    assert "W2" not in tex and "W_1" not in tex and r"W\_" not in tex
    values = arrays({"X": (3, 2), "W_1": (2, 2), "W2": (2, 2), "Y": (3, 2)})
    rows = latex_rows(tex, names={"X", "W_1", "W2", "Y"})
    decls = program.rsplit(";", 1)[0]
    for x in ("W_1", "W2"):
        label = r"\frac{\partial f}{\partial W_{%s}}" % x[-1]
        assert close(evaluate(f"{decls}; {rows[label]}", values), grad(program, x, values))


GREEK = ("X: m x n; mu: n; Sigma: n x n; lambda: scalar; mu2: n; lam: scalar; eps: scalar; "
         "sigma: scalar; sum(log(1 + exp(X mu))) + lambda norm(mu - mu2)^2 + lam tr(Sigma) "
         "+ eps^2 mu^T Sigma mu + sigma sum(sigmoid(X mu))")


def test_latex_typesets_greek_names():
    tex = matd("diff", GREEK, "--wrt", "mu", "--wrt", "Sigma", "--format", "latex")
    for sym in (r"\mu", r"\Sigma", r"\lambda", r"\mu_{2}", r"\epsilon", r"\mathrm{lam}",
                r"\partial \mu}", r"\partial \Sigma}", r"\mathrm{d}\mu", r"\sigma\,",
                r"\sigma\left("):
        assert sym in tex, (sym, tex)
    assert not re.search(r"\\mathrm\{(mu|Sigma|lambda|eps|sigma)", tex)
    names = {"X", "mu", "Sigma", "lambda", "mu2", "lam", "eps", "sigma"}
    values = arrays({"X": (3, 2), "mu": (2,), "Sigma": (2, 2), "lambda": (), "mu2": (2,),
                     "lam": (), "eps": (), "sigma": ()})
    rows = latex_rows(tex, names)
    decls = GREEK.rsplit(";", 1)[0]
    assert close(evaluate(f"{decls}; {rows['f']}", values), evaluate(GREEK, values))
    for x, lx in (("mu", r"\mu"), ("Sigma", r"\Sigma")):
        label = r"\frac{\partial f}{\partial %s}" % lx
        assert close(evaluate(f"{decls}; {rows[label]}", values), grad(GREEK, x, values))
    compiles(tex)


def test_latex_typesets_greek_dims():
    program = "x: alpha; A: beta x alpha; sum(exp(A x)) / alpha + sum(x) / beta"
    tex = matd("diff", program, "--wrt", "x", "--format", "latex")
    assert r"{\alpha}" in tex and r"{\beta}" in tex and r"_{1,\alpha}" in tex, tex
    assert not re.search(r"(?<!\\)(alpha|beta)", tex), tex
    values = arrays({"x": (3,), "A": (2, 3)})
    rows = latex_rows(tex, {"x", "A", "alpha", "beta"})
    decls = program.rsplit(";", 1)[0]
    assert close(evaluate(f"{decls}; {rows[GRAD.format('x')]}", values),
                 grad(program, "x", values))
    compiles(tex)


FRACTIONS = [  # coefficient as typed, LaTeX, text
    ("0.5", r"\frac{1}{2}", "½"), ("0.25", r"\frac{1}{4}", "¼"), ("(1/3)", r"\frac{1}{3}", "⅓"),
    ("2.5", r"\frac{5}{2}", "2.5"), ("0.1", "0.1", "0.1"), ("0.2", "0.2", "0.2"),
]


@pytest.mark.parametrize("coef, tex_form, text_form", FRACTIONS, ids=[f[0] for f in FRACTIONS])
def test_exact_fractions(coef, tex_form, text_form):
    program = f"A: m x n; x: n; y: m; {coef} norm(A x - y)^2"
    tex = matd("diff", program, "--wrt", "x", "--format", "latex")
    text = matd("diff", program, "--wrt", "x")
    assert tex.splitlines()[1].startswith(f"f &= {tex_form}"), tex
    assert text.startswith(f"f     = {text_form} ") or text.startswith(f"f     = {text_form}‖"), \
        text
    obj = json.loads(matd("diff", program, "--wrt", "x", "--format", "json"))
    assert "½" not in json.dumps(obj, ensure_ascii=False) and r"\frac" not in obj["expression"]
    values = arrays({"A": (3, 2), "x": (2,), "y": (3,)})
    decls = program.rsplit(";", 1)[0]
    want = evaluate(program, values)
    assert close(evaluate(f"{decls}; {text_rows(text)['f']}", values), want)
    assert close(evaluate(f"{decls}; {latex_rows(tex)['f']}", values), want)
    assert close(evaluate(f"{decls}; {obj['expression']}", values), want)
    row = latex_rows(tex)[GRAD.format("x")]
    assert close(evaluate(f"{decls}; {row}", values), grad(program, "x", values))


def network(layers: int) -> tuple[str, list[str]]:
    decl = "X: m x n; Y: m x k; W1: n x h"
    e = "tanh(X W1)"
    for i in range(2, layers + 1):
        decl += f"; W{i}: h x h"
        e = f"tanh({e} W{i})"
    return f"{decl}; V: h x k; 0.5 norm({e} V - Y)^2", [f"W{i}" for i in range(1, layers + 1)]


def compiles(tex: str) -> list[str]:
    """Compile in an article (letter paper, 10pt): the overfull lines, [] when none."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
               f"{tex}\n\\end{{document}}\n")
        Path(d, "t.tex").write_text(doc, encoding="utf-8")
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                           cwd=d, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:]
        log = Path(d, "t.log").read_text(errors="replace")
    return re.findall(r"Overfull \\hbox.*", log)


def test_a_two_layer_network_fits_the_page_and_reads_back():
    program = "X: m x n; W1: n x h; W2: h x k; Y: m x k; 0.5 norm(tanh(X W1) W2 - Y)^2"
    tex = matd("diff", program, "--wrt", "W1", "--wrt", "W2", "--format", "latex")
    assert r"\text{where } t_{1} &=" in tex
    values = arrays({"X": (4, 3), "W1": (3, 2), "W2": (2, 2), "Y": (4, 2)})
    rows = latex_rows(tex)
    decls = program.rsplit(";", 1)[0]
    for x in ("W1", "W2"):
        label = r"\frac{\partial f}{\partial W_{%s}}" % x[-1]
        assert close(evaluate(f"{decls}; {rows[label]}", values), grad(program, x, values))
    assert compiles(tex) == []


def test_deep_networks_are_laid_out_in_rows_linear_in_depth():
    sizes = []
    for layers in (2, 4, 8):
        program, wrt = network(layers)
        tex = matd("diff", program, *[a for x in wrt for a in ("--wrt", x)], "--format",
                   "latex")
        sizes.append(len(tex))
        width = max(len(ln) for ln in tex.splitlines())
        assert width < 400, width          # rows, not one ever longer line
        if layers == 8:
            assert compiles(tex) == []
            rows = latex_rows(tex)
            values = arrays({"X": (3, 2), "Y": (3, 2), "W1": (2, 2), "V": (2, 2),
                             **{w: (2, 2) for w in wrt[1:]}})
            decls = program.rsplit(";", 1)[0]
            label = r"\frac{\partial f}{\partial W_{1}}"
            assert close(evaluate(f"{decls}; {rows[label]}", values), grad(program, "W1", values))
            # df is a sum over the layers, laid out on lines of its own
            assert tex.count(r"&\quad + ") >= 2
    assert sizes[2] - sizes[1] < 2.6 * (sizes[1] - sizes[0])   # linear, not quadratic


def test_a_derivative_without_a_closed_form_is_a_note_that_compiles():
    tex = matd("diff", "Q: n x n; p: n; u: n; p^T expm(Q) u", "--wrt", "Q", "--order", "2",
               "--format", "latex")
    assert r"&= \text{(none)}" in tex and r"\intertext{no closed Kronecker form" in tex
    assert compiles(tex) == []


def test_a_long_second_differential_breaks_at_its_signs_and_reads_back():
    """d²f of a network is one trace of a sum: spread over the sum's terms it breaks into
    rows that fit the page, and the rows read back give d²f = vec(D)ᵀ H vec(D)."""
    program = "W1: h x d; W2: k x h; x: d; y: k; norm(W2 tanh(W1 x) - y)^2"
    tex = matd("diff", program, "--wrt", "W1", "--order", "2", "--format", "latex")
    assert r"&\quad " in tex.split(r"\mathrm{d}^2 f", 1)[1].split(r"\text{where", 1)[0]
    assert compiles(tex) == []
    values = arrays({"W1": (3, 2), "W2": (2, 3), "x": (2,), "y": (2,)})
    direction = np.random.default_rng(1).normal(size=(3, 2))
    rows = latex_rows(tex)
    decls = program.rsplit(";", 1)[0] + "; dW1: h x d"
    d2f_row = rows[r"\mathrm{d}^2 f"]
    d2f = evaluate(f"{decls}; {d2f_row}", {**values, "dW1": direction})
    hess = grad(program, "W1", values, order=2)
    assert close(d2f, np.einsum("ij,ijkl,kl", direction, hess, direction))
