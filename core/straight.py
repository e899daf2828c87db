"""A plan on numpy as one straight-line Python function.

Running a plan step by step costs a few microseconds of Python per step (the dispatch on
the step's kind, the argument lists, the bookkeeping of dead temporaries): nothing at
n = 1000, most of the time at n = 100.  On numpy the plan is instead written out once as
the function a person would write by hand,

    def plan(env, denv, given):
        v1 = env['X']
        v3 = env['w']
        v4 = matmul(v1, v3)
        ...
        del v4
        return [v8]

with the steps' kernels bound as globals, and that function is what each run calls.  It
does exactly what the step-by-step loop does (the same kernels, the same buffers written
in place, the same temporaries freed at the same points); it only leaves out the loop.
Any exception in it sends the run back to the loop, which names the step in its error.

>>> from matd.grammar.parse import parse_program
>>> from matd.core.plan import Plan
>>> import numpy as np
>>> p = parse_program("A: n x n; x: n; A x + x")
>>> plan = Plan([p.result], {"n": 2})
>>> print(source(plan).splitlines()[3])
    v2 = matmul(v0, v1)
"""
from __future__ import annotations

from matd.core.primitives import PRIMS

_KERNEL_FREE = ("input", "matmul")   # written inline; every other kind binds a callable


def source(plan) -> str:
    """The straight-line function's text (names of the bound globals included)."""
    return _build(plan, None, None)[0]


def compile_numpy(plan, xp, dtype):
    """plan(env, denv, given) -> the outputs, as one Python function on numpy ``xp``."""
    text, names = _build(plan, xp, dtype)
    scope = dict(names)
    exec(compile(text, "<matd plan>", "exec"), scope)   # noqa: S102 - our own text
    return scope["plan"]


def _build(plan, xp, dtype):
    from matd.core.execute import _At, _leaf
    steps, frees, fuse = plan.steps, plan._frees(), plan._fusable()
    names: dict = {"matmul": getattr(xp, "matmul", None)}
    lines = ["def plan(env, denv, given):"]
    for i, st in enumerate(steps):
        args = ", ".join(f"v{j}" for j in st.args)
        if st.kind == "input":
            which, name = st.extra
            lines.append(f"    v{i} = {'env' if which == 'var' else 'denv'}[{name!r}]")
        elif st.kind == "matmul":
            lines.append(f"    v{i} = matmul({args})")
        elif st.kind == "const" and st.shape == (1, 1) and id(st) not in plan._results:
            names[f"c{i}"] = None if xp is None else plan._step(st, [], {}, {}, xp, dtype)
            lines.append(f"    v{i} = c{i}")
        elif st.kind == "const":   # made afresh each run: the caller may write into it
            names[f"f{i}"] = _Fresh(_leaf, st.node, st.shape, xp, dtype, plan.sizes)
            lines.append(f"    v{i} = f{i}()")
        elif fuse[i]:
            names[f"s{i}"] = _Fusing(plan, st, fuse[i], xp, dtype)
            lines.append(f"    v{i} = s{i}(given, {args})")
        elif st.kind == "kernel":
            names[f"k{i}"] = PRIMS[st.node.op].kernel
            names[f"a{i}"] = _At(st.node, st.shape)
            lines.append(f"    v{i} = k{i}(xp, a{i}, {args})")
        else:
            names[f"s{i}"] = _Step(plan, st, xp, dtype)
            lines.append(f"    v{i} = s{i}({args})")
        dead = [f"v{j}" for j in sorted(frees[i])]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    lines.append(f"    return [{', '.join(f'v{s}' for s in plan.out_slots)}]")
    names["xp"] = xp
    return "\n".join(lines) + "\n", names


class _Fresh:
    __slots__ = ("f", "args")

    def __init__(self, f, *args):
        self.f, self.args = f, args

    def __call__(self):
        return self.f(*self.args)


class _Step:
    """One step the straight-line function does not write inline: the plan's own code."""
    __slots__ = ("plan", "st", "xp", "dtype")

    def __init__(self, plan, st, xp, dtype):
        self.plan, self.st, self.xp, self.dtype = plan, st, xp, dtype

    def __call__(self, *a):
        return self.plan._step(self.st, a, None, None, self.xp, self.dtype)


class _Fusing(_Step):
    """An elementwise step that may write into a dying argument (decided on the arrays)."""
    __slots__ = ("at",)

    def __init__(self, plan, st, at, xp, dtype):
        super().__init__(plan, st, xp, dtype)
        self.at = at

    def __call__(self, given, *a):
        v = self.plan._fused(self.st, a, self.at, given)
        return v if v is not None else self.plan._step(self.st, a, None, None, self.xp,
                                                       self.dtype)
