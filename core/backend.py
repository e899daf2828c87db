"""Choosing the array namespace: numpy on the CPU, CuPy on a GPU (``matd[gpu]``).

>>> xp, dt = namespace("cpu", "float64")
>>> dt == xp.float64
True
"""
from __future__ import annotations

from matd.core.errors import MatdError

DEVICES = ("cpu", "gpu")
DTYPES = ("float64", "float32")


def namespace(device: str = "cpu", dtype: str = "float64"):
    """(array-API namespace, dtype) for a device; a clear error when it cannot be had."""
    if device == "cpu":
        import array_api_compat.numpy as xp
    elif device == "gpu":
        try:
            import cupy
        except ImportError:
            raise MatdError("--device gpu needs CuPy, which is not installed",
                            hint="pip install 'matd[gpu]' on a machine with a CUDA GPU") from None
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
