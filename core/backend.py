"""Choosing the array namespace: numpy on the CPU, CuPy on a GPU (``matd[gpu-cuda12]``).

On the CPU a numpy that implements the array API itself (2.1 and later: ``astype``, ``concat``,
``linalg.diagonal``, ``reshape(copy=)`` …) is used as it is; only an older numpy goes through
``array_api_compat.numpy``, whose import costs about 100 ms more (it touches every lazy numpy
submodule: f2py, testing, ma, random, polynomial).

>>> xp, dt = namespace("cpu", "float64")
>>> dt == xp.float64
True
"""
from __future__ import annotations

from matd.core.errors import MatdError

DEVICES = ("cpu", "gpu")
DTYPES = ("float64", "float32")


GPU_INSTALL = ("install CuPy's prebuilt wheel for the GPU's CUDA version (nvidia-smi shows "
               "it): pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13); from a "
               "matd clone: pip install '.[gpu-cuda12]' or '.[gpu-cuda13]'")


def namespace(device: str = "cpu", dtype: str = "float64"):
    """(array-API namespace, dtype) for a device; a clear error when it cannot be had."""
    if device == "cpu":
        xp = _cpu_namespace()
    elif device == "gpu":
        try:
            import cupy
        except ImportError:
            raise MatdError("--device gpu needs CuPy, which is not installed",
                            hint=GPU_INSTALL) from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # noqa: BLE001 - any CUDA failure means: no GPU to use
            raise MatdError(f"--device gpu: no usable CUDA GPU ({e})",
                            hint="run on the CPU (the default), or on a machine with a GPU") \
                from None
        if count == 0:
            raise MatdError("--device gpu: no CUDA GPU found", hint="run on the CPU")
        import array_api_compat.cupy as xp
    else:
        raise MatdError(f"unknown device {device!r}", hint="cpu or gpu")
    if dtype not in DTYPES:
        raise MatdError(f"unknown dtype {dtype!r}", hint="float64 or float32")
    return xp, getattr(xp, dtype)


def _cpu_namespace():
    """numpy itself where it is an array-API namespace (2023.12 or later), else the wrapper.

    >>> _cpu_namespace().__name__ in ("numpy", "array_api_compat.numpy")
    True
    """
    import numpy
    if getattr(numpy, "__array_api_version__", "") >= "2023.12":
        return numpy
    import array_api_compat.numpy
    return array_api_compat.numpy  # pragma: no cover - numpy < 2.1


def memory_bytes() -> int:
    """The host memory matd may use: physical memory, or the cgroup's limit when lower.

    >>> memory_bytes() > 0
    True
    """
    import os
    total = 0
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (total or int(text) + 1):
            total = int(text)
    return total or 8 << 30


def allocation_limit() -> int:
    """Bytes one request (its inputs, or any one array of a computation) may need: half the
    memory, so that a request too large for the machine is refused before it allocates."""
    return memory_bytes() // 2


def human_bytes(n: int) -> str:
    """A size for messages.

    >>> human_bytes(3 << 30)
    '3.0 GiB'
    """
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover
