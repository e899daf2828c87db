"""IR -> the source of a Python function that computes with numpy alone.

Inside the generated function every array is 2-D (vectors n×1, scalars 1×1);
inputs are reshaped on entry and outputs given the user's shapes on return
(DESIGN §2: vectors 1-D, scalars 0-D).  Shared subexpressions are computed
once, in temporaries.

>>> from matd.grammar.parse import parse_program
>>> p = parse_program("A: m x n; x: n; norm(A x)^2")
>>> src = numpy_function("f", p.variables, [("value", p.result)])
>>> ns = {}; exec(src, ns)
>>> import numpy as np
>>> float(ns["f"](np.eye(2), np.array([3.0, 4.0])))
25.0
"""
from __future__ import annotations

from matd.core.expr import Node
from matd.core.primitives import PRIMS


def _dim_expr(d, dimvars: dict) -> str:
    parts = [str(d.coef)] if d.coef != 1 or not d.factors else []
    parts += [dimvars[f] for f in d.factors]
    return " * ".join(parts)


class _Emitter:
    def __init__(self, dimvars: dict):
        self.dimvars = dimvars
        self.lines: list[str] = []
        self.helpers: dict[str, str] = {}
        self.names: dict[Node, str] = {}
        self.count = 0

    def shape(self, n: Node) -> str:
        r, c = (_dim_expr(d, self.dimvars) for d in n.shape)
        return f"({r}, {c})"

    def expr(self, n: Node) -> str:
        if n in self.names:
            return self.names[n]
        op = n.op
        if op == "var":
            return n.params[0]
        if op == "const":
            return repr(n.params[0]) if n.params[0] >= 0 else f"({n.params[0]!r})"
        if op == "dim":
            return f"np.full((1, 1), float({_dim_expr(n.params[0], self.dimvars)}))"
        if op == "eye":
            return f"np.eye({_dim_expr(n.shape[0], self.dimvars)})"
        if op == "ones":
            return f"np.ones({self.shape(n)})"
        if op == "zeros":
            return f"np.zeros({self.shape(n)})"
        if op == "commutation":
            self.helpers["_commutation"] = _COMMUTATION_SRC
            m, k = (_dim_expr(d, self.dimvars) for d in n.params)
            return f"_commutation({m}, {k})"
        if op == "ufunc":   # the body, entrywise in the argument (matd.core.userfunc)
            from matd.core.userfunc import entrywise
            return self.expr(entrywise(n.params[0], n.args[0]))
        prim = PRIMS[op]
        if prim.py_helper:
            name = prim.py_helper.split("(")[0].split()[-1]
            self.helpers[name] = prim.py_helper
        args = [self.expr(a) for a in n.args]
        if op in ("add", "matmul"):
            return prim.py.format((" + " if op == "add" else " @ ").join(args))
        k = n.params[0] if n.params else None
        axis = k - 1 if isinstance(k, int) else None   # MATLAB dimension k -> numpy axis
        return prim.py.format(*args, k=k, axis=axis, shape=self.shape(n))

    def bind(self, n: Node) -> None:
        text = self.expr(n)
        self.count += 1
        name = f"t{self.count}"
        self.lines.append(f"{name} = {text}")
        self.names[n] = name


def _dim_sources(variables: dict) -> dict:
    """Where each dim symbol can be read from the inputs: ``A.shape[0]`` and the like."""
    out: dict[str, str] = {}
    for name, v in variables.items():
        for axis, d in enumerate(v.shape):
            if d.coef == 1 and len(d.factors) == 1 and d.factors[0] not in out:
                out[d.factors[0]] = f"{name}.shape[{axis}]"
    return out


def numpy_function(fname: str, variables: dict, outputs: list[tuple[str, Node]],
                   doc: str = "") -> str:
    """Source of ``def fname(vars…)`` returning the outputs (one, or a tuple)."""
    from matd.core.printers import root_masks, walk_all
    roots = [node for _, node in outputs]
    order = walk_all(roots)        # one walk for all the outputs (they share most parts)
    used = {v.params[0] for v in order if v.op == "var"}
    params = [n for n in variables if n in used]
    dims = _dim_sources({n: variables[n] for n in params})
    # a dim no argument's shape gives on its own (v: 2*n, or only in ones(m)) is a
    # keyword argument of the function
    named = {f for n in order
             for d in n.shape + tuple(x for x in n.params if hasattr(x, "factors"))
             for f in getattr(d, "factors", ()) if isinstance(f, str)}
    extra = sorted(named - set(dims))
    dims.update({d: f"int({d})" for d in extra})
    dimvars = {d: f"{d}_" for d in dims}
    em = _Emitter(dimvars)
    # a part is computed once, in a temporary, where it is used twice: by two parents, or
    # by one parent in two outputs (each parent counts once for each output that holds it)
    mask = root_masks(order, roots)
    counts: dict[Node, int] = {}
    for n in order:
        k = mask[n].bit_count()
        for a in set(n.args):
            counts[a] = counts.get(a, 0) + k
    for n in order:
        if n.args and counts.get(n, 0) > 1 and n not in em.names:
            em.bind(n)
    body = []
    for p in params:
        body.append(f"{p} = np.asarray({p}, dtype=float)")
        body.append(f"{p} = {p}.reshape(-1, 1) if {p}.ndim < 2 else {p}")
    body += [f"{v} = {dims[d]}" for d, v in dimvars.items()]
    body += em.lines
    rets = []
    for _, node in outputs:
        text = em.expr(node)
        r, c = node.shape
        if r.is_one and c.is_one:
            rets.append(f"float(np.asarray({text}).reshape(-1)[0])")
        elif c.is_one:
            rets.append(f"({text})[:, 0]")
        else:
            rets.append(f"np.asarray({text})")
    head = [f"def {fname}({', '.join(params + (['*'] + extra if extra else []))}):"]
    if doc:
        head.append(f'    """{doc}"""')
    ret = rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ")"
    lines = ["import numpy as np", ""] + [h + "\n" for h in em.helpers.values()] + head
    lines += [f"    {ln}" for ln in body] + [f"    return {ret}", ""]
    return "\n".join(lines)


_COMMUTATION_SRC = """def _commutation(m, n):
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1
    return K"""
