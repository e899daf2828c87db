"""Checks a lazy namespace cannot make while a plan is being built.

On numpy or CuPy a kernel that meets a bad argument (a singular matrix, an eigenvalue
≤ 0) raises at once.  On dask the arrays are not computed yet: asking ``bool(...)`` of one
would compute it, once per check, and a plan would compute many times instead of once.
So a kernel states its check with ``require``: on an eager namespace it is made at once;
while a lazy plan is being built (inside ``collecting()``) the 0-d condition is kept, and
the caller computes all of them together with the results, in the same pass.

>>> import numpy as np
>>> require(np, np.asarray(False), ValueError("never raised"))
>>> require(np, np.asarray(True), ValueError("bad"))
Traceback (most recent call last):
...
ValueError: bad
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

_PENDING: contextvars.ContextVar = contextvars.ContextVar("matd_deferred", default=None)


def is_lazy(xp) -> bool:
    """Whether xp's arrays are lazy (dask): nothing is computed until asked."""
    return "dask" in getattr(xp, "__name__", "")


def is_dask(a) -> bool:
    """Whether a is a dask array (without importing dask)."""
    return hasattr(a, "__dask_graph__") and hasattr(a, "chunks")


def require(xp, bad, error: Exception) -> None:
    """Raise ``error`` when the 0-d boolean array ``bad`` is true: now on an eager
    namespace (and on a lazy one outside ``collecting()``), else with the results."""
    pending = _PENDING.get() if is_lazy(xp) else None
    if pending is None:
        if bool(bad):
            raise error
        return
    pending.append((bad, error))


@contextmanager
def collecting():
    """Inside: lazy checks are collected into the list this yields, as (bad, error)."""
    pending: list = []
    token = _PENDING.set(pending)
    try:
        yield pending
    finally:
        _PENDING.reset(token)


def as_delayed(a):
    """A dask array as the Delayed of one block holding all of it (one chunk already, or
    joined into one).  Not ``dask.delayed(a)``, which imports dask.distributed to look at
    the graph (0.25 s of a command)."""
    if any(len(c) > 1 for c in a.chunks):
        a = a.rechunk(a.shape)
    (block,) = a.to_delayed().ravel()
    return block
