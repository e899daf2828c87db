"""Elaboration: surface statements -> a typed ``Program`` of interned IR.

Shapes are inferred by unification over symbolic dims (``matd.core.shapes``).
Undeclared names start with unknown shapes; where a meaning depends on a shape
inference has not fixed yet (is ``a b`` a scaling or a matrix product? does
``+`` broadcast?), the matrixcalculus.org naming rule settles the unknowns of
the operands: a–g scalars, h–z vectors, A–Z (and the rest) matrices.
Declarations are checked, never overridden.

>>> from matd.grammar.parse import parse_program
>>> p = parse_program("tr(A^T X B)")
>>> {k: str(v.shape[0]) + "x" + str(v.shape[1]) for k, v in p.variables.items()}
{'A': 'axb', 'X': 'axc', 'B': 'cxb'}
"""
from __future__ import annotations

from typing import NamedTuple

from matd.core.errors import MatdError, ShapeError, Span
from matd.core.expr import Node
from matd.core.primitives import FUNCTIONS, PRIMS, ShapeFail
from matd.core.shapes import ONE, SCALAR, Clash, Dim, Unifier, shape_str
from matd.core.syntax import Decl, Define, ExprStmt, FunDef, Source, Syn

ATTRIBUTES = ("sym", "spd", "diag", "orth", "simplex")
SPECIAL_FORMS = ("ones", "zeros", "eye", "vector", "matrix", "commutation", "unvec")


class UserFunc(NamedTuple):
    """A user elementwise function of scalars: ``name(params) = body``."""

    name: str
    params: tuple[str, ...]
    body: Node

    def __repr__(self) -> str:
        return f"UserFunc({self.name})"


class Statement:
    __slots__ = ("kind", "name", "node", "span")

    def __init__(self, kind: str, name: str | None, node: Node | None, span: Span):
        self.kind = kind        # decl | define | fundef | expr
        self.name, self.node, self.span = name, node, span


class Program:
    """A typed program: its variables, definitions, functions and statements.

    >>> from matd.grammar.parse import parse_program
    >>> sorted(parse_program("A: 1 x 1; c: 1; B: 1 x n; tr(A) + c").one_by_one)
    ['A']
    """

    def __init__(self, source: Source, variables: dict, declared: dict, dims: dict,
                 definitions: dict, functions: dict, statements: list,
                 spans: dict | None = None, errors: list | None = None,
                 one_by_one: frozenset = frozenset()):
        self.source = source
        self.variables: dict[str, Node] = variables     # in order of appearance
        self.declared: dict[str, Span] = declared       # the declared ones
        self.dims: dict[str, Dim] = dims                # declared and inferred
        self.definitions: dict[str, Node] = definitions
        self.functions: dict[str, UserFunc] = functions
        self.statements: list[Statement] = statements
        self.spans: dict[Node, list[Span]] = spans or {}
        self.errors: list[MatdError] = errors or []
        # The IR types a 1×1 as a scalar; these are the variables declared with two sizes
        # that are both 1 (A: 1 x 1): matrices, whose values and derivatives by them stay
        # 2-d arrays (DESIGN §2).
        self.one_by_one = one_by_one

    @property
    def result(self) -> Node | None:
        """The last expression statement (what diff/eval/grad act on)."""
        for st in reversed(self.statements):
            if st.kind == "expr":
                return st.node
        return None

    def attrs(self, name: str) -> tuple[str, ...]:
        return self.variables[name].params[1]


AXIS_FORMS = {"sum": "sum_axis", "mean": "mean_axis", "logsumexp": "logsumexp_axis",
              "softmax": "softmax_axis"}   # f(X, k): along MATLAB dimension k


# Names other libraries use, and what matd calls them.
ELSEWHERE = {"cholesky": "chol(S)", "eig": "eigvals(S) and eigvecs(S)",
             "eigh": "eigvals(S) and eigvecs(S)", "eigvalsh": "eigvals(S)",
             "qr": "qr_q(X) and qr_r(X)", "svd": "svdvals(X), svd_u(X) and svd_v(X)",
             "sylv": "sylvester(A, B, C)", "solve_sylvester": "sylvester(A, B, C)",
             "maximum": "max(A, B)", "minimum": "min(A, B)", "average": "mean(X)",
             "matrix_power": "X^k", "frobenius": "norm(X)", "outer": "x y^T",
             "hadamard": "A .* B", "kronecker": "kron(A, B)", "logistic": "sigmoid(x)"}


def unknown_function_hint(fn: str, user: set = frozenset()) -> str:
    """A did-you-mean that stays within a family of functions: a matrix function is not
    proposed for an elementwise one or the other way round (expm is not exp, sqrtm not
    sqrt), and special forms are never proposed (max is not matrix); always says where the
    list is.

    >>> print(unknown_function_hint("logm"))
    matd has no 'logm'; matrix functions: chol, expm, sqrtm, solve, inv, ... (see `matd functions` for the list)
    >>> unknown_function_hint("sofmax")
    "did you mean 'softmax'? (see `matd functions` for the list)"
    """
    from matd.core.primitives import family
    where = "see `matd functions` for the list"
    if fn.lower() in ELSEWHERE:
        return f"matd writes it {ELSEWHERE[fn.lower()]} ({where})"
    want = family(fn)
    pool = [f for f in FUNCTIONS if want is None or family(f) == want] + sorted(user)
    import difflib
    close = difflib.get_close_matches(fn, pool, n=1, cutoff=0.75)
    if close:
        return f"did you mean '{close[0]}'? ({where})"
    if want == "matrix function":
        return (f"matd has no '{fn}'; matrix functions: chol, expm, sqrtm, solve, inv, ... "
                f"({where})")
    return where


def kind_of(name: str) -> str:
    """The matrixcalculus.org naming rule: a–g scalar, h–z vector, else matrix."""
    c = name[0]
    if "a" <= c <= "g" or "\u03b1" <= c <= "\u03c9":
        return "scalar"
    if "h" <= c <= "z":
        return "vector"
    return "matrix"


class _Var:
    __slots__ = ("name", "shape", "node", "span", "attrs", "decl")

    def __init__(self, name, shape, node, span, attrs=(), decl=None):
        self.name, self.shape, self.node, self.span = name, shape, node, span
        self.attrs: tuple[str, ...] = attrs
        self.decl: Span | None = decl


class _Elab:
    def __init__(self, source: Source, collect: bool):
        self.source = source
        self.collect = collect
        self.u = Unifier()
        self.vars: dict[str, _Var] = {}
        self.dims: dict[str, Span] = {}
        self.defs: dict[str, tuple[Node, Span]] = {}
        self.funcs: dict[str, tuple[UserFunc, Span]] = {}
        self.poisoned: set[str] = set()
        self.scope: dict[str, Node] | None = None  # parameters inside a function body
        self.stmts: list[Statement] = []
        self.spans: dict[Node, list[Span]] = {}
        self.errors: list[MatdError] = []

    # -- helpers -----------------------------------------------------------
    def show(self, s) -> str:
        return shape_str(self.u.resolve_shape(s))

    def note(self, node: Node, span: Span) -> Node:
        self.spans.setdefault(node, []).append(span)
        return node

    def make(self, op: str, args: tuple, syns: tuple, params=(), span=None) -> Node:
        """Apply a primitive's shape rule and build the node, mapping failures to spans."""
        try:
            shape = PRIMS[op].shape(self.u, [a.shape for a in args], params)
        except ShapeFail as f:
            spans = [syns[i].span for i in f.culprits if i < len(syns)] or [span]
            err = ShapeError if len(spans) > 1 else MatdError
            raise err(f.message, spans[0], f.hint, spans[1] if len(spans) > 1 else None) from None
        return Node.make(op, args, params, shape)

    def taken(self, name: str) -> str | None:
        if name in self.vars:
            return "a variable"
        if name in self.defs:
            return "a definition"
        if name in self.funcs:
            return "a function"
        if name in self.dims:
            return "a dimension"
        return None

    def first_span(self, name: str) -> Span | None:
        if name in self.vars:
            return self.vars[name].decl or self.vars[name].span
        for table in (self.defs, self.funcs):
            if name in table:
                return table[name][1]
        return self.dims.get(name)

    # -- statements ------------------------------------------------------------
    def statement(self, st) -> None:
        if isinstance(st, Decl):
            self.declare(st)
            self.stmts.append(Statement("decl", None, None, st.span))
        elif isinstance(st, Define):
            self.check_free(st.name, st.name_span, "define")
            try:
                node = self.expr(st.expr)
            except MatdError:
                self.poisoned.add(st.name)
                raise
            self.defs[st.name] = (node, st.name_span)
            self.stmts.append(Statement("define", st.name, node, st.span))
        elif isinstance(st, FunDef):
            self.fundef(st)
            self.stmts.append(Statement("fundef", st.name, None, st.span))
        else:
            assert isinstance(st, ExprStmt)
            self.stmts.append(Statement("expr", None, self.expr(st.expr), st.span))

    def check_free(self, name: str, span: Span, verb: str) -> None:
        what = self.taken(name)
        if what:
            raise MatdError(f"cannot {verb} '{name}': it is already {what}", span,
                            "each name has one meaning in a program",
                            self.first_span(name), "first here")
        if name in FUNCTIONS or name in SPECIAL_FORMS:
            raise MatdError(f"cannot {verb} '{name}': it is a built-in function", span,
                            "choose another name")

    def declare(self, d: Decl) -> None:
        dims = []
        for ds in d.dims:
            dim = Dim.const(1)
            for v in ds.value if isinstance(ds.value, tuple) else (ds.value,):
                if isinstance(v, int):
                    if v < 1:
                        raise MatdError("a dimension must be a positive size", ds.span)
                    dim = dim * Dim.const(v)
                    continue
                what = self.taken(v)
                if what and what != "a dimension":
                    raise MatdError(f"'{v}' is {what}, not a dimension", ds.span,
                                    "dimension names and variable names must differ",
                                    self.first_span(v), "first here")
                self.dims.setdefault(v, ds.span)
                dim = dim * Dim.sym(v)
            dims.append(dim)
        shape = (dims + [ONE, ONE])[:2] if len(dims) < 2 else tuple(dims)
        shape = tuple(shape)
        attrs = []
        for a, sp in d.attrs:
            if a in attrs:
                continue
            if a == "orth":   # orthonormal columns, QᵀQ = I: square, or n x p (Stiefel)
                r, c = shape
                if r.factors == c.factors and r.coef < c.coef:   # surely wide (2 x 3)
                    raise MatdError(f"'orth' (QᵀQ = I) needs at least as many rows as "
                                    f"columns, got {shape_str(shape)}", sp,
                                    f"declare its transpose: {c.matd()} x {r.matd()} orth")
                attrs.append(a)
                continue
            if a == "simplex":   # entries (a vector) or each row (a matrix) sum to 1
                attrs.append(a)
                continue
            if shape[0] != shape[1]:
                raise MatdError(f"'{a}' needs a square matrix, got {shape_str(shape)}", sp,
                                f"declare it n x n {a}")
            attrs.append(a)
        for name, sp in d.names:
            if name in FUNCTIONS or name in SPECIAL_FORMS:
                raise MatdError(f"cannot declare '{name}': it is a built-in function", sp,
                                "choose another name")
            v = self.vars.get(name)
            if v is not None and v.decl is not None:
                raise MatdError(f"'{name}' is declared twice", sp,
                                "a declaration is checked, never overridden",
                                v.decl, "first declared here")
            if v is None:
                what = self.taken(name)
                if what:
                    raise MatdError(f"cannot declare '{name}': it is already {what}", sp,
                                    None, self.first_span(name), "first here")
                node = Node.make("var", (), (name,), shape)
                self.vars[name] = _Var(name, shape, node, sp, tuple(attrs), sp)
                continue
            try:  # used before its declaration: the inferred shape must agree
                self.u.unify_shape(v.shape, shape)
            except Clash:
                raise ShapeError(
                    f"'{name}' is declared {shape_str(shape)} but its use needs "
                    f"{self.show(v.shape)}", sp, "declare the shape the formula needs",
                    v.span, "used here") from None
            v.decl, v.attrs = sp, tuple(attrs)

    def fundef(self, f: FunDef) -> None:
        self.check_free(f.name, f.span, "define function")
        names = [p for p, _ in f.params]
        for p, sp in f.params:
            if names.count(p) > 1:
                raise MatdError(f"parameter '{p}' repeated", sp)
        self.scope = {p: Node.make("var", (), (p, ()), SCALAR) for p in names}
        try:
            body = self.expr(f.body)
        finally:
            self.scope = None
        if not body.is_scalar:
            raise MatdError(f"the body of {f.name} must be a scalar expression of its "
                            f"parameters, got {shape_str(body.shape)}", f.body.span,
                            "a user function is applied elementwise")
        uf = UserFunc(f.name, tuple(names), body)
        if len(names) == 1:
            from matd.core.userfunc import check_entrywise
            try:
                check_entrywise(uf)
            except MatdError as e:
                e.span = e.span or f.span
                raise
        self.funcs[f.name] = (uf, f.span)

    # -- expressions ---------------------------------------------------------------
    def expr(self, s: Syn) -> Node:
        if s.kind == "num":
            return self.note(Node.make("const", (), (s.value,), SCALAR), s.span)
        if s.kind == "name":
            return self.note(self.name(s), s.span)
        if s.kind == "call":
            return self.note(self.call(s), s.span)
        return self.note(getattr(self, "op_" + s.value)(s, *s.args), s.span)

    def name(self, s: Syn) -> Node:
        nm = s.value
        if self.scope is not None:
            if nm in self.scope:
                return self.scope[nm]
            raise MatdError(f"'{nm}' is not a parameter of this function", s.span,
                            "a user function's body may use only its parameters and numbers")
        if nm in self.defs:
            return self.defs[nm][0]
        if nm in self.vars:
            return self.vars[nm].node
        if nm in self.dims:
            return Node.make("dim", (), (Dim.sym(nm),), SCALAR)
        if nm in ("I", "eye"):
            n = self.u.fresh_dim()
            return Node.make("eye", (), (), (n, n))
        if nm in FUNCTIONS or nm in self.funcs:
            raise MatdError(f"'{nm}' is a function", s.span, f"call it: {nm}(...)")
        if nm in self.poisoned:  # its definition failed: do not cascade errors
            return Node.make("var", (), (nm,), (self.u.fresh_dim(), self.u.fresh_dim()))
        kind = kind_of(nm)
        r = self.u.fresh_dim(1 if kind == "scalar" else None, nm)
        c = self.u.fresh_dim(1 if kind in ("scalar", "vector") else None, nm)
        node = Node.make("var", (), (nm,), (r, c))
        self.vars[nm] = _Var(nm, (r, c), node, s.span)
        return node

    def dim_arg(self, s: Syn) -> Dim:
        if s.kind == "num" and isinstance(s.value, int) and s.value > 0:
            return Dim.const(s.value)
        if s.kind == "op" and s.value in ("star", "juxt"):   # eye(m*n)
            return self.dim_arg(s.args[0]) * self.dim_arg(s.args[1])
        if s.kind == "name":
            what = self.taken(s.value)
            if what and what != "a dimension":
                raise MatdError(f"'{s.value}' is {what}, not a dimension", s.span,
                                "ones, zeros and eye take sizes: ones(n), zeros(m, n), eye(3)")
            self.dims.setdefault(s.value, s.span)
            return Dim.sym(s.value)
        raise MatdError("expected a size (a dimension name or a positive integer)", s.span,
                        "ones, zeros and eye take sizes: ones(n), zeros(m, n), eye(3)")

    def special(self, s: Syn) -> Node:
        fn, args = s.value, s.args
        if fn == "unvec":
            return self.unvec(s)
        if fn in ("vector", "matrix"):
            if len(args) != 1:
                raise MatdError(f"{fn} takes 1 argument, got {len(args)}", s.span,
                                f"{fn}(1) is a {fn} of ones of the size the formula needs")
            r = self.u.fresh_dim()
            c = ONE if fn == "vector" else self.u.fresh_dim()
            ones = Node.make("ones", (), (), (r, c))
            val = self.expr(args[0])
            if val.op == "const" and val.params[0] == 1:
                return ones
            return self.make("smul", (val, ones), (args[0], s))
        if not (1 if fn != "commutation" else 2) <= len(args) <= (1 if fn == "eye" else 2):
            raise MatdError(f"wrong number of sizes for {fn}", s.span,
                            "ones(n), ones(m, n), zeros(m, n), eye(n), commutation(m, n)")
        dims = [self.dim_arg(a) for a in args]
        if fn == "commutation":
            mn = dims[0] * dims[1]
            return Node.make("commutation", (), (dims[0], dims[1]), (mn, mn))
        if fn == "eye":
            return Node.make("eye", (), (), (dims[0], dims[0]))
        shape = (dims[0], dims[1] if len(dims) > 1 else ONE)
        return Node.make(fn, (), (), shape)

    def unvec(self, s: Syn) -> Node:
        args = s.args
        if len(args) != 2:
            raise MatdError("unvec takes a vector and a row count: unvec(v, m)", s.span)
        v = self.expr(args[0])
        m = self.dim_arg(args[1])
        try:
            self.u.unify(v.shape[1], ONE)
        except Clash:
            raise MatdError(f"unvec needs a vector, got {self.show(v.shape)}",
                            args[0].span) from None
        rows = self.u.resolve(v.shape[0])
        n = rows.divide(m)
        if n is None:
            n = self.u.fresh_dim()
            try:
                self.u.unify(rows, m * n)
            except Clash:
                raise MatdError(f"unvec: {rows} rows are not a multiple of {m}",
                                args[0].span) from None
        return Node.make("unvec", (v,), (m,), (m, n))

    def call(self, s: Syn) -> Node:
        fn = s.value
        if fn in SPECIAL_FORMS:
            if self.scope is None:
                return self.special(s)
            # in a user function's body there are no sizes (x() = eye(), g(t) = unvec(t, 2)):
            # the primitive table's leaf rows must not be reached as calls
            raise MatdError(f"{fn}(...) cannot be used in a user function's body", s.span,
                            "a user function's body is a scalar expression of its parameters: "
                            "numbers, + - * / ^ and elementwise functions")
        if fn in self.funcs:
            uf = self.funcs[fn][0]
            if len(s.args) != len(uf.params):
                raise MatdError(f"{fn} takes {len(uf.params)} argument(s), got {len(s.args)}",
                                s.span)
            args = [self.expr(a) for a in s.args]
            if len(args) == 1:
                return Node.make("ufunc", (args[0],), (uf,), args[0].shape)
            raise MatdError("user functions of several arguments are not supported", s.span,
                            "define a function of one scalar, e.g. f(t) = log(1 + exp(t))")
        prim = FUNCTIONS.get(fn)
        if prim is None:
            hint = unknown_function_hint(fn, set(self.funcs))
            if fn in self.vars or fn in self.defs:
                hint = f"'{fn}' is not a function; for a product write '{fn} (...)' with a space"
            raise MatdError(f"unknown function '{fn}'", s.op_span or s.span, hint)
        if fn in AXIS_FORMS and len(s.args) == 2:
            k = self.axis_arg(s.args[1], fn)
            x = self.expr(s.args[0])
            self.u.settle(*x.shape)
            return self.make(AXIS_FORMS[fn], (x,), s.args[:1], (k,), s.span)
        if prim.op in ("tril", "triu") and len(s.args) in (1, 2):
            k = self.offset_arg(s.args[1], fn) if len(s.args) == 2 else 0
            return self.make(prim.op, (self.expr(s.args[0]),), s.args[:1], (k,), s.span)
        if prim.op in ("max", "min") and len(s.args) == 2:
            x, y = self.broadcast2(*self.both(*s.args), *s.args, fn)
            return self.make(prim.op, (x, y), s.args, span=s.span)
        if len(s.args) != prim.arity:
            if fn in AXIS_FORMS:
                raise MatdError(f"{fn} takes 1 or 2 arguments, got {len(s.args)}", s.span,
                                f"{fn}(X) of all entries, {fn}(X, 1) down the columns, "
                                f"{fn}(X, 2) across the rows")
            raise MatdError(f"{fn} takes {prim.arity} argument{'s' * (prim.arity != 1)}, "
                            f"got {len(s.args)}", s.span)
        args = tuple(self.expr(a) for a in s.args)
        if prim.op == "diag":
            self.u.settle(*args[0].shape)
        if prim.op == "inv" and self._is_scalar(args[0]):  # inv(c) = c^-1, as X^-1 reads
            return self.make("epow", (args[0], Node.make("const", (), (-1,), SCALAR)),
                             (s.args[0], s))
        return self.make(prim.op, args, s.args, span=s.span)

    def axis_arg(self, s: Syn, fn: str) -> int:
        """The dimension of an axis reduction: 1 (down the columns) or 2 (across the rows)."""
        if s.kind == "num" and s.value in (1, 2) and isinstance(s.value, int):
            return s.value
        what = ("normalizes each column", "each row") if fn == "softmax" else \
            ("works down the columns (a 1×n row)", "across the rows (an m×1 column)")
        raise MatdError(f"the dimension of {fn}(X, k) is 1 or 2", s.span,
                        f"{fn}(X, 1) {what[0]}, {fn}(X, 2) {what[1]}, as in MATLAB")

    def offset_arg(self, s: Syn, fn: str) -> int:
        """The diagonal of tril(M, k) / triu(M, k): an integer, 0 the main diagonal."""
        sign = 1
        if s.kind == "op" and s.value == "neg":
            sign, s = -1, s.args[0]
        if s.kind == "num" and isinstance(s.value, int):
            return sign * s.value
        raise MatdError(f"the diagonal of {fn}(M, k) is an integer", s.span,
                        f"{fn}(M) keeps the main diagonal, {fn}(M, -1) starts below it, "
                        f"{fn}(M, 1) above it")

    # -- operators ---------------------------------------------------------------------
    def both(self, a: Syn, b: Syn):
        return self.expr(a), self.expr(b)

    def broadcast2(self, x: Node, y: Node, sa: Syn, sb: Syn, what: str):
        """Line up the operands of an elementwise binary op (DESIGN §1 broadcasting)."""
        u = self.u
        u.settle(*x.shape, *y.shape)
        target, grow_x, grow_y = [], False, False
        for i in (0, 1):
            dx, dy = x.shape[i], y.shape[i]
            if u.is_one(dx) and u.is_nonunit(dy):
                grow_x = True
                target.append(dy)
            elif u.is_one(dy) and u.is_nonunit(dx):
                grow_y = True
                target.append(dx)
            else:
                try:
                    u.unify(dx, dy)
                except Clash:
                    raise ShapeError(
                        f"{what}: shapes {self.show(x.shape)} and {self.show(y.shape)} differ",
                        sa.span, "operands must have the same shape, or one is a scalar, "
                        "a row (1×k) or a column (m×1) to broadcast", sb.span) from None
                target.append(dx)
        if grow_x and grow_y and not (x.is_scalar or y.is_scalar):
            raise ShapeError(f"{what}: cannot broadcast {self.show(x.shape)} against "
                             f"{self.show(y.shape)}", sa.span,
                             "only a scalar, a row over rows or a column over columns "
                             "broadcasts", sb.span)
        target = tuple(target)
        if grow_x:
            x = self.note(Node.make("broadcast", (x,), (), target), sa.span)
        if grow_y:
            y = self.note(Node.make("broadcast", (y,), (), target), sb.span)
        return x, y

    def op_add(self, s, a, b):
        x, y = self.broadcast2(*self.both(a, b), a, b, "sum")
        return self.make("add", (x, y), (a, b))

    def op_sub(self, s, a, b):
        x, y = self.broadcast2(*self.both(a, b), a, b, "difference")
        return self.make("add", (x, self.note(Node.make("neg", (y,), (), y.shape), b.span)),
                         (a, b))

    def op_hadamard(self, s, a, b):
        x, y = self.broadcast2(*self.both(a, b), a, b, "Hadamard product")
        return self.make("hadamard", (x, y), (a, b))

    def op_hdiv(self, s, a, b):
        x, y = self.broadcast2(*self.both(a, b), a, b, "elementwise division")
        return self.make("hdiv", (x, y), (a, b))

    def product(self, x: Node, y: Node, a: Syn, b: Syn) -> Node:
        self.u.settle(*x.shape, *y.shape)
        if x.is_scalar or self.u.is_one(x.shape[0]) and self.u.is_one(x.shape[1]):
            return self.make("smul", (x, y), (a, b))
        if self.u.is_one(y.shape[0]) and self.u.is_one(y.shape[1]):
            return self.make("smul", (y, x), (b, a))
        return self.matmul(x, y, a, b)

    def matmul(self, x: Node, y: Node, a: Syn, b: Syn) -> Node:
        """x y, with scalars moved to the front: (c A) B = c (A B), A (c B) = c (A B)."""
        for i, f in enumerate((x, y)):
            if f.op == "smul" and not f.is_scalar:
                prod = self.matmul(f.args[1], y, a, b) if i == 0 else \
                    self.matmul(x, f.args[1], a, b)
                return Node.make("smul", (f.args[0], prod), (), prod.shape)
        return self.make("matmul", (x, y), (a, b))

    def op_juxt(self, s, a, b):
        return self.product(*self.both(a, b), a, b)

    op_star = op_juxt

    def op_matmul(self, s, a, b):
        return self.make("matmul", self.both(a, b), (a, b))

    def op_div(self, s, a, b):
        return self.make("div", self.both(a, b), (a, b))

    def op_kron(self, s, a, b):
        return self.make("kron", self.both(a, b), (a, b))

    def op_neg(self, s, a):
        x = self.expr(a)
        return Node.make("neg", (x,), (), x.shape)

    def op_transpose(self, s, a):
        return self.make("transpose", (self.expr(a),), (a,))

    def _is_scalar(self, x: Node) -> bool:
        self.u.settle(*x.shape)
        return self.u.is_one(x.shape[0]) and self.u.is_one(x.shape[1])

    def op_inverse(self, s, a):
        x = self.expr(a)
        if self._is_scalar(x):
            return self.make("epow", (x, Node.make("const", (), (-1,), SCALAR)), (a, s))
        return self.make("inv", (x,), (a,))

    def op_inverse_t(self, s, a):
        inv = self.note(self.op_inverse(s, a), s.span)
        return self.make("transpose", (inv,), (a,))

    def op_power(self, s, a, e):
        x = self.expr(a)
        if self._is_scalar(x):
            return self.make("epow", (x, self.expr(e)), (a, e))
        k = e.value if e.kind == "num" else None
        if not isinstance(k, int):
            raise MatdError(f"a matrix power needs an integer exponent; "
                            f"{self.source.text[a.span.start:a.span.end]} is "
                            f"{self.show(x.shape)}", e.span,
                            "for the elementwise power use .^")
        r, c = x.shape
        if self.u.is_one(c) or not self._square(x):
            raise MatdError(f"'^{k}' is a matrix power, which needs a square matrix or a "
                            f"scalar, but this is {self.show(x.shape)}", a.span,
                            "for the elementwise power use .^ "
                            f"(e.g. {self.source.text[a.span.start:a.span.end]}.^{k})")
        if k == 0:
            raise MatdError("X^0 is the identity", e.span, "write I")
        if k < 0:
            x = self.note(self.make("inv", (x,), (a,)), a.span)
        return self.make("mpow", (x,), (a,), (abs(k),))

    def _square(self, x: Node) -> bool:
        try:
            self.u.unify(x.shape[0], x.shape[1])
            return True
        except Clash:
            return False

    def op_epower(self, s, a, e):
        return self.make("epow", self.both(a, e), (a, e))


def _zonk(el: _Elab) -> tuple[dict, dict]:
    """Settle what inference left open, name free dims, and rebuild final nodes."""
    u = el.u
    for v in el.vars.values():
        u.settle(*v.shape)
    for var in list(u.vars):
        if var.ref is None:
            u.settle(Dim(1, (var,)))
    order = [d for v in el.vars.values() for d in v.shape] + [Dim(1, (v,)) for v in u.vars]
    taken = set(el.dims) | set(el.vars) | set(el.defs) | set(el.funcs)
    named = u.name_free(order, taken)
    memo: dict[Node, Node] = {}

    def z(n: Node) -> Node:
        got = memo.get(n)
        if got is not None:
            return got
        shape = u.resolve_shape(n.shape)
        if n.op == "var" and len(n.params) == 1:
            v = el.vars.get(n.params[0])
            attrs = v.attrs if v is not None else ()
            out = Node.make("var", (), (n.params[0], attrs), shape)
        else:
            out = Node.make(n.op, tuple(z(a) for a in n.args), n.params, shape)
        memo[n] = out
        return out

    return z, named


def elaborate(stmts: list, source: Source, collect_errors: bool = False,
              given: dict | None = None) -> Program:
    """Type a parsed program.  With ``collect_errors``, keep going after a bad
    statement and return the errors in ``Program.errors`` (for ``matd check``).
    ``given`` maps names the program does not declare to concrete (rows, cols),
    e.g. from arrays given on the command line."""
    el = _Elab(source, collect_errors)
    declared = {n for st in stmts if isinstance(st, Decl) for n, _ in st.names}
    for name, (r, c) in (given or {}).items():
        if name not in declared:
            shape = (Dim.const(r), Dim.const(c))
            el.vars[name] = _Var(name, shape, Node.make("var", (), (name,), shape), Span(0, 0))
    for st in stmts:
        try:
            el.statement(st)
        except MatdError as e:
            if not collect_errors:
                raise
            el.errors.append(e)
    for name in given or {}:  # given but never used: not a variable of this program
        if name not in declared and name in el.vars and el.vars[name].node not in el.spans:
            del el.vars[name]
    z, named = _zonk(el)
    variables = {name: z(v.node) for name, v in el.vars.items()}
    dims = {name: Dim.sym(name) for name in el.dims}
    dims.update({nm: Dim.sym(nm) for nm in named.values()})
    statements = [Statement(s.kind, s.name, z(s.node) if s.node is not None else None, s.span)
                  for s in el.stmts]
    spans: dict[Node, list[Span]] = {}
    for node, sps in el.spans.items():
        spans.setdefault(z(node), []).extend(sps)
    one_by_one = frozenset(name for st in stmts if isinstance(st, Decl) and len(st.dims) == 2
                           for name, _ in st.names
                           if name in variables and variables[name].is_scalar)
    return Program(source, variables,
                   {n: v.decl for n, v in el.vars.items() if v.decl is not None},
                   dims, {k: z(n) for k, (n, _) in el.defs.items()},
                   {k: f for k, (f, _) in el.funcs.items()}, statements, spans, el.errors,
                   one_by_one)
