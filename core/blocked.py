"""Plans on row blocks: the dask backend's one pass over the data.

A plan whose large inputs come in row blocks (X: 2,000,000 × 50, cut every ROWS rows) is
mostly made of steps that act on each block alone (X w, y − X w, softplus, a row scaling)
and of a few sums over the blocks (Xᵀ r, 1ᵀ R, tr(R S⁻¹ Rᵀ)).  Built step by step on dask
arrays, such a plan is a dozen tasks per block, each of which reads or writes a whole block
of memory.  Here each block is one task instead: it runs the block's steps on numpy, while
the block is in cache, and returns its share of each sum; one more task adds the shares up.
The small steps (on d × d matrices, on the sums' totals) stay dask arrays, built as on the
general path, with their checks.

A value's layout follows from its shape: one with the blocked length m along axis 0 comes
in row blocks ("R"), along axis 1 in column blocks ("C", a transpose of row blocks), and a
value with neither is whole (None).  This path is taken only when every step is one of

- whole from whole values;
- a block from blocks and whole values: an entrywise kernel (the primitive table's
  ``blocks`` column), a transpose, a product R·G or G·C, a solve by a whole matrix, a sum
  along the other axis, ones or zeros;
- a whole value that is a sum over the blocks: C·R, a sum along m, tr(L M), a kernel the
  table says adds up over blocks.

Anything else (an m × m value, a reshape across rows, a kernel with no claim, inputs cut
along two lengths or in different blocks) keeps the general path, which is always right.
A block step that needs a sum's total (deviations from a mean) makes a second pass, which
reads its blocks again rather than keep them.  A flag per blocked input (not finite) is
made by the first pass that reads it; a failing block makes the caller run the plan again
step by step (``Plan.blame``), which names the step.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import partial

from matd.core.deferred import as_delayed
from matd.core.execute import _leaf, named, value_of
from matd.core.primitives import PRIMS

_SWAP = {"R": "C", "C": "R"}
_AXIS = {"R": 0, "C": 1}   # the blocked axis of a layout


def lower(plan, env: dict, denv: dict):
    """``plan`` on blocks for these (dask) inputs, or None where the general path runs."""
    steps = plan.steps
    inputs = {}
    for i, st in enumerate(steps):
        if st.kind == "input":
            which, name = st.extra
            v = (env if which == "var" else denv).get(name)
            if v is None or getattr(v, "ndim", 0) != 2 or not hasattr(v, "chunks"):
                return None
            inputs[i] = v
    big = {v.shape[ax] for v in inputs.values() for ax in (0, 1) if len(v.chunks[ax]) > 1}
    if len(big) != 1:
        return None
    m = big.pop()
    chunks = None
    for v in inputs.values():
        for ax in (0, 1):
            if v.shape[ax] == m:
                chunks = v.chunks[ax] if chunks is None else chunks
                if v.chunks[ax] != chunks:
                    return None
            elif len(v.chunks[ax]) != 1:
                return None
    layout = []
    for st in steps:
        if st.shape == (m, m):
            return None
        layout.append("R" if st.shape[0] == m else "C" if st.shape[1] == m else None)
    modes, level, npass = [], [], {}
    for i, st in enumerate(steps):
        mode = _mode(st, layout[i], [layout[j] for j in st.args])
        if mode is None:
            return None
        lv = max((level[j] for j in st.args), default=0)
        if mode in ("sum", "spread"):
            npass[i] = lv
            lv += 1
        modes.append(mode)
        level.append(lv)
    return Blocks(plan, m, chunks, layout, modes, level, npass)


def _mode(st, t, at: list) -> str | None:
    """How step ``st`` (layout ``t``, its arguments' ``at``) runs: "whole", "block",
    "sum" (over the blocks) or "spread" (a sum over the blocks repeated along them: 1 1ᵀ X);
    None: not on blocks."""
    if t is None and not any(at):
        return "whole"
    kind = st.kind
    if t is None:   # a whole value from blocks: a sum over them, or nothing
        if kind == "matmul":
            ok = at == ["C", "R"]
        elif kind == "sums":
            ok = at[0] is not None and st.extra == _AXIS[at[0]]
        elif kind == "trprod":
            ok = at[0] is not None and at[1] == _SWAP[at[0]]
        elif kind == "kernel":
            ok = PRIMS[st.node.op].blocks == "sums" and len(set(at)) == 1
        else:
            ok = False
        return "sum" if ok else None
    if kind == "input":
        ok = True
    elif kind == "const":
        ok = st.node.op in ("ones", "zeros")
    elif kind in ("combine", "powc", "rowscale"):
        ok = all(a in (t, None) for a in at)
    elif kind == "colscale":   # A ∘ (1 bᵀ): b a column of A's width
        ok = at[0] == t and (t == "C" or at[1] is None)
    elif kind == "kernel":
        op = st.node.op
        ok = at == [_SWAP[t]] if op == "transpose" else \
            PRIMS[op].blocks == "entries" and all(a in (t, None) for a in at)
    elif kind == "matmul":
        ok = at == (["R", None] if t == "R" else [None, "C"])
    elif kind == "sums":   # along the other axis; along m it is a sum, spread back
        if at[0] == t and st.extra == _AXIS[t]:
            return "spread"
        ok = at[0] in (t, None)   # a whole one, summed and repeated: the same in each block
    elif kind == "solve":
        ok = at == [None, t]
    elif kind == "rsolve":
        ok = at == [t, None]
    else:
        ok = False
    return "block" if ok else None


@dataclass
class Blocks:
    """A plan laid out on blocks (``lower``): ``modes[i]`` says how step i runs,
    ``level[i]`` after which pass its value is there, ``npass`` the pass of each sum."""

    plan: object
    m: int
    chunks: tuple
    layout: list
    modes: list
    level: list
    npass: dict

    def lazy(self, env: dict, xp, denv: dict, dtype, check: bool):
        """(outputs, flags): the plan's outputs as dask arrays, and for each blocked input
        read (by slot) a lazy "not finite" flag."""
        plan, steps = self.plan, self.plan.steps
        vals: dict = {}
        flags: dict = {}
        after: list = []   # the totals of the passes so far
        local = [s for s in dict.fromkeys(plan.out_slots) if self.modes[s] == "block"]
        passes = set(self.npass.values()) | {self.level[s] for s in local}
        top = max(self.level, default=0)
        for p in range(top + 2):
            if p - 1 in passes:
                self._pass(p - 1, vals, env, denv, dtype, check, flags, local, after)
            for i, st in enumerate(steps):
                if self.modes[i] == "whole" and self.level[i] == p:
                    with named(st):
                        vals[i] = plan._step(st, [vals[j] for j in st.args], env, denv, xp,
                                             dtype)
        return [self._spread(s, vals[s]) if self.modes[s] == "spread" else vals[s]
                for s in plan.out_slots], flags

    def _spread(self, s, total):
        """A spread sum as a result: its total repeated along the blocks (a view each)."""
        import dask.array as da
        st = self.plan.steps[s]
        chunks = [(n,) for n in st.shape]
        chunks[st.extra] = self.chunks
        return da.broadcast_to(total, st.shape, chunks=tuple(chunks))

    def _pass(self, q, vals, env, denv, dtype, check, flags, local, after):
        """Pass ``q`` over the blocks: its sums (totals into ``vals``, the Delayed of
        all into ``after``), the blocked outputs it makes (dask arrays of its blocks), the
        flags of the inputs it reads first."""
        import dask
        import dask.array as da
        import numpy as np
        steps = self.plan.steps
        sums = [i for i, p in self.npass.items() if p == q]
        outputs = [s for s in local if self.level[s] == q]
        needed, stack = set(), [j for i in sums for j in steps[i].args] + outputs
        while stack:
            j = stack.pop()
            if j not in needed and self.modes[j] == "block":
                needed.add(j)
                stack += steps[j].args
        order = sorted(needed)
        wholes = sorted({j for i in order + sums for j in steps[i].args
                         if self.modes[j] != "block"})
        inputs = [i for i in order if steps[i].kind == "input"]
        checked = [i for i in inputs if check and i not in flags]
        spread = [j for j in wholes if self.modes[j] == "spread"]
        prog = _Program({i: steps[i] for i in order + sums + spread}, order, inputs, wholes,
                        sums, outputs, checked, spread, self.m, np.dtype(dtype))
        blocks = [self._blocks_of(steps[i], env, denv, after) for i in inputs]
        given = [as_delayed(vals[j]) for j in wholes]
        # the program bound to the function: dask looks for collections in arguments,
        # all through the steps' expressions, once per block
        run = dask.delayed(partial(_run_block, prog), pure=False, nout=2)
        small, big = zip(*(run(n, *(b[k] for b in blocks), *given)
                           for k, n in enumerate(self.chunks)))
        total = dask.delayed(_add_up, pure=False)(list(small), len(sums))
        after.append(total)
        for k, i in enumerate(sums):
            st = steps[i]
            shape = st.shape if self.modes[i] == "sum" else \
                tuple(1 if ax == st.extra else n for ax, n in enumerate(st.shape))
            vals[i] = da.from_delayed(total[k], shape, dtype=prog.dtype,
                                      meta=np.empty((0, 0), prog.dtype))
        for k, i in enumerate(checked):   # arrays, as every value computed with them
            flags[i] = da.from_delayed(total[len(sums) + k], (), dtype=bool,
                                       meta=np.empty((), bool))
        for k, s in enumerate(outputs):
            parts = [da.from_delayed(b[k], _sized(steps[s], self.m, n).shape,
                                     dtype=prog.dtype, meta=np.empty((0, 0), prog.dtype))
                     for b, n in zip(big, self.chunks)]
            vals[s] = da.concatenate(parts, axis=_AXIS[self.layout[s]])

    def _blocks_of(self, st, env, denv, after: list) -> list:
        """The blocks of an input, in a later pass read anew once the passes before are
        done (``after``: their totals), not kept from the first: that would hold all of
        the input in memory between the passes."""
        which, name = st.extra
        v = (env if which == "var" else denv)[name]
        if after:
            from dask.graph_manipulation import bind
            v = bind(v, after)
        return list(v.to_delayed().ravel())


@dataclass(frozen=True)
class _Program:
    """What a block task runs (pickled to workers): the steps, by slot, in order."""

    steps: dict
    order: list
    inputs: list
    wholes: list
    sums: list
    outputs: list
    checked: list
    spread: list
    m: int
    dtype: object


class BlockFailed(RuntimeError):
    """A block task failed: the caller runs the plan step by step to say where."""


def _sized(st, m: int, n: int):
    """Step ``st`` on a block of n of the m rows."""
    return replace(st, shape=tuple(n if s == m else s for s in st.shape))


def _run_block(prog: _Program, n: int, *arrays):
    """One block: (its shares of the sums and its inputs' not-finite flags, the values of
    the blocked outputs)."""
    import numpy as np
    vals = dict(zip(prog.inputs + prog.wholes, arrays))
    for i in prog.spread:   # a sum's total, repeated along this block
        vals[i] = np.broadcast_to(vals[i], _sized(prog.steps[i], prog.m, n).shape)
    with warnings.catch_warnings():   # NaN and Inf are the flags' business
        warnings.simplefilter("ignore", RuntimeWarning)
        flags = tuple(_not_finite(np, vals[i]) for i in prog.checked)
        try:
            for i in prog.order:
                st = prog.steps[i]
                if st.kind == "input":
                    continue
                st = _sized(st, prog.m, n)
                vals[i] = _leaf(st.node, st.shape, np, prog.dtype, {}) if st.kind == "const" \
                    else value_of(st, [vals[j] for j in st.args], np, prog.dtype)
            shares = tuple(_share(prog.steps[i], vals, prog) for i in prog.sums)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - named by the step-by-step pass
            raise BlockFailed(f"{type(e).__name__}: {e}") from None
    return shares + flags, tuple(vals[i] for i in prog.outputs)


def _share(st, vals: dict, prog: _Program):
    """A block's share of the sum of step ``st``."""
    import numpy as np
    a = [vals[j] for j in st.args]
    if st.kind == "sums" and st.shape[st.extra] == prog.m:   # spread: the sum alone
        return np.sum(a[0], axis=st.extra, keepdims=True)
    return value_of(st, a, np, prog.dtype)


def _not_finite(np, a) -> bool:
    """Whether a has NaN or Inf: its sum, one pass and no temporary, is finite when a is
    (NaN and ±Inf carry into it); only a sum that is not (a NaN, or finite values whose
    sum overflows) is looked at entry by entry."""
    return not np.isfinite(np.sum(a)) and not bool(np.isfinite(a).all())


def _add_up(parts: list, count: int) -> tuple:
    """The totals of the first ``count`` shares of each block, and for the flags after
    them whether any block raised one."""
    import numpy as np
    first = parts[0]
    sums = tuple(sum((p[k] for p in parts[1:]), first[k]) for k in range(count))
    return sums + tuple(np.bool_(any(p[k] for p in parts)) for k in range(count, len(first)))
