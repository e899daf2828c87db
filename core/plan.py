"""Compiled evaluation: an IR DAG -> a plan of steps for concrete sizes, run many times.

Compiling once decides what is computed and how, for the actual sizes:

- every shared subexpression is one step (computed once);
- matrix chains are multiplied in the cheapest order (matrix-chain DP on flops);
- ``inv(X) B`` / ``B inv(X)`` (and with X⁻ᵀ) are solves, never an inverse,
  unless the inverse is needed by itself anyway;
- ``(A + Aᵀ) x`` is ``A x + Aᵀ x`` when x is thin (no n×n sum formed);
- diagonal matrices are vectors: ``diag(v) A`` / ``A diag(v)`` scale rows / columns,
  ``diag(a) - diag(b) diag(c)`` is ``diag(a - b ∘ c)``, ``c I`` is the vector c 1, ``A + diag(v)``
  adds v onto A's diagonal; a diagonal is made dense only when it is itself a result;
- ``kron(A, B) M`` is applied as ``B X Aᵀ`` on reshaped columns, never formed;
- ``logdet`` of an spd variable goes through Cholesky, otherwise ``slogdet``;
- ``tr(P₁ ⋯ Pₖ)`` by its cheapest rotation, or as ``sum(L ∘ Mᵀ)`` (``tr(R S⁻¹ Rᵀ)`` is
  a trace of the d×d ``S⁻¹ Rᵀ R``, never an m×m product);
- an outer product with ones (``1 μᵀ`` in ``X - 1 μᵀ``) is its row, broadcast by the
  array API, never formed; ``A 1`` and ``1ᵀ A`` are sums;
- the same computation on the same slots is one step (value numbering: ``Rᵀ R`` once for a
  value and its gradients), and ``Xᵀ - μ 1ᵀ`` is the transpose (a view) of ``X - 1 μᵀ``.

Running the steps is core/execute.py's (the ``Running`` half of ``Plan``).  Kernels come
from the primitive table's ``kernel`` column; the plan itself uses only array-API calls, so
it runs on numpy, CuPy, Dask or ``array_api_strict`` alike.  Numerical trouble (singular
or indefinite matrices, NaN/Inf, overflow) raises ``NumericError`` naming the
subexpression.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("X, B: n x n; tr(inv(X) B)")
>>> plan = Plan([p.result], {"n": 3})
>>> [s.label for s in plan.steps if s.kind != "input"]
['solve', 'tr']
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from matd.core.errors import NumericError, OutOfMemory  # noqa: F401 - re-exported
from matd.core.execute import Running, all_finite, size  # noqa: F401 - re-exported
from matd.core.expr import Node, walk


@dataclass
class Step:
    kind: str            # input | const | kernel | matmul | solve | rsolve | rowscale | …
    node: Node | None    # what it computes (None for intermediate chain products)
    args: tuple          # slot numbers
    shape: tuple
    extra: object = None
    label: str = ""


@dataclass
class Plan(Running):
    """A compiled evaluation of ``outputs`` for the given dim sizes."""

    outputs: list
    sizes: dict
    spd: frozenset = frozenset()
    steps: list = field(default_factory=list)
    out_slots: list = field(default_factory=list)

    def __post_init__(self):
        self.slot: dict[Node, int] = {}
        self.users: dict[Node, int] = {}
        for r in self.outputs:
            for n in walk(r):
                for a in n.args:
                    self.users[a] = self.users.get(a, 0) + 1
        for r in self.outputs:
            self.users[r] = self.users.get(r, 0) + 1
        self._numbered: dict = {}   # (kind, what, argument slots, …) -> the step's slot
        self.out_slots = [self.compile(r) for r in self.outputs]
        self._numbers: dict = {}   # 1×1 constants (not results), made once per namespace, dtype
        self._results = {id(self.steps[s]) for s in self.out_slots}
        self._compiled: dict = {}  # dtype -> the straight-line function (numpy)
        self.fallbacks = 0         # runs the straight-line function gave back to the loop

    # -- compiling ------------------------------------------------------------------
    def shape(self, n: Node) -> tuple[int, int]:
        return (size(n.shape[0], self.sizes), size(n.shape[1], self.sizes))

    def emit(self, kind, node, args, shape, extra=None, label="") -> int:
        """A new step, unless the same computation on the same slots is one already (the
        Gram matrix Rᵀ R of a value and of its gradient, two transposes of one slot)."""
        key = None
        if kind not in ("input", "const"):
            what = (node.op, node.params) if kind == "kernel" else None
            key = (kind, label, what, tuple(args), shape, extra)
            hit = self._numbered.get(key)
            if hit is not None:
                return hit
        self.steps.append(Step(kind, node, tuple(args), shape, extra, label))
        if key is not None:
            self._numbered[key] = len(self.steps) - 1
        return len(self.steps) - 1

    def compile(self, n: Node) -> int:
        if n in self.slot:
            return self.slot[n]
        op = n.op
        seen = _transposed(n) if op in ("add", "matmul") else None
        if seen is not None and seen in self.slot:   # Xᵀ - μ 1ᵀ is (X - 1 μᵀ)ᵀ: a view
            from matd.core.algebra import make
            s = self.emit("kernel", make("transpose", seen), (self.slot[seen],),
                          self.shape(n), label="transpose")
        elif op in ("var", "dvar"):
            s = self.emit("input", n, (), self.shape(n), (op, n.params[0]))
        elif op in ("const", "dim", "eye", "ones", "zeros", "commutation"):
            s = self.emit("const", n, (), self.shape(n))
        elif op != "eye" and _diagonal(n) is not None:   # diag(v), made dense in one pass
            s = self.emit("diagonal", n, (self.compile(_diagonal(n)),), self.shape(n),
                          label="diagonal")
        elif op in ("tr", "sum") and _diagonal(n.args[0]) is not None:   # tr(diag(v)) = sum(v)
            from matd.core.algebra import fn
            s = self.compile(fn("sum", _diagonal(n.args[0])))
        elif op == "add" and any(_diagonal(a) is not None for a in n.args):
            s = self.add_diagonal(n)
        elif op == "tr" and n.args[0].op == "matmul" and self._alone(n.args[0]):
            s = self.trace_of_chain(n)
        elif op == "matmul":
            s = self.chain(n)
        elif op in ("neg", "smul") and n.args[-1].op == "matmul" and self._alone(n.args[-1]) \
                and any(_diagonal(f) is not None for f in n.args[-1].args):
            # -(A diag(v) B) = A diag(-v) B, c (A diag(v) B) = A diag(c v) B: on the vector
            s = self.chain(n.args[-1], n.args[0] if op == "smul" else None, n)
        elif op == "logdet" and n.args[0].op == "var" and n.args[0].params[0] in self.spd:
            s = self.emit("cholesky_logdet", n, (self.compile(n.args[0]),), (1, 1))
        elif op == "ufunc":   # the body, entrywise in the argument (matd.core.userfunc)
            from matd.core.userfunc import entrywise
            s = self.compile(entrywise(n.params[0], n.args[0]))
        elif op == "add" and any(a.op == "neg" for a in n.args):  # A - B, no -B formed
            signs = tuple(-1 if a.op == "neg" else 1 for a in n.args)
            args = self.operands(n, [a.args[0] if a.op == "neg" else a for a in n.args])
            s = self.emit("combine", n, args, self.shape(n), signs, "add")
        elif op == "epow" and n.args[0].op == "norm" and n.args[1].op == "const" and \
                n.args[1].params[0] == 2:   # ‖X‖² as ⟨X, X⟩, no root to square
            from matd.core.algebra import fn
            x = n.args[0].args[0]
            s = self.compile(fn("dot", x, x))
        elif op == "epow" and n.args[1].op == "const":  # x.^2 as x*x, not a generic pow
            s = self.emit("powc", n, (self.compile(n.args[0]),), self.shape(n),
                          n.args[1].params[0], "epow")
        else:
            args = self.operands(n, n.args) if op in _ENTRYWISE2 else \
                [self.compile(a) for a in n.args]
            s = self.emit("kernel", n, args, self.shape(n), label=op)
        self.slot[n] = s
        return s

    def operands(self, n: Node, args) -> list[int]:
        """The slots of an entrywise operation's arguments; a number broadcast to the shape
        (the 1 in 1 + x, 1 ./ x) is the number itself, and an outer product with ones (the
        1 μᵀ in X - 1 μᵀ) is its row or column, for the array API broadcasts them; unless
        no argument is of the full shape."""
        thin = [_broadcast_of(a) for a in args]
        if all(t is not None for t in thin):
            return [self.compile(a) for a in args]
        return [self.compile(a if t is None else t) for a, t in zip(args, thin)]

    def _alone(self, n: Node) -> bool:
        """Used only inside the chain being compiled (so no one needs it formed)."""
        return self.users.get(n, 0) <= 1 and n not in self.slot

    def add_diagonal(self, n: Node) -> int:
        """A + diag(v) + …: the dense terms summed, then the diagonal ones added onto the
        diagonal of that sum as one vector (no n×n diagonal is formed)."""
        from matd.core.algebra import add
        dense = [a for a in n.args if _diagonal(a) is None]
        vec = add(*(_diagonal(a) for a in n.args if _diagonal(a) is not None))
        return self.emit("adddiag", n, (self.compile(add(*dense)), self.compile(vec)),
                         self.shape(n), label="adddiag")

    def _factors(self, n: Node) -> list[Node]:
        """The factors of the product n, through the products inside it that nothing else
        uses (those are never formed)."""
        f: list[Node] = []

        def flatten(x, top=False):
            if x.op == "matmul" and (top or self._alone(x)):
                for a in x.args:
                    flatten(a)
            else:
                f.append(x)
        flatten(n, True)
        return f

    def chain(self, n: Node, scale: Node | None = None, node: Node | None = None) -> int:
        """A matrix chain: cheapest order by dynamic programming, then solves,
        scalings and Kronecker applications where the factors allow.  A diagonal factor
        is its vector: neighbouring diagonals multiply entrywise, and one times a matrix
        scales its rows (or columns), which costs the size of the product.  ``node``
        (default n) is ``-n`` or ``scale n``, the sign or scalar taken into a diagonal."""
        from matd.core.algebra import hadamard, neg, smul
        f = self._factors(n)
        facs: list[Node] = []
        vecs: list[Node | None] = []
        for x in f:   # diag(a) diag(b) = diag(a ∘ b)
            v = _diagonal(x)
            if v is not None and vecs and vecs[-1] is not None:
                vecs[-1] = hadamard(vecs[-1], v)
            else:
                facs.append(x)
                vecs.append(v)
        f = facs
        if node is not None:
            at = next(i for i, v in enumerate(vecs) if v is not None)
            vecs[at] = smul(scale, vecs[at]) if scale is not None else neg(vecs[at])
        dims = [self.shape(f[0])[0]] + [self.shape(x)[1] for x in f]
        k = len(f)
        split = [[0] * k for _ in range(k)]
        _chain_costs(dims, [v is not None for v in vecs], split)

        def build(i, j):
            if i == j:
                return ("factor", f[i]) if vecs[i] is None else ("diagonal", vecs[i])
            s = split[i][j]
            return ("mul", build(i, s), build(s + 1, j), (dims[i], dims[j + 1]))

        return self.lower(build(0, k - 1), node or n)

    def trace_of_chain(self, n: Node) -> int:
        """tr(P₁ ⋯ Pₖ) in the cheapest way: of a rotation of the chain (the trace is
        cyclic: tr(R S⁻¹ Rᵀ) = tr(S⁻¹ Rᵀ R), a d×d product, never the m×m R S⁻¹ Rᵀ), or
        as sum(L ∘ Mᵀ) for a split L M of a rotation, when that is cheaper still."""
        from matd.core.algebra import matmul
        f = self._factors(n.args[0])
        if any(_diagonal(x) is not None or _kron_of(x) is not None for x in f):
            return self.emit("kernel", n, (self.chain(n.args[0]),), (1, 1), label="tr")
        k = len(f)
        best = None
        for r in range(k):
            g = f[r:] + f[:r]
            dims = [self.shape(g[0])[0]] + [self.shape(x)[1] for x in g]
            cost = _chain_costs(dims)
            options = [(cost[0][k - 1] + dims[0], None)]
            options += [(cost[0][s] + cost[s + 1][k - 1] + dims[0] * dims[s + 1], s)
                        for s in range(k - 1)]
            c, s = min(options, key=lambda o: o[0])
            if best is None or c < best[0]:
                best = (c, g, s)
        _, g, s = best

        def part(fs):
            return fs[0] if len(fs) == 1 else matmul(*fs)
        if s is None:
            return self.emit("kernel", n, (self.compile(part(g)),), (1, 1), label="tr")
        return self.emit("trprod", n, (self.compile(part(g[:s + 1])),
                                       self.compile(part(g[s + 1:]))), (1, 1), label="trprod")

    def lower(self, t, node=None) -> int:
        if t[0] == "factor":
            return self.compile(t[1])
        if t[0] == "diagonal":   # a chain of diagonals alone (compile() makes it dense)
            k = self.shape(t[1])[0]
            return self.emit("diagonal", node, (self.compile(t[1]),), (k, k), label="diagonal")
        _, lt, rt, shape = t
        if lt[0] == "diagonal":   # diag(v) R: R's rows scaled
            r = self.lower(rt)
            return self.emit("rowscale", node, (self.compile(lt[1]), r), shape)
        if rt[0] == "diagonal":   # L diag(v): L's columns scaled
            lft = self.lower(lt)
            return self.emit("colscale", node, (lft, self.compile(rt[1])), shape)
        left = t[1][1] if lt[0] == "factor" else None
        right = rt[1] if rt[0] == "factor" else None
        # inv(X) R  ->  solve(X, R);   X⁻ᵀ R -> solve(Xᵀ, R)
        for cand, trans in ((left, False), (left, True)):
            inv = _inverse_of(cand, trans)
            if inv is not None and self._alone(cand):
                r = self.lower(rt)
                return self.emit("solve", node, (self.compile(inv), r), shape, trans, "solve")
        for cand, trans in ((right, False), (right, True)):
            inv = _inverse_of(cand, trans)
            if inv is not None and self._alone(cand):
                lft = self.lower(lt)
                return self.emit("rsolve", node, (lft, self.compile(inv)), shape, trans, "rsolve")
        # (A ⊗ B) M, (A ⊗ B)ᵀ M = (Aᵀ ⊗ Bᵀ) M, M (A ⊗ B) = ((Aᵀ ⊗ Bᵀ) Mᵀ)ᵀ: never formed
        for side, fac in ((0, left), (1, right)):
            kr = _kron_of(fac)
            if kr is not None and self._alone(fac) and (fac.op == "kron" or
                                                        self._alone(fac.args[0])):
                (a, b), trans = kr
                if side == 1:
                    trans = not trans
                a, b = self.compile(a), self.compile(b)
                m = self.lower(rt if side == 0 else lt)
                return self.emit("kron_apply", node, (a, b, m), shape, (trans, side == 1),
                                 "kron_apply")
        # (A + B) v -> A v + B v when v is thin: no m×k sum is formed (and xᵀ(A + B) alike)
        for side, fac in ((0, left), (1, right)):
            if fac is not None and fac.op == "add" and self._alone(fac) and \
                    (shape[1] if side == 0 else shape[0]) * 8 <= min(self.shape(fac)):
                from matd.core.algebra import matmul
                sub = rt if side == 0 else lt
                other = sub[1] if sub[0] == "factor" else None   # one factor: a node
                slot = self.lower(sub) if other is None else None
                parts, signs = [], []
                for term in fac.args:
                    sign = -1 if term.op == "neg" else 1
                    term = term.args[0] if sign < 0 else term
                    if other is not None:  # each product is a chain of its own: best order
                        prod = matmul(term, other) if side == 0 else matmul(other, term)
                        parts.append(self.compile(prod))
                    else:
                        t = self.compile(term)
                        args = (t, slot) if side == 0 else (slot, t)
                        parts.append(self.emit("matmul", None, args, shape, label="matmul"))
                    signs.append(sign)
                return self.emit("combine", node, parts, shape, tuple(signs), "distribute")
        if right is not None and right.op == "ones":   # A 1: A's row sums, no ones formed
            return self.emit("sums", node, (self.lower(lt),), shape, 1, "sums")
        if left is not None and left.op == "ones":     # 1ᵀ A: its column sums
            return self.emit("sums", node, (self.lower(rt),), shape, 0, "sums")
        return self.emit("matmul", node, (self.lower(lt), self.lower(rt)), shape, label="matmul")

    def describe(self) -> list[str]:
        """One line per step, for tests and ``--explain``."""
        from matd.core.printers import to_matd
        out = []
        for i, st in enumerate(self.steps):
            what = to_matd(st.node) if st.node is not None else "(chain part)"
            out.append(f"{i}: {st.kind} {list(st.args)} {st.shape[0]}×{st.shape[1]}  {what}")
        return out

    def kinds(self) -> list[str]:
        return [st.kind for st in self.steps]


_ENTRYWISE2 = frozenset(("add", "hadamard", "hdiv"))   # of arrays of one shape


def _chain_costs(dims, scalings=None, split=None):
    """cost[i][j]: the fewest multiplications for factors i..j of a chain with dims
    (factor i is dims[i] × dims[i+1]), by dynamic programming; a factor that is a diagonal
    (``scalings``) costs the size of its product.  ``split``, if given, gets the best
    split of each range."""
    k = len(dims) - 1
    scalings = scalings or [False] * k
    cost = [[0] * k for _ in range(k)]
    for length in range(2, k + 1):
        for i in range(k - length + 1):
            j = i + length - 1
            cost[i][j] = float("inf")
            for s in range(i, j):
                scaling = s == i and scalings[i] or s + 1 == j and scalings[j]
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[j + 1] * \
                    (1 if scaling else dims[s + 1])
                if c < cost[i][j]:
                    cost[i][j] = c
                    if split is not None:
                        split[i][j] = s
    return cost


def _transposed(n: Node) -> Node:
    """n's transpose as matd writes it, through sums: (Xᵀ - μ 1ᵀ)ᵀ is X - 1 μᵀ."""
    from matd.core import algebra as A
    if n.op == "add":
        return A.add(*(A.transpose(t) for t in n.args))
    return A.transpose(n)


def _broadcast_of(n: Node) -> Node | None:
    """The row or column that n repeats, if n is one broadcast: c broadcast to a shape (a
    number), 1 μᵀ (μᵀ down m rows) or μ 1ᵀ (μ across n columns); else None."""
    if n.op == "broadcast" and n.args[0].is_scalar:
        return n.args[0]
    if n.op == "matmul" and len(n.args) == 2:
        a, b = n.args
        if a.op == "ones" and a.shape[1].is_one:
            return b
        if b.op == "ones" and b.shape[0].is_one:
            return a
    return None


def _inverse_of(n: Node | None, trans: bool) -> Node | None:
    """X when n is inv(X) (trans=False) or its transpose (trans=True)."""
    if n is None:
        return None
    if not trans and n.op == "inv":
        return n.args[0]
    if trans and n.op == "transpose" and n.args[0].op == "inv":
        return n.args[0].args[0]
    return None


def _kron_of(n: Node | None):
    """((A, B), transposed) when n is A ⊗ B or (A ⊗ B)ᵀ."""
    if n is None:
        return None
    if n.op == "kron":
        return n.args, False
    if n.op == "transpose" and n.args[0].op == "kron":
        return n.args[0].args, True
    return None


_DIAGONAL: "weakref.WeakKeyDictionary[Node, Node | bool]" = weakref.WeakKeyDictionary()


def _diagonal(n: Node) -> Node | None:
    """v (a column) when n is, by its structure, the diagonal matrix diag(v): diag(v), I,
    and sums, negations, scalings, products, powers and transposes of diagonals, and a
    Hadamard product with one (diag(v) ∘ M = diag(v ∘ diag(M))).  Memoized per node."""
    got = _DIAGONAL.get(n)
    if got is None:
        got = _DIAGONAL[n] = _diagonal_of(n) or False
    return got or None


def _diagonal_of(n: Node) -> Node | None:
    from matd.core import algebra as A
    from matd.core.shapes import ONE
    op, args = n.op, n.args
    if n.is_scalar or n.shape[0] != n.shape[1]:
        return None
    if op == "diag":
        return args[0] if args[0].shape[1].is_one and not args[0].is_scalar else None
    if op == "eye":
        return A.ones((n.shape[0], ONE))
    if op in ("neg", "transpose"):
        v = _diagonal(args[0])
        return None if v is None else A.neg(v) if op == "neg" else v
    if op in ("smul", "div"):
        v = _diagonal(args[1] if op == "smul" else args[0])
        return None if v is None else A.smul(args[0], v) if op == "smul" else A.div(v, args[1])
    if op == "mpow" and n.params[0] >= 1:
        v = _diagonal(args[0])
        return None if v is None else A.epow(v, n.params[0])
    if op in ("add", "matmul"):
        vs = [_diagonal(a) for a in args]
        if any(v is None for v in vs):
            return None
        if op == "add":
            return A.add(*vs)
        out = vs[0]
        for v in vs[1:]:
            out = A.hadamard(out, v)
        return out
    if op == "hadamard":
        for a, b in (args, args[::-1]):
            v = _diagonal(a)
            if v is not None:
                return A.hadamard(v, A.fn("diag", b))
    return None


def evaluate(root: Node, env: dict, sizes: dict, xp=None, denv: dict | None = None,
             dtype=None, spd=frozenset()):
    """One-shot evaluation (compile, run) of a single node."""
    return Plan([root], dict(sizes), frozenset(spd)).run(env, xp, denv, dtype)[0]
