"""Reading ``--at NAME=VALUE`` inputs: .npy, .npz[:key], .csv/.txt, literals, '-'.

>>> load_value("x", "[1, 2, 3]")[0].tolist()
[1.0, 2.0, 3.0]
"""
from __future__ import annotations

import ast
import io
import os
import sys

from matd.cli.sources import InputError

_STDIN_CACHE: dict = {}


def parse_at(items) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise InputError(f"--at {item}: expected NAME=VALUE",
                             hint="e.g. --at X=data.npy or --at x=[1,2,3] or --at c=0.5")
        name, value = item.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise InputError(f"--at {item}: '{name}' is not a variable name")
        if any(n == name for n, _ in out):
            raise InputError(f"--at {name} is given twice", hint="give each variable once")
        out.append((name, value.strip()))
    return out


def _npz_pick(z, name: str, key: str | None, where: str):
    keys = list(z.keys())
    if key is None:
        if name in keys:
            key = name
        elif len(keys) == 1:
            key = keys[0]
        else:
            spelled = "-" if where == "<stdin>" else where
            raise InputError(f"--at {name}: {where} holds {', '.join(keys)}; say which",
                             hint=f"--at {name}={spelled}:KEY")
    if key not in keys:
        raise InputError(f"--at {name}: no array '{key}' in {where}",
                         hint=f"it holds: {', '.join(keys)}")
    return z[key]


def load_value(name: str, text: str):
    """(array, where it came from) for one --at value."""
    import numpy as np
    if text == "-" or text.startswith("-:"):
        key = text[2:] or None
        if "z" not in _STDIN_CACHE:
            data = sys.stdin.buffer.read()
            try:
                _STDIN_CACHE["z"] = np.load(io.BytesIO(data), allow_pickle=False)
            except Exception as e:  # noqa: BLE001
                raise InputError(f"--at {name}=-: standard input is not an .npz archive "
                                 f"({e})") from None
        z = _STDIN_CACHE["z"]
        if not hasattr(z, "keys"):
            return np.asarray(z), "<stdin>"
        return _npz_pick(z, name, key, "<stdin>"), "<stdin>"
    path, key = text, None
    if ".npz:" in text:
        path, key = text.split(".npz:", 1)
        path += ".npz"
    low = path.lower()
    if low.endswith((".npy", ".npz", ".csv", ".txt")) or os.path.exists(path):
        if not os.path.exists(path):
            raise InputError(f"--at {name}: cannot read '{path}': no such file")
        try:
            if low.endswith(".npy"):
                return np.load(path, allow_pickle=False), path
            if low.endswith(".npz"):
                with np.load(path, allow_pickle=False) as z:
                    return np.array(_npz_pick(z, name, key, path)), path
            delim = "," if low.endswith(".csv") else None
            return np.loadtxt(path, delimiter=delim, dtype=float), path
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file is an input error
            raise InputError(f"--at {name}: cannot read '{path}': {e}") from None
    try:
        lit = ast.literal_eval(text)
        arr = np.asarray(lit, dtype=float)
    except Exception:  # noqa: BLE001
        raise InputError(f"--at {name}={text}: not a file, and not a number or a list",
                         hint="a .npy/.npz/.csv/.txt path, 0.5, [1,2,3] or [[1,2],[3,4]]") from None
    return arr, "the command line"


def parse_dims(text: str | None) -> dict:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise InputError(f"--dims {text}: expected NAME=SIZE pairs, e.g. m=3,n=4")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = int(v)
        except ValueError:
            raise InputError(f"--dims: size of {k.strip()} must be an integer, got {v!r}") \
                from None
        if out[k.strip()] < 1:
            raise InputError(f"--dims: size of {k.strip()} must be positive")
    return out


def write_atomic(path: str, arrays: dict) -> None:
    """Write .npy (one array) or .npz, via a temporary file renamed into place."""
    import tempfile

    import numpy as np
    low = path.lower()
    if not low.endswith((".npy", ".npz")):
        raise InputError(f"--out {path}: the output must be a .npy or .npz file")
    if low.endswith(".npy") and len(arrays) != 1:
        raise InputError(f"--out {path}: several results need an .npz file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"--out {path}: no such folder '{folder}'")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".matd-", suffix=low[-4:])
    try:
        with os.fdopen(fd, "wb") as fh:
            if low.endswith(".npy"):
                np.save(fh, next(iter(arrays.values())))
            else:
                np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
