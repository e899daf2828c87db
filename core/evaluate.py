"""Numeric evaluation of IR (the public entry; the work is in ``matd.core.plan``).

Inside, every value is a 2-D array: vectors are n×1 and scalars 1×1; the
array-API namespace is numpy (through array-api-compat) unless one is given.

>>> import numpy as np
>>> from matd.grammar.parse import parse_program
>>> p = parse_program("A: 2 x 2; x: 2; x^T A x")
>>> float(evaluate(p.result, {"A": np.eye(2), "x": np.array([[1.], [2.]])}, {})[0, 0])
5.0
"""
from matd.core.plan import NumericError, Plan, evaluate, size

__all__ = ["evaluate", "size", "Plan", "NumericError"]
