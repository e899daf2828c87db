"""Properties over random well-typed programs (hypothesis):

- print -> parse gives the identical (interned) IR;
- the inferred shape is the shape numpy gets evaluating the same formula (with a small
  reference evaluator written here, independent of matd's kernels);
- gradients of random scalar expressions of depth >= 4 match central finite differences;
- simplification is idempotent and keeps values.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matd.core.derive import derive
from matd.core.evaluate import evaluate
from matd.core.fdcheck import central_jacobian, rel_error
from matd.core.printers import program_to_matd
from matd.core.simplify import simplify
from matd.grammar.parse import parse_program

SIZES = {"m": 2, "n": 3, "p": 4}
DIMS = ("m", "n", "p")
UNARY = ("exp", "tanh", "sin", "cos", "sigmoid", "softplus")


class Gen:
    """Builds matd source for a target shape; shapes are (dim or 1, dim or 1)."""

    def __init__(self, draw):
        self.draw = draw
        self.decls: dict[str, tuple] = {}

    def var(self, shape):
        for name, s in self.decls.items():
            if s == shape and self.draw(st.booleans()):
                return name
        r, c = shape
        prefix = "c" if shape == (1, 1) else ("v" if c == 1 else "M")
        name = f"{prefix}{len(self.decls)}"
        self.decls[name] = shape
        return name

    def expr(self, shape, depth):
        r, c = shape
        if depth <= 0:
            return self.var(shape)
        choices = ["unary", "add", "sub", "hadamard", "matmul", "transpose", "scale", "leaf"]
        choices += ["hdiv", "divscalar", "epow", "sqrt"]
        if shape == (1, 1):
            choices += ["tr", "sum", "norm2", "quad", "logsumexp", "dot", "det", "softmaxdot",
                        "sumkron"]
        if r == c and r != 1:
            choices += ["inv", "logdet_scale", "pinv", "diagdiag", "mpow", "adj", "lmax"]
        choices += ["ufunc"]
        if c == 1 and r != 1:
            choices += ["diagvec", "vecof"]
        kind = self.draw(st.sampled_from(choices))
        d = depth - 1
        if kind == "leaf":
            return self.var(shape)
        if kind == "unary":
            f = self.draw(st.sampled_from(UNARY))
            inner = self.expr(shape, d)
            return f"exp(tanh({inner}))" if f == "exp" else f"{f}({inner})"  # no overflow
        if kind in ("add", "sub"):
            op = "+" if kind == "add" else "-"
            return f"({self.expr(shape, d)} {op} {self.expr(shape, d)})"
        if kind == "hadamard":
            return f"({self.expr(shape, d)} .* {self.expr(shape, d)})"
        if kind == "matmul":
            k = self.draw(st.sampled_from(DIMS))
            return f"({self.expr((r, k), d)} {self.expr((k, c), d)})"
        if kind == "transpose":
            return f"({self.expr((c, r), d)})^T"
        if kind == "scale":
            return f"({self.expr((1, 1), d)} {self.expr(shape, d)})"
        if kind == "tr":
            k = self.draw(st.sampled_from(DIMS))
            return f"tr({self.expr((k, k), d)})"
        if kind == "sum":
            return f"sum({self.expr(self.shape(), d)})"
        if kind == "norm2":
            return f"norm({self.expr(self.shape(), d)})^2"
        if kind == "logsumexp":
            return f"logsumexp({self.expr(self.shape(), d)})"
        if kind == "dot":
            s = self.shape()
            return f"dot({self.expr(s, d)}, {self.expr(s, d)})"
        if kind == "quad":
            k = self.draw(st.sampled_from(DIMS))
            v = self.expr((k, 1), d)
            return f"({v}^T {self.expr((k, k), d)} {v})"
        if kind == "hdiv":  # denominators kept away from zero
            return f"({self.expr(shape, d)} ./ (2 + tanh({self.expr(shape, d)})))"
        if kind == "divscalar":
            return f"({self.expr(shape, d)} / (1 + {self.expr((1, 1), d)}^2))"
        if kind == "epow":
            return f"({self.expr(shape, d)}).^2"
        if kind == "sqrt":
            return f"sqrt(1 + ({self.expr(shape, d)}).^2)"
        if kind == "det":
            k = self.draw(st.sampled_from(DIMS))
            return f"det(4 eye({k}) + tanh({self.expr((k, k), d)}))"
        if kind == "softmaxdot":
            k = self.draw(st.sampled_from(DIMS))
            return f"dot({self.expr((k, 1), d)}, softmax({self.expr((k, 1), d)}))"
        if kind == "pinv":
            return f"pinv(4 eye({r}) + tanh({self.expr(shape, d)}))"
        if kind == "mpow":
            return f"({self.expr(shape, d)})^2"
        if kind == "adj":
            return f"adj(4 eye({r}) + tanh({self.expr(shape, d)}))"
        if kind == "lmax":  # a symmetric argument; its top eigenvalue is simple almost surely
            e = self.expr(shape, d)
            return f"(lambda_max({e} + ({e})^T) {self.expr(shape, d)})"
        if kind == "ufunc":
            return f"cube({self.expr(shape, d)})"
        if kind == "diagdiag":
            return f"diag(diag({self.expr(shape, d)}))"
        if kind == "diagvec":
            return f"diag({self.expr((r, r), d)})"
        if kind == "vecof":
            return f"vec({self.expr((r, 1), d)})"
        if kind == "sumkron":
            return f"sum(kron({self.expr(self.shape(), d)}, {self.expr(self.shape(), d)}))"
        if kind == "inv":  # diagonally dominant: safely invertible
            return f"inv(4 eye({r}) + tanh({self.expr(shape, d)}))"
        if kind == "logdet_scale":
            return f"(logdet(4 eye({r}) + tanh({self.expr(shape, d)})) {self.expr(shape, d)})"
        raise AssertionError(kind)

    def shape(self):
        r = self.draw(st.sampled_from(DIMS + (1,)))
        c = self.draw(st.sampled_from(DIMS + (1,)))
        return (r, c)

    def program(self, text):
        decls = []
        for name, (r, c) in self.decls.items():
            if (r, c) == (1, 1):
                decls.append(f"{name}: scalar")
            elif c == 1:
                decls.append(f"{name}: {r}")
            else:
                decls.append(f"{name}: {r} x {c}")
        return "; ".join(["cube(t) = t^3 / 3 + t"] + decls + [text])


@st.composite
def programs(draw, scalar=False, depth=4):
    g = Gen(draw)
    shape = (1, 1) if scalar else g.shape()
    text = g.expr(shape, depth)
    return g.program(text), shape


def size(d):
    return 1 if d == 1 else SIZES[d]


# a reference evaluator, written apart from matd's kernels
REF = {
    "add": lambda n, *a: sum(a[1:], a[0]),
    "neg": lambda n, a: -a,
    "matmul": lambda n, *a: np.linalg.multi_dot(a) if len(a) > 2 else a[0] @ a[1],
    "smul": lambda n, s, x: s.item() * x,
    "div": lambda n, x, s: x / s.item(),
    "hadamard": lambda n, a, b: a * b,
    "transpose": lambda n, a: a.T,
    "inv": lambda n, a: np.linalg.inv(a),
    "epow": lambda n, a, p: a ** p.item(),
    "tr": lambda n, a: np.array([[np.trace(a)]]),
    "sum": lambda n, a: np.array([[a.sum()]]),
    "norm": lambda n, a: np.array([[np.linalg.norm(a)]]),
    "logsumexp": lambda n, a: np.array([[a.max() + np.log(np.exp(a - a.max()).sum())]]),
    "dot": lambda n, a, b: np.array([[np.vdot(a, b)]]),
    "logdet": lambda n, a: np.array([[np.linalg.slogdet(a)[1]]]),
    "hdiv": lambda n, a, b: a / b, "sqrt": lambda n, a: np.sqrt(a),
    "adj": lambda n, a: np.linalg.det(a) * np.linalg.inv(a),
    "lambda_max": lambda n, a: np.array([[np.linalg.eigvalsh(a)[-1]]]),
    "det": lambda n, a: np.array([[np.linalg.det(a)]]), "pinv": lambda n, a: np.linalg.pinv(a),
    "softmax": lambda n, a: np.exp(a) / np.exp(a).sum(),
    "diag": lambda n, a: np.diag(a[:, 0]) if a.shape[1] == 1 else np.diag(a).reshape(-1, 1),
    "vec": lambda n, a: a.reshape(-1, 1, order="F"), "kron": lambda n, a, b: np.kron(a, b),
    "exp": lambda n, a: np.exp(a), "tanh": lambda n, a: np.tanh(a),
    "sin": lambda n, a: np.sin(a), "cos": lambda n, a: np.cos(a),
    "sigmoid": lambda n, a: 1 / (1 + np.exp(-a)), "softplus": lambda n, a: np.log1p(np.exp(a)),
}


def ref_eval(node, env):
    op = node.op
    if op == "var":
        return env[node.params[0]]
    if op == "const":
        return np.array([[float(node.params[0])]])
    if op == "eye":
        return np.eye(SIZES[node.shape[0].factors[0]])
    if op == "ufunc":
        a = ref_eval(node.args[0], env)
        return a ** 3 / 3 + a
    if op == "mpow":
        return np.linalg.matrix_power(ref_eval(node.args[0], env), node.params[0])
    if op == "broadcast":
        a = ref_eval(node.args[0], env)
        return np.broadcast_to(a, (shape_of(node.shape[0]), shape_of(node.shape[1])))
    return REF[op](node, *(ref_eval(a, env) for a in node.args))


def shape_of(d):
    out = d.coef
    for f in d.factors:
        out *= SIZES[f]
    return out


def inputs(prog, seed):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((shape_of(v.shape[0]), shape_of(v.shape[1]))) * 0.5
            for name, v in prog.variables.items()}


SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs())
def test_round_trip_and_shapes(case):
    src, shape = case
    prog = parse_program(src)
    again = parse_program(program_to_matd(prog))
    assert again.result is prog.result
    value = ref_eval(prog.result, inputs(prog, 0))
    assert value.shape == (size(shape[0]), size(shape[1]))
    assert (shape_of(prog.result.shape[0]), shape_of(prog.result.shape[1])) == value.shape


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(scalar=True, depth=4), st.integers(0, 2 ** 16))
def test_random_gradients_match_finite_differences(case, seed):
    src, _ = case
    prog = parse_program(src)
    env = inputs(prog, seed)
    f = prog.result
    value = evaluate(f, env, SIZES)
    assert np.allclose(value, ref_eval(f, env))
    for name in prog.variables:
        G = derive(prog, [name]).results[0].derivative
        got = evaluate(G, env, SIZES)

        def fun(X, name=name):
            e = dict(env)
            e[name] = X
            return evaluate(f, e, SIZES)

        fd = central_jacobian(fun, env[name])[0, 0]
        assert rel_error(got, fd) < 1e-5, (src, name)


@SETTINGS
@given(programs(depth=4), st.integers(0, 1000))
def test_simplify_is_idempotent_and_keeps_values(case, seed):
    src, _ = case
    prog = parse_program(src)
    s1 = simplify(prog.result)
    assert simplify(s1) is s1
    env = inputs(prog, seed)
    assert rel_error(evaluate(s1, env, SIZES), evaluate(prog.result, env, SIZES)) < 1e-9
