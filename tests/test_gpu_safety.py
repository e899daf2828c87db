"""The GPU path made safe (issue 12): singular and indefinite matrices raise on CuPy as on
numpy, a missing CUDA library or a full GPU is its own message (never "singular"), each
input is moved to the device once per command, and a float32 run makes no float64 copy.
The parts that need no GPU run everywhere (on numpy, or a namespace that counts what it is
asked); the rest where CuPy and a GPU exist."""
from __future__ import annotations

import types

import numpy as np
import pytest

from matd.core.errors import MatdError
from matd.core.numeric import bind
from matd.core.execute import _library_trouble, _memory_error, _trouble
from matd.core.plan import NumericError, OutOfMemory, Plan
from matd.grammar.parse import parse_program
from matd.numbers import Inputs, derivatives, prepare
from matd.core.syntax import Source
from test_backends import needs_gpu


def solve_step():
    plan = Plan([parse_program("X, B: n x n; inv(X) B").result], {"n": 3})
    return next(st for st in plan.steps if st.kind == "solve")


def test_only_a_linear_algebra_error_is_a_singular_matrix():
    st = solve_step()
    assert "singular" in _trouble(st, np.linalg.LinAlgError("Singular matrix"))
    other = _trouble(st, ImportError("No module named 'scipy'"))
    assert "singular" not in other and "ImportError" in other and "scipy" in other


@pytest.mark.parametrize("name,base,msg", [
    ("CUSOLVERError", RuntimeError, "CUSOLVER_STATUS_NOT_INITIALIZED"),
    ("CUDARuntimeError", RuntimeError, "cudaErrorInsufficientDriver"),
    ("ImportError", ImportError, "libcusolver.so.11: cannot open shared object file"),
])
def test_a_missing_or_failing_cuda_library_is_its_own_error(name, base, msg):
    error = type(name, (base,), {})(msg)
    got = _library_trouble(error)
    assert isinstance(got, MatdError) and "CUDA libraries" in got.message, got
    assert "singular" not in got.message and "--device gpu" in got.hint
    assert _library_trouble(np.linalg.LinAlgError("Singular matrix")) is None


def test_a_full_gpu_is_not_enough_gpu_memory():
    st = solve_step()
    fake = type("OutOfMemoryError", (MemoryError,), {"__module__": "cupy.cuda.memory"})
    e = _memory_error(st, fake("out of memory allocating 1 bytes"))
    assert isinstance(e, OutOfMemory) and "GPU memory" in e.message and "float32" in e.hint


class Counting(types.ModuleType):
    """numpy, counting the arrays moved in with asarray (as CuPy's upload)."""

    def __init__(self):
        super().__init__("counting_numpy")
        self.moved = []

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, a, dtype=None):
        self.moved.append(np.shape(a))
        return np.asarray(a, dtype=dtype)


def test_each_input_is_moved_to_the_device_once_per_command(monkeypatch):
    src = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w"
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((30, 3)), "w": rng.standard_normal(3),
              "y": rng.random(30)}
    xp = Counting()
    import matd.core.backend as backend
    monkeypatch.setattr(backend, "namespace", lambda device, dtype: (xp, getattr(np, dtype)))
    got, report = derivatives(Source(src), ["w"], 1, Inputs(arrays=arrays), check=True)
    assert report and report[0].ok
    big = [s for s in xp.moved if s == (30, 3)]
    assert len(big) == 1, f"X was moved {len(big)} times ({len(xp.moved)} moves in all)"


def test_a_float32_run_keeps_float32_inputs_without_a_copy():
    prog = parse_program("X: m x n; sum(X)")
    X = np.ones((1000, 50), dtype=np.float32)
    b = bind(prog, {"X": X}, dtype=np.float32)
    assert b.env["X"].dtype == np.float32 and np.shares_memory(b.env["X"], X)
    b64 = bind(prog, {"X": X}, dtype=np.float64)
    assert b64.env["X"].dtype == np.float64
    prog_, b = prepare(Source("X: m x n; sum(X)"), Inputs(arrays={"X": X}, dtype="float32"))
    assert np.shares_memory(b.env["X"], X)


# --- on a real GPU ---------------------------------------------------------------------------
@needs_gpu
@pytest.mark.parametrize("src,env,what", [
    ("X, B: n x n; inv(X) B", {"X": np.ones((3, 3)), "B": np.eye(3)}, "singular"),
    ("S: n x n; chol(S)", {"S": -np.eye(3)}, "positive definite"),
])
def test_cupy_raises_on_singular_and_indefinite_matrices(src, env, what):
    import array_api_compat.cupy as xc
    prog = parse_program(src)
    plan = Plan([prog.result], {"n": 3})
    with pytest.raises(NumericError, match=what):
        plan.run({k: xc.asarray(v) for k, v in env.items()}, xc)


@needs_gpu
def test_cupy_float32_makes_no_float64_host_copy():
    import cupy
    X = np.ones((2000, 100), dtype=np.float32)
    got, _ = derivatives(Source("X: m x n; sum(X .* X)"), ["X"], 1,
                         Inputs(arrays={"X": X}, device="gpu", dtype="float32"))
    assert got["X"].dtype == np.float32
    np.testing.assert_allclose(got["X"], 2 * X)
    assert cupy.get_default_memory_pool().used_bytes() < 64 << 20
