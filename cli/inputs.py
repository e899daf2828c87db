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


BOMB_FLOOR = 256 << 20   # a compressed member inflating beyond this …
BOMB_RATIO = 100         # … at more than this ratio is refused as a decompression bomb
_NAMES_SHOWN = 8


def _names(keys) -> str:
    """A short list of an archive's names: the first few, then how many more."""
    keys = list(keys)
    shown = ", ".join(keys[:_NAMES_SHOWN])
    more = len(keys) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "") if keys else "nothing"


def _limit() -> int:
    from matd.core.backend import allocation_limit
    return allocation_limit()


def _too_big(what: str, n: int, detail: str = "") -> InputError:
    from matd.core.backend import human_bytes
    return InputError(f"{what}{detail} would need {human_bytes(n)}, more than matd allows "
                      f"on this machine ({human_bytes(_limit())}, half its memory)",
                      hint="give a smaller array")


MMAP_FLOOR = 1 << 20   # a .npy file's data from this size on is memory-mapped, not read


def _read_npy(fh, avail: int, what: str, mappable: bool = False):
    """An array from a .npy stream, its header checked before any data is read: no
    pickled objects, and the declared size must fit both the bytes there and the memory.
    ``mappable`` (a regular file): data of MMAP_FLOOR bytes or more is memory-mapped
    read-only instead of copied in, so pages are read as the computation needs them
    and nothing can write into the file."""
    import numpy as np

    from matd.core.npyfile import npy_header
    start = fh.tell()
    try:
        shape, fortran, dtype = npy_header(fh)
    except Exception as e:  # noqa: BLE001 - any malformed header is an input error
        raise InputError(f"{what} is not a .npy array ({e})") from None
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects (pickled data), which matd never loads",
                         hint="save numbers, e.g. np.save(path, np.asarray(a, dtype=float))")
    count = 1
    for k in shape:
        count *= int(k)
    nbytes = count * dtype.itemsize
    left = avail - (fh.tell() - start)
    if nbytes > _limit():
        raise _too_big(what, nbytes, f" (shape {tuple(shape)}, {dtype})")
    if nbytes > left:
        raise InputError(f"{what} is truncated: its header declares shape {tuple(shape)} "
                         f"({dtype}, {nbytes} bytes) but {max(left, 0)} bytes follow")
    if mappable and nbytes >= MMAP_FLOOR:
        return np.memmap(fh, dtype=dtype, mode="r", offset=fh.tell(), shape=tuple(shape),
                         order="F" if fortran else "C")
    buf = bytearray(nbytes)
    view, got = memoryview(buf), 0
    while got < nbytes:
        n = fh.readinto(view[got:])
        if not n:
            raise InputError(f"{what} is truncated: {nbytes - got} bytes of data are missing")
        got += n
    arr = np.frombuffer(buf, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C")


def _npz_members(fh, what: str):
    """(the ZipFile, key -> ZipInfo) of an .npz archive (keys as np.load names them: '.npy' dropped)."""
    import zipfile
    try:
        zf = zipfile.ZipFile(fh)
    except Exception as e:  # noqa: BLE001 - not a zip, or a damaged one
        raise InputError(f"{what} is not an .npz archive ({e})") from None
    out = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        out.setdefault(key, info)
    return zf, out


def _npz_member(zf, info, what: str):
    """One member, refused before inflating when its declared size is too large."""
    import zipfile
    from matd.core.backend import human_bytes
    size, packed = info.file_size, info.compress_size
    if size > _limit():
        raise _too_big(what, size)
    if info.compress_type != zipfile.ZIP_STORED and size > BOMB_FLOOR and \
            size > BOMB_RATIO * max(packed, 1):
        raise InputError(f"{what} would inflate {human_bytes(packed)} to {human_bytes(size)}: "
                         "refused as a decompression bomb",
                         hint=f"matd inflates a member beyond {human_bytes(BOMB_FLOOR)} only at "
                         f"a ratio up to {BOMB_RATIO}:1; store the array uncompressed (np.savez)")
    try:
        with zf.open(info) as fh:
            return _read_npy(fh, size, what)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged or encrypted member
        raise InputError(f"{what} cannot be read ({e})") from None


def _npz_pick(fh, name: str, key: str | None, where: str):
    """The array for --at NAME from an .npz: KEY, else the member called NAME, else the
    only member."""
    spelled = "-" if where == "<stdin>" else where
    place = "standard input" if where == "<stdin>" else where
    zf, members = _npz_members(fh, place)
    with zf:
        if key is None:
            if name in members:
                key = name
            elif len(members) == 1:
                key = next(iter(members))
            elif not members:
                raise InputError(f"--at {name}: {place} is an empty .npz archive")
            else:
                raise InputError(f"--at {name}: {place} holds {len(members)} arrays "
                                 f"({_names(members)}); say which",
                                 hint=f"--at {name}={spelled}:KEY")
        if key not in members:
            raise InputError(f"--at {name}: no array '{key}' in {place}",
                             hint=f"it holds {len(members)}: {_names(members)}")
        return _npz_member(zf, members[key], f"--at {name}: array '{key}' of {place}")


def _stdin_value(name: str, key: str | None):
    """--at NAME=- (or -:KEY): an .npz (or .npy) read once from standard input."""
    if "data" not in _STDIN_CACHE:
        from matd.cli.sources import read_stdin_bytes
        _STDIN_CACHE["data"] = read_stdin_bytes(_limit())
    data = _STDIN_CACHE["data"]
    fh = io.BytesIO(data)
    if data.startswith(b"\x93NUMPY"):
        if key is not None:
            raise InputError(f"--at {name}=-:{key}: standard input is a .npy array, not an "
                             ".npz archive", hint=f"--at {name}=-")
        return _read_npy(fh, len(data), f"--at {name}: standard input")
    if not data.startswith(b"PK"):
        raise InputError(f"--at {name}=-: standard input is not an .npz archive "
                         "(nor a .npy array)",
                         hint="pipe the bytes of np.savez (or np.save) into matd")
    return _npz_pick(fh, name, key, "<stdin>")


def load_value(name: str, text: str):
    """(array, where it came from) for one --at value."""
    import numpy as np

    from matd.cli.sources import decode_text, open_regular
    if text == "-" or text.startswith("-:"):
        return _stdin_value(name, text[2:] or None), "<stdin>"
    path, key = text, None
    if ".npz:" in text:
        path, key = text.split(".npz:", 1)
        path += ".npz"
    low = path.lower()
    if low.endswith((".npy", ".npz", ".csv", ".txt")) or os.path.exists(path):
        if not os.path.lexists(path):
            raise InputError(f"--at {name}: cannot read '{path}': no such file")
        fh, n = open_regular(path, f"'{path}' (--at {name})")
        with fh:
            head = fh.read(6)
            fh.seek(0)
            try:
                if head.startswith(b"\x93NUMPY"):
                    return _read_npy(fh, n, f"--at {name}: '{path}'", mappable=True), path
                if head.startswith(b"PK"):
                    return _npz_pick(fh, name, key, path), path
                if low.endswith((".npy", ".npz")):
                    raise InputError(f"--at {name}: '{path}' is not a "
                                     f"{'.npy array' if low.endswith('.npy') else '.npz archive'}")
                if n > _limit() // 8:   # text takes several times its size to parse
                    raise _too_big(f"--at {name}: '{path}'", 8 * n, " (as text)")
                text_ = decode_text(fh.read(), f"'{path}'")
                delim = "," if low.endswith(".csv") else None
                return np.loadtxt(io.StringIO(text_), delimiter=delim, dtype=float), path
            except InputError:
                raise
            except MemoryError:
                raise _too_big(f"--at {name}: '{path}'", n) from None
            except Exception as e:  # noqa: BLE001 - any unreadable file is an input error
                raise InputError(f"--at {name}: cannot read '{path}': {e}") from None
    try:
        lit = ast.literal_eval(text)
        arr = np.asarray(lit, dtype=float)
    except Exception:  # noqa: BLE001
        raise InputError(f"--at {name}={text}: not a file, and not a number or a list",
                         hint="a .npy/.npz/.csv/.txt path, 0.5, [1,2,3] or [[1,2],[3,4]]") from None
    return arr, "the command line"


def json_value(name: str, v):
    """(array, where it came from) for a value in a ``--batch`` item's "at": a number or
    nested lists of numbers, or a string as ``--at`` takes it (a file or a literal; not -,
    which is the batch itself).

    >>> json_value("x", [1, 2])[0].tolist()
    [1.0, 2.0]
    """
    import numpy as np
    if isinstance(v, str):
        if v == "-" or v.startswith("-:"):
            raise InputError(f'"at": {name}: "-" is the batch itself (standard input)',
                             hint="give the value, a number or a list, or a file")
        return load_value(name, v)
    if isinstance(v, bool) or v is None or isinstance(v, dict):
        raise InputError(f'"at": {name}: {json_dumps(v)} is not a number or a list of numbers')
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f'"at": {name}: not a number or a (rectangular) list of numbers',
                         hint="e.g. 0.5, [1, 2, 3] or [[1, 2], [3, 4]]") from None
    return arr, "the batch item"


def json_dumps(v) -> str:
    import json
    return json.dumps(v)


MAX_DIM = 2 ** 53   # sizes beyond this are no array's (and lose exactness as floats)


def parse_dims(text: str | None) -> dict:
    """--dims m=3,n=4 -> {'m': 3, 'n': 4}; each name once, each size a positive integer."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise InputError(f"--dims {text}: expected NAME=SIZE pairs, e.g. m=3,n=4")
        k, v = part.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise InputError(f"--dims {text}: '{k}' is not a dimension name",
                             hint="e.g. --dims m=3,n=4")
        if k in out:
            raise InputError(f"--dims {text}: {k} is given twice", hint="give each size once")
        try:
            n = int(v)
        except ValueError:
            raise InputError(f"--dims: size of {k} must be an integer, got {v!r}") from None
        if n < 1:
            raise InputError(f"--dims: size of {k} must be positive")
        if n > MAX_DIM:
            raise InputError(f"--dims: size of {k} is too large ({n})",
                             hint="no array of that size fits in memory; give a smaller size")
        out[k] = n
    return out


def _create_beside(folder: str, suffix: str) -> tuple[int, str]:
    """A new, empty file of a name no one else has in ``folder`` (the mode from the umask,
    as for any new file): (descriptor, path).  Like tempfile.mkstemp, without importing
    tempfile (shutil, random) at every start."""
    for _ in range(100):
        tmp = os.path.join(folder, f".matd-{os.getpid()}-{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in '{folder}'")


def write_atomic(path: str, arrays: dict) -> None:
    """Write .npy (one array) or .npz via a temporary file renamed into place: either the
    whole result is there, or nothing changed.  The file's mode honours the umask."""
    import numpy as np
    low = path.lower()
    if not low.endswith((".npy", ".npz")):
        raise InputError(f"--out {path}: the output must be a .npy or .npz file")
    if low.endswith(".npy") and len(arrays) != 1:
        raise InputError(f"--out {path}: several results need an .npz file")
    if os.path.isdir(path):
        raise InputError(f"--out {path}: is a directory", hint="give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"--out {path}: no such folder '{folder}'")
    try:
        fd, tmp = _create_beside(folder, low[-4:])
    except OSError as e:
        raise InputError(f"--out {path}: cannot write in '{folder}': {e.strerror or e}") \
            from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if low.endswith(".npy"):
                np.save(fh, next(iter(arrays.values())))
            else:
                np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise InputError(f"--out {path}: cannot write it: {e.strerror or e}") from None
        raise
