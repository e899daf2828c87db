"""Every printer means what matd computed: print -> read back -> evaluate gives the
original's value (DESIGN §3, "every printed formula is a program").

Random programs come from the generator of test_properties (``Gen``), extended here
(``WideGen``) to reach every row of the primitive table — structured variables, broadcasts,
dims used as scalars, numbers, spelled variants, decompositions' factors, user functions; a
test walks the table and fails when a row is never generated.  Printers held:

- ``program_to_matd`` (the whole program) and ``to_matd`` (the expression, after the
  declarations), parsed with matd.grammar.parse.parse_program;
- ``to_unicode`` and ``to_latex``, read back with the test-side readers of printed_readers;
- the numpy source of core/pysource.py (``matd diff --format numpy``), executed.

The default suite is small and derandomized; ``pytest -m slow`` runs many more.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from matd.core.evaluate import NumericError, evaluate
from matd.core.expr import walk
from matd.core.fdcheck import rel_error
from matd.core.primitives import PRIMS
from matd.core.printers import program_to_matd, to_latex, to_matd, to_unicode
from matd.core.pysource import numpy_function
from matd.grammar.parse import parse_program
from printed_readers import latex_to_matd, unicode_to_matd
from test_properties import DIMS, SIZES, Gen

FUNCS = ("cube(t) = t^3 / 3 + t", "wig(t) = sin(t) + t^2 / 2")
NUMBERS = ("0.5", "2.5", "3", "0.001", "1e-05", "1.25")
# rows never written in a program (differentials only)
NOT_IN_PROGRAMS = {"dvar"}
# rows without a differential: only in value round trips (part a)
VALUE_ONLY = {"eigvec_max", "eigvec_min", "svd_u1", "svd_v1", "polar"}


class WideGen(Gen):
    """Gen with every primitive of the table (see ``EXTRA``)."""

    def __init__(self, draw, value_only: bool = False):
        super().__init__(draw)
        self.attrs: dict[str, str] = {}
        self.value_only = value_only

    # variables, some structured (sym, spd, diag) when square
    def var(self, shape, attr=None):
        r, c = shape
        if attr is None and r == c and r != 1 and self.draw(st.integers(0, 3)) == 0:
            attr = self.draw(st.sampled_from(("sym", "spd", "diag")))
        if attr is None:
            return super().var(shape)
        for name, s in self.decls.items():
            if s == shape and self.attrs.get(name) == attr and self.draw(st.booleans()):
                return name
        name = f"S{len(self.decls)}"
        self.decls[name] = shape
        self.attrs[name] = attr
        return name

    def extra(self, shape):
        r, c = shape
        sq = r == c and r != 1
        ks = ["log", "relu", "abs", "stepmul", "signmul", "neg", "number", "star", "normplain",
              "epowf", "epowneg", "epowvar", "ufunc2", "softplus"]
        if shape != (1, 1):
            ks += ["bscalar", "bhad", "ones", "dimscale", "hdivb"]
        if r != 1 and c != 1:
            ks += ["brow", "bcol", "unvecvec", "zeros"]
            if r != c:
                ks += ["commut", "kronvec", "pinvrect"]
        if sq:
            ks += ["invT", "eyeplain", "mpow3", "prime", "atsign", "inverse_fn"]
        if c == 1 and r != 1:
            ks += ["softmax"]
        if shape == (1, 1):
            ks += ["norm1", "specnorm", "nuclear", "lmin", "logdet_spd", "trkron", "dimscalar",
                   "vecdot", "ones_sum"]
        if self.value_only:
            if sq:
                ks += ["eigvecs", "polar"]
            if r != 1 and c != 1 and r != c:
                ks += ["svdvecs"]
        return ks

    # the rows of batches, extremes, triangles and matrix functions (each kind an x_ method)
    def matrix_kinds(self, shape):
        r, c = shape
        sq = r == c and r != 1
        ks = ["maxmin"]
        if shape == (1, 1):
            ks += ["mean", "axis0", "trace_fn"]
        else:
            ks += ["softmax_axis", "tri", "transpose_fn"]
        if r != 1:
            ks += ["solve"]
        if c == 1 and r != 1:
            ks += ["axis2", "eigvals", "svdvals"]
        if r == 1 and c != 1:
            ks += ["axis1"]
        if r != 1 and c != 1:
            ks += ["sylvester"]
            if SIZES[r] >= SIZES[c]:
                ks += ["svd_u", "qr_q"]
        if sq:
            ks += ["chol", "sqrtm", "expm", "expm_frechet", "expm_frechet2", "eigvecs_d",
                   "gapinv", "svd_v", "qr_r", "inverse_spelled"]
        return ks

    def expr(self, shape, depth):
        """A third of the nodes from ``extra``, a sixth from ``matrix_kinds`` (a group of
        its own, so that adding to one group does not dilute the other), the rest Gen's."""
        if depth > 0:
            group = self.draw(st.integers(0, 5))
            if group <= 2:
                kinds = self.extra(shape) if group <= 1 else self.matrix_kinds(shape)
                kind = self.draw(st.sampled_from(kinds))
                return getattr(self, "x_" + kind)(shape, depth - 1)
        return super().expr(shape, depth)

    def dim(self, shape):
        """A dim of this shape (or any), used as a scalar."""
        ds = [x for x in shape if x != 1]
        return self.draw(st.sampled_from(ds or list(DIMS)))

    # the extensions, one per kind
    def x_log(self, s, d):
        return f"log(1 + ({self.expr(s, d)}).^2)"

    def x_relu(self, s, d):
        return f"relu({self.expr(s, d)})"

    def x_abs(self, s, d):
        return f"abs({self.expr(s, d)})"

    def x_stepmul(self, s, d):
        return f"(step({self.expr(s, d)}) .* {self.expr(s, d)})"

    def x_signmul(self, s, d):
        return f"(sign({self.expr(s, d)}) .* {self.expr(s, d)})"

    def x_neg(self, s, d):
        return f"(-{self.expr(s, d)})"

    def x_number(self, s, d):
        return f"({self.draw(st.sampled_from(NUMBERS))} {self.expr(s, d)})"

    def x_star(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        return f"({self.expr((s[0], k), d)} * {self.expr((k, s[1]), d)})"

    def x_atsign(self, s, d):
        return f"({self.expr(s, d)} @ {self.expr(s, d)})"

    def x_normplain(self, s, d):
        return f"(norm({self.expr(self.shape(), d)}) {self.expr(s, d)})"

    def x_epowf(self, s, d):
        return f"(1 + ({self.expr(s, d)}).^2).^{self.draw(st.sampled_from(('0.5', '1.5')))}"

    def x_epowneg(self, s, d):
        return f"(1 + ({self.expr(s, d)}).^2).^-{self.draw(st.sampled_from(('1', '2', '1.5')))}"

    def x_epowvar(self, s, d):
        return f"(2 + tanh({self.expr(s, d)})).^(1 + {self.expr((1, 1), d)}^2)"

    def x_ufunc2(self, s, d):
        return f"wig({self.expr(s, d)})"

    def x_softplus(self, s, d):
        return f"softplus({self.expr(s, d)})"

    def x_bscalar(self, s, d):
        return f"({self.expr(s, d)} + {self.expr((1, 1), d)})"

    def x_bhad(self, s, d):
        return f"({self.expr((1, 1), d)} .* {self.expr(s, d)})"

    def x_hdivb(self, s, d):
        return f"({self.expr(s, d)} ./ (2 + tanh({self.expr((1, 1), d)})))"

    def x_ones(self, s, d):
        r, c = s
        o = f"ones({r})" if c == 1 else f"ones({r}, {c})" if r != 1 else f"ones({c})^T"
        return f"({self.expr(s, d)} - {o})"

    def x_zeros(self, s, d):
        return f"({self.expr(s, d)} + zeros({s[0]}, {s[1]}))"

    def x_dimscale(self, s, d):
        k = self.dim(s)
        return self.draw(st.sampled_from((f"({self.expr(s, d)} / {k})", f"({k} {self.expr(s, d)})")))

    def x_brow(self, s, d):
        return f"({self.expr(s, d)} + {self.expr((1, s[1]), d)})"

    def x_bcol(self, s, d):
        return f"({self.expr(s, d)} - {self.expr((s[0], 1), d)})"

    def x_unvecvec(self, s, d):
        return f"unvec(vec({self.expr(s, d)}), {s[0]})"

    def x_commut(self, s, d):
        r, c = s
        return f"unvec(commutation({c}, {r}) vec({self.expr((c, r), d)}), {r})"

    def x_kronvec(self, s, d):
        r, c = s
        return f"unvec(kron({self.expr((c, 1), d)}, {self.expr((r, 1), d)}), {r})"

    def x_pinvrect(self, s, d):
        r, c = s
        return f"pinv({self.var((c, r))} + 0.3 tanh({self.expr((c, r), d)}))"

    def x_invT(self, s, d):
        return f"(4 eye({s[0]}) + tanh({self.expr(s, d)}))^-T"

    def x_inverse_fn(self, s, d):
        return f"inv(4 I + tanh({self.expr(s, d)}))"

    def x_eyeplain(self, s, d):
        return f"({self.expr(s, d)} + I)"

    def x_mpow3(self, s, d):
        return f"(0.5 tanh({self.expr(s, d)}))^3"

    def x_prime(self, s, d):
        return f"({self.expr(s, d)})'"

    def x_softmax(self, s, d):
        return f"softmax({self.expr(s, d)})"

    def x_norm1(self, s, d):
        return f"norm1({self.expr(self.shape(), d)})"

    def x_specnorm(self, s, d):
        return f"specnorm({self.expr(self.shape(), d)})"

    def x_nuclear(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        return f"nuclear({self.var((k, k))} + 0.3 tanh({self.expr((k, k), d)}))"

    def x_lmin(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        e = self.expr((k, k), d)
        return f"lambda_min({e} + ({e})^T)"

    def x_logdet_spd(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        return f"(logdet({self.var((k, k), 'spd')}) + {self.expr(s, d)})"

    def x_trkron(self, s, d):
        k, j = self.draw(st.sampled_from(DIMS)), self.draw(st.sampled_from(DIMS))
        return f"tr(kron({self.expr((k, k), d)}, {self.expr((j, j), d)}))"

    def x_dimscalar(self, s, d):
        return f"({self.dim(s)} {self.expr(s, d)})"

    def x_vecdot(self, s, d):
        sh = self.shape()
        return f"(vec({self.expr(sh, d)})^T vec({self.expr(sh, d)}))"

    def x_ones_sum(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        return f"(ones({k})^T {self.expr((k, 1), d)})"

    def x_eigvecs(self, s, d):
        e = self.expr(s, d)
        S = f"({e} + ({e})^T)"   # sign-free: v vᵀ
        return f"(eigvec_max({S}) eigvec_max({S})^T - eigvec_min({S}) eigvec_min({S})^T)"

    def x_polar(self, s, d):
        return f"polar({self.var(s)} + 0.3 tanh({self.expr(s, d)}))"

    def x_svdvecs(self, s, d):
        e = f"({self.var(s)} + 0.3 tanh({self.expr(s, d)}))"
        return f"(svd_u1({e}) svd_v1({e})^T)"

    # arguments in the domains of the matrix functions: generic (distinct eigenvalues and
    # singular values, full rank) by a random structured variable plus a bounded perturbation
    def spd_arg(self, k, d):
        """Symmetric positive definite, k×k (1 + x² where k is 1)."""
        if k == 1:
            return f"(1 + ({self.expr((1, 1), d)})^2)"
        S = self.var((k, k), "spd")
        if self.draw(st.integers(0, 2)) == 0:
            return S
        j = self.draw(st.sampled_from(DIMS))
        t = f"tanh({self.expr((j, k), d)})"
        return f"({S} + 0.1 ({t})^T {t})"

    def sym_arg(self, k, d):
        """Symmetric with distinct eigenvalues (almost surely)."""
        S = self.var((k, k), self.draw(st.sampled_from(("sym", "spd"))))
        if self.draw(st.integers(0, 2)) == 0:
            return S
        e = self.expr((k, k), d)
        return f"({S} + 0.3 tanh({e} + ({e})^T))"

    def tall_arg(self, rows, cols, d):
        """rows×cols of full column rank with distinct singular values (almost surely)."""
        return f"({self.var((rows, cols))} + 0.3 tanh({self.expr((rows, cols), d)}))"

    def rows_for(self, cols):
        return self.draw(st.sampled_from([k for k in DIMS if SIZES[k] >= SIZES.get(cols, 1)]))

    def x_maxmin(self, s, d):   # a tie is measure zero: the sides differ by a constant
        f = self.draw(st.sampled_from(("max", "min")))
        r, c = s
        other = self.draw(st.sampled_from([s, (1, 1)] + ([(1, c), (r, 1)] if r != 1 and c != 1
                                                         else [])))
        a, b = self.expr(s, d), f"({self.expr(other, d)} + 0.3183)"
        return f"{f}({a}, {b})" if self.draw(st.booleans()) else f"{f}({b}, {a})"

    def x_mean(self, s, d):
        return f"mean({self.expr(self.shape(), d)})"

    def x_axis0(self, s, d):
        f = self.draw(st.sampled_from(("sum", "mean", "logsumexp")))
        k = self.draw(st.sampled_from(DIMS))
        return f"{f}({self.expr((k, 1), d)}, 1)" if self.draw(st.booleans()) else \
            f"{f}({self.expr((1, k), d)}, 2)"

    def x_axis1(self, s, d):
        f = self.draw(st.sampled_from(("sum", "mean", "logsumexp")))
        return f"{f}({self.expr((self.draw(st.sampled_from(DIMS)), s[1]), d)}, 1)"

    def x_axis2(self, s, d):
        f = self.draw(st.sampled_from(("sum", "mean", "logsumexp")))
        return f"{f}({self.expr((s[0], self.draw(st.sampled_from(DIMS))), d)}, 2)"

    def x_softmax_axis(self, s, d):
        return f"softmax({self.expr(s, d)}, {self.draw(st.sampled_from(('1', '2')))})"

    def x_tri(self, s, d):
        f = self.draw(st.sampled_from(("tril", "triu")))
        k = self.draw(st.sampled_from(("", "0", "1", "-1", "2", "-2")))
        return f"{f}({self.expr(s, d)}{', ' + k if k else ''})"

    def x_trace_fn(self, s, d):
        k = self.draw(st.sampled_from(DIMS))
        return f"trace({self.expr((k, k), d)})"

    def x_transpose_fn(self, s, d):
        return f"transpose({self.expr((s[1], s[0]), d)})"

    def x_inverse_spelled(self, s, d):
        return f"inverse(4 I + tanh({self.expr(s, d)}))"

    def x_solve(self, s, d):
        r = s[0]
        A = f"(4 eye({r}) + tanh({self.expr((r, r), d)}))" if self.draw(st.booleans()) else \
            self.spd_arg(r, d)
        return f"solve({A}, {self.expr(s, d)})"

    def x_sylvester(self, s, d):
        r, c = s
        return f"sylvester({self.spd_arg(r, d)}, {self.spd_arg(c, d)}, {self.expr(s, d)})"

    def x_chol(self, s, d):
        return f"chol({self.spd_arg(s[0], d)})"

    def x_sqrtm(self, s, d):
        return f"sqrtm({self.spd_arg(s[0], d)})"

    def x_expm(self, s, d):
        return f"expm(0.5 tanh({self.expr(s, d)}))"

    def x_expm_frechet(self, s, d):
        return f"expm_frechet(0.5 tanh({self.expr(s, d)}), {self.expr(s, d)})"

    def _frechet_point(self, s, d):
        """expm_frechet2 has no derivative in its first argument: a constant point where
        derivatives are taken, any point for values."""
        k = s[0]
        if self.value_only:
            return f"0.5 tanh({self.expr(s, d)})"
        return self.draw(st.sampled_from((f"eye({k}) + 0.3 ones({k}, {k})",
                                          f"0.2 ones({k}, {k}) - 0.5 eye({k})")))

    def x_expm_frechet2(self, s, d):
        return f"expm_frechet2({self._frechet_point(s, d)}, {self.expr(s, d)}, {self.expr(s, d)})"

    def x_eigvals(self, s, d):
        return f"eigvals({self.sym_arg(s[0], d)})"

    def x_eigvecs_d(self, s, d):
        return f"eigvecs({self.sym_arg(s[0], d)})"

    def x_gapinv(self, s, d):   # distinct entries: a random vector, bounded apart
        k = s[0]
        v = self.draw(st.sampled_from(("vec", "eig")))
        if v == "eig":
            return f"gapinv(eigvals({self.sym_arg(k, d)}))"
        return f"gapinv({self.var((k, 1))} + 0.1 tanh({self.expr((k, 1), d)}))"

    def x_svdvals(self, s, d):
        k = s[0]
        return f"svdvals({self.tall_arg(self.rows_for(k), k, d)})"

    def x_svd_u(self, s, d):
        return f"svd_u({self.tall_arg(s[0], s[1], d)})"

    def x_qr_q(self, s, d):
        return f"qr_q({self.tall_arg(s[0], s[1], d)})"

    def x_svd_v(self, s, d):
        k = s[0]
        return f"svd_v({self.tall_arg(self.rows_for(k), k, d)})"

    def x_qr_r(self, s, d):
        k = s[0]
        return f"qr_r({self.tall_arg(self.rows_for(k), k, d)})"

    def program(self, text):
        decls = []
        dims_seen = set()
        for name, (r, c) in self.decls.items():
            dims_seen |= {r, c} - {1}
            attr = f" {self.attrs[name]}" if name in self.attrs else ""
            if (r, c) == (1, 1):
                decls.append(f"{name}: scalar")
            elif c == 1:
                decls.append(f"{name}: {r}")
            else:
                decls.append(f"{name}: {r} x {c}{attr}")
        # a dim used as a scalar must be a dim: declare a vector of it when nothing else does
        for k in DIMS:
            if k not in dims_seen and any(tok == k for tok in _words(text)):
                decls.append(f"w{k}: {k}")
        return "; ".join(list(FUNCS) + decls + [text])


SHAPES = [(r, c) for r in DIMS + (1,) for c in DIMS + (1,)]
MATRIX_KINDS = sorted({k for s in SHAPES for k in WideGen.matrix_kinds(None, s)})


def _words(text):
    import re
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?!\()", text)


@st.composite
def wide_programs(draw, scalar=False, depth=4, value_only=False, matrix_top=False):
    """(program, shape of its expression); ``matrix_top``: the expression is one of the
    matrix functions' kinds (``WideGen.matrix_kinds``), made a scalar by sum(W .* …) where
    ``scalar`` asks for one."""
    g = WideGen(draw, value_only)
    if matrix_top:   # the kind first (each as likely), then a shape it makes
        kind = draw(st.sampled_from(MATRIX_KINDS))
        shape = draw(st.sampled_from([s for s in SHAPES if kind in g.matrix_kinds(s)]))
        text = getattr(g, "x_" + kind)(shape, depth - 1)
        if scalar and shape != (1, 1):
            text = f"sum({g.var(shape)} .* {text})"
            shape = (1, 1)
        return g.program(text), shape
    shape = (1, 1) if scalar else g.shape()
    return g.program(g.expr(shape, depth)), shape


# -- values ------------------------------------------------------------------------------------
def shape2(node, sizes=SIZES):
    def one(dd):
        out = dd.coef
        for f in dd.factors:
            out *= sizes[f]
        return out
    return one(node.shape[0]), one(node.shape[1])


def random_env(prog, seed, sizes=SIZES):
    """2-D arrays for every variable, respecting sym/spd/diag."""
    rng = np.random.default_rng(seed)
    env = {}
    for name, v in prog.variables.items():
        r, c = shape2(v, sizes)
        g = rng.standard_normal((r, c)) * 0.5
        attrs = v.params[1]
        if "spd" in attrs:
            g = g @ g.T / r + np.eye(r)
        elif "sym" in attrs:
            g = (g + g.T) / 2
        elif "diag" in attrs:
            g = np.diag(np.diag(g))
        env[name] = g
    return env


def spd_of(prog):
    return frozenset(n for n, v in prog.variables.items() if "spd" in v.params[1])


def value_of(prog, node, env, sizes=SIZES):
    return np.asarray(evaluate(node, env, sizes, spd=spd_of(prog)))


def user(a, node, sizes=SIZES):
    """A 2-D value in DESIGN §2's shapes (scalar 0-d, vector 1-d)."""
    r, c = node.shape
    if r.is_one and c.is_one:
        return a.reshape(())
    if c.is_one:
        return a.reshape(-1)
    return a


def declarations(prog) -> str:
    """The declarations and user functions of a program, as matd text (the reader's context
    for formats that are not programs: unicode and LaTeX)."""
    lines = []
    text = program_to_matd(prog).splitlines()
    for ln in text:
        if ":" in ln.split("=")[0] or "(" in ln.split("=")[0] and "=" in ln:
            lines.append(ln)
    return "\n".join(lines)


def run_numpy(src: str, fname: str, env2: dict, variables: dict):
    ns: dict = {}
    exec(compile(src, "<matd numpy>", "exec"), ns)
    fn = ns[fname]
    sig = inspect.signature(fn).parameters
    args = {p: user(env2[p], variables[p]) for p, v in sig.items()
            if v.kind is not inspect.Parameter.KEYWORD_ONLY}
    # dims that no argument's shape carries are keyword arguments (sizes)
    args.update({p: SIZES[p] for p, v in sig.items() if v.kind is inspect.Parameter.KEYWORD_ONLY})
    return fn(**args)


TOL = 1e-7


def close(got, want) -> bool:
    got, want = np.asarray(got, float), np.asarray(want, float)
    return got.shape == want.shape and rel_error(got, want) < TOL


# -- the round trips ---------------------------------------------------------------------------
def roundtrips(src: str, seed: int = 0):
    """[(format, printed text, problem)] for every printer where print -> read -> evaluate
    does not give the original's value (problem: an exception or the two values)."""
    prog = parse_program(src)
    f = prog.result
    env = random_env(prog, seed)
    try:
        want = value_of(prog, f, env)
    except NumericError:   # the random program overflows: not a printing question
        return None
    bad = []

    def check(fmt, printed, program_text):
        try:
            p2 = parse_program(program_text)
            got = value_of(p2, p2.result, {k: env[k] for k in p2.variables if k in env})
        except Exception as e:  # noqa: BLE001 - the failure is the finding
            bad.append((fmt, printed, f"{type(e).__name__}: {e}"))
            return
        if not close(got, want):
            bad.append((fmt, printed, f"value {got.ravel()[:4]} != {want.ravel()[:4]}"))

    whole = program_to_matd(prog)
    check("program_to_matd", whole, whole)
    decls = declarations(prog)
    m = to_matd(f)
    check("to_matd", m, decls + "\n" + m)
    u = to_unicode(f)
    try:
        check("to_unicode", u, decls + "\n" + unicode_to_matd(u))
    except Exception as e:  # noqa: BLE001
        bad.append(("to_unicode", u, f"reader: {type(e).__name__}: {e}"))
    tex = to_latex(f)
    try:
        check("to_latex", tex, decls + "\n" + latex_to_matd(tex))
    except Exception as e:  # noqa: BLE001
        bad.append(("to_latex", tex, f"reader: {type(e).__name__}: {e}"))
    py = ""
    try:
        py = numpy_function("f", prog.variables, [("value", f)])
        got = np.asarray(run_numpy(py, "f", env, prog.variables), float)
        if not close(got, user(want, f)):
            bad.append(("numpy", py, f"value {got.ravel()[:4]} != {want.ravel()[:4]}"))
    except Exception as e:  # noqa: BLE001
        bad.append(("numpy", py, f"{type(e).__name__}: {e}"))
    return bad


# derandomized, and unshrunk: failures are expected while known bugs are open, and
# shrinking them would cost the default suite minutes
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _assert_roundtrips(case):
    src, _ = case
    bad = roundtrips(src)
    assume(bad is not None)
    assert not bad, "\n".join([src] + [f"[{fmt}] {p!r}\n    -> {why}" for fmt, p, why in bad])


@settings(max_examples=100, **SETTINGS)
@given(wide_programs(value_only=True))
def test_print_read_evaluate_keeps_the_value(case):
    _assert_roundtrips(case)


@settings(max_examples=30, **SETTINGS)
@given(wide_programs(scalar=True, depth=5, value_only=True))
def test_print_read_evaluate_keeps_the_value_deep_scalars(case):
    _assert_roundtrips(case)


@pytest.mark.slow
@settings(max_examples=3000, **SETTINGS)
@given(wide_programs(value_only=True, depth=5))
def test_print_read_evaluate_many(case):
    _assert_roundtrips(case)


@settings(max_examples=60, **SETTINGS)
@given(wide_programs(value_only=True, depth=4, matrix_top=True))
def test_print_read_evaluate_matrix_functions(case):
    """Programs around one of the batch, extreme, triangle and matrix-function rows."""
    _assert_roundtrips(case)


@pytest.mark.slow
@settings(max_examples=1500, **SETTINGS)
@given(wide_programs(value_only=True, depth=5, matrix_top=True))
def test_print_read_evaluate_matrix_functions_many(case):
    _assert_roundtrips(case)


def test_generator_reaches_every_primitive():
    """The generator covers the table (a new row must be added to WideGen): its programs,
    and its programs around a matrix function (every kind of ``matrix_kinds`` at the top)."""
    seen: set = set()

    def collect(case):
        prog = parse_program(case[0])
        seen.update(n.op for n in walk(prog.result))
        for uf in prog.functions.values():
            seen.update(n.op for n in walk(uf.body))
    settings(max_examples=400, **SETTINGS)(given(wide_programs(value_only=True, depth=4))(
        collect))()
    settings(max_examples=400, **SETTINGS)(given(wide_programs(
        value_only=True, depth=4, matrix_top=True))(collect))()
    missing = set(PRIMS) - seen - NOT_IN_PROGRAMS
    assert not missing, f"never generated: {sorted(missing)}"


@pytest.mark.parametrize("src", [
    # constructs each printer must get right, written out
    "x: n; A: m x n; norm1(A x) + norm(x) + specnorm(A) + nuclear(A) + sum(abs(A))",
    "S: n x n sym; x: n; lambda_max(S) + lambda_min(S) + dot(x, softmax(x))",
    "X: n x n; B: n x n; tr(X^-T B) + tr(pinv(X) B) + tr(X^3 B) + det(X) + logdet(X)",
    "X: m x n; c: scalar; sum(sqrt(1 + X.^2)) + c^2.5 + sigmoid(c) + sum(X ./ (2 + X.^2))",
    "A: m x n; B: p x p; sum(kron(A, B)) + sum(unvec(vec(A), m))",
    # the batch, extreme and triangle rows, every axis and offset form
    "X: m x n; a: n; b: m; sum(X, 1) a + b^T sum(X .* X, 2) + mean(X) + mean(X, 1) a"
    " + b^T mean(X, 2) + sum(logsumexp(X, 1)) + sum(logsumexp(X, 2))",
    "Z: m x n; C: m x n; sum(C .* softmax(Z, 2)) + sum(C .* softmax(Z, 1))",
    "X: m x n; Y: m x n; c: scalar; r: n; sum(max(X, Y)) + sum(min(X, c)) + sum(max(r^T, X))"
    " + sum(min(0.5, Y))",
    "X: p x n; C: p x n; sum(C .* tril(X)) + sum(C .* tril(X, -1)) + sum(C .* triu(X, 1))"
    " + sum(C .* triu(X, -2)) + sum(C .* tril(X, 2))",
    # the matrix functions, in their domains
    "S: n x n spd; C: n x n; sum(C .* chol(S)) + tr(C sqrtm(S)) + logdet(chol(S))",
    "A: n x n; E: n x n; F: n x n; C: n x n; tr(C^T expm(0.5 A)) + tr(C expm_frechet(0.3 A, E))"
    " + tr(C expm_frechet2(0.3 A, E, F))",
    "S: n x n spd; T: m x m spd; B: n x m; C: n x m; sum(C .* sylvester(S, T, B))"
    " + sum(C .* solve(4 eye(n) + tanh(B B^T), B))",
    "S: n x n sym; C: n x n; c: n; c^T eigvals(S) + sum(C .* eigvecs(S)) + sum(C .* gapinv(c))",
    "X: p x n; C: p x n; D: n x n; c: n; c^T svdvals(X) + sum(C .* svd_u(X)) + sum(D .* svd_v(X))"
    " + sum(C .* qr_q(X)) + sum(D .* qr_r(X))",
    "X: n x n; y: n; trace(transpose(X) inverse(4 I + tanh(X))) + y^T transpose(X) y",
])
def test_handwritten_roundtrips(src):
    bad = roundtrips(src)
    assert not bad, bad
