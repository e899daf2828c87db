"""The language of DESIGN §1: every spelling means what its plain twin means, precedence and
associativity, inference, and the printers (matd text re-parses; LaTeX compiles)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from matd.core.errors import MatdError
from matd.core.primitives import FUNCTIONS
from matd.core.printers import program_to_matd, to_latex, to_matd, to_unicode
from matd.grammar.parse import parse_program

DECLS = "A, B: n x n; C: m x n; x, y: n; c: scalar; "

SAME = [  # (spelling, the plain form it must mean)
    ("A'", "A^T"), ("Aᵀ", "A^T"), ("A^{T}", "A^T"), ("A⁻¹", "A^-1"), ("A^{-1}", "A^-1"),
    ("inv(A)", "A^-1"), ("A⁻ᵀ", "A^-T"), ("A^{-T}", "A^-T"), ("A²", "A^2"), ("A³", "A A A"
                                                                              if False else "A^3"),
    ("A ∘ B", "A .* B"), ("A ⊗ B", "kron(A, B)"), ("A * B", "A B"), ("c * A", "c A"),
    ("A − B", "A - B"), ("norm2(x)", "norm(x)"), ("+x", "x"), ("x'*A*x", "x^T A x"),
    ("A @ B", "A B"), ("c^2", "c c" if False else "c^2"), ("x.^2", "x .^ 2"),
    ("2 A", "A 2"), ("A / c", "A / c"), ("eye(n) A", "I A"), ("x + vector(1)", "x + ones(n)"),
]


@pytest.mark.parametrize("spelling,plain", SAME)
def test_spellings(spelling, plain):
    assert parse_program(DECLS + spelling).result is parse_program(DECLS + plain).result


@pytest.mark.parametrize("decl,shape", [
    ("A: m x n", ("m", "n")), ("A: m×n", ("m", "n")), ("A: (m, n)", ("m", "n")),
    ("A: R^{m x n}", ("m", "n")), ("A: ℝ^{m×n}", ("m", "n")), ("A: 3 x 4", ("3", "4")),
    ("A: n", ("n", "1")), ("A: R^n", ("n", "1")), ("A: scalar", ("1", "1")),
    ("A: 1", ("1", "1")), ("A: m*n", ("m·n", "1")), ("A: n x n spd", ("n", "n")),
])
def test_declarations(decl, shape):
    p = parse_program(decl + "; A")
    assert tuple(str(d) for d in p.result.shape) == shape


def test_attributes_and_several_names():
    p = parse_program("S: n x n spd; T: n x n sym diag; x, y: n; S")
    assert p.attrs("S") == ("spd",) and p.attrs("T") == ("sym", "diag")
    assert p.variables["y"].shape == p.variables["x"].shape


@pytest.mark.parametrize("src,shape", [
    ("A + B C", "add"), ("-A B", "matmul"), ("A - B - C", "add"), ("A B^T", "matmul"),
])
def test_precedence(src, shape):
    p = parse_program("A, B, C: n x n; " + src)
    assert p.result.op == shape
    if src == "-A B":
        assert p.result.args[0].op == "neg"
    if src == "A - B - C":  # left associative: (A - B) - C
        assert p.result.args[0].op == "add" and p.result.args[1].op == "neg"


def test_every_function_spelling_parses():
    args = {"kron": "A, B", "dot": "x, y", "eye": "n", "ones": "m, n", "zeros": "m, n",
            "commutation": "m, n", "max": "C, 0", "min": "x, y", "solve": "A, B",
            "expm_frechet": "A, A", "expm_frechet2": "A, A, A", "sylvester": "A, A, A"}
    vector_only = {"softmax", "gapinv"}
    square = {"tr", "trace", "det", "logdet", "inv", "inverse", "adj", "lambda_max",
              "lambda_min", "eigvec_max", "eigvec_min", "diag", "chol", "expm", "sqrtm",
              "eigvals", "eigvecs"}
    for name in FUNCTIONS:
        if name in ("unvec",):
            continue
        arg = args.get(name, "x" if name in vector_only else "A" if name in square else "C")
        p = parse_program(f"{DECLS}{name}({arg})")
        assert p.result is not None, name


def test_inference_and_naming_rule():
    p = parse_program("tr(A^T X B)")
    shapes = {k: tuple(str(d) for d in v.shape) for k, v in p.variables.items()}
    assert shapes == {"A": ("a", "b"), "X": ("a", "c"), "B": ("c", "b")}
    p = parse_program("sum(log(exp(-y.*(X*w)) + vector(1)))")
    assert p.variables["w"].shape[1].is_one and p.variables["y"].shape[1].is_one
    p = parse_program("norm2(A*x-y)^2")
    assert p.result.is_scalar and p.variables["x"].shape[1].is_one
    p = parse_program("a b + c")  # a–g scalars
    assert p.result.is_scalar


def test_dims_as_scalars_definitions_user_functions_comments():
    p = parse_program("X: m x d; w: d; y: m  # data\nr = X w - y\n"
                      "sp(t) = log(1 + exp(t))\nnorm(r)^2 / (2 m) + sum(sp(w))")
    assert p.result.is_scalar and "r" in p.definitions and "sp" in p.functions


def test_broadcasting_inserts_broadcast_nodes():
    p = parse_program("X: m x n; b: n; c: scalar; v: m; X + b^T + c + v")
    ops = [a.op for a in (p.result.args[1], p.result.args[0].args[1])]
    assert ops == ["broadcast", "broadcast"]


def test_matrix_named_T():
    p = parse_program("T: m x n; U: m x k; V: n x k; norm(T - U V^T)^2")
    assert p.result.is_scalar


def test_interning_and_spans():
    p = parse_program("A: n x n; x: n; (A x)^T (A x)")
    left, right = p.result.args
    assert left.args[0] is right
    spans = p.spans[right]
    assert [p.source.text[s.start:s.end] for s in spans] == ["A x", "A x"]


@pytest.mark.parametrize("src", [
    "A: m x n; X: m x p; B: p x n; tr(A^T X B)", "X: n x n; logdet(X) + tr(X^-T) + det(X)",
    "x: n; A: m x n; sigmoid(A x) .* (1 - sigmoid(A x))", "A: m x n; B: p x q; kron(A, B)",
    "X: n x n; norm(X) + norm1(X) + specnorm(X) + nuclear(X) + lambda_max(X + X^T)",
    "x: n; softmax(x) ./ (2 + abs(x)) + sqrt(exp(x))", "X: m x n; pinv(X)^T + X .^ 3",
    "x, y: n; dot(x, y) / (1 + x^T y) + logsumexp(x)", "X: m x n; vec(X)",
    "c: scalar; X: n x n; (c^2 + 1)^-1 X^3",
])
def test_printers(src, tmp_path_factory):
    p = parse_program(src)
    assert parse_program(program_to_matd(p)).result is p.result
    assert to_unicode(p.result) and to_matd(p.result)
    LATEX.append(to_latex(p.result))


LATEX: list[str] = []


def test_latex_compiles(tmp_path):
    if not LATEX:
        for src in ("A: m x n; X: m x p; B: p x n; tr(A^T X B)",):
            LATEX.append(to_latex(parse_program(src).result))
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    body = "\n".join(f"\\[ {t} \\]" for t in LATEX)
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
           f"{body}\n\\end{{document}}\n")
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]


def test_errors_carry_spans():
    with pytest.raises(MatdError) as e:
        parse_program("A: m x n; B: m x n; A B")
    assert e.value.span is not None and e.value.other is not None
