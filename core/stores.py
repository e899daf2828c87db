"""Arrays on disk for ``--backend dask``: lazy, path-only readers and blockwise writers.

Reading.  ``lazy_input(name, text)`` recognises an ``--at NAME=TEXT`` that names data too
large to load: a .npy file, .npy shards (a folder of them, or a glob such as
``data/part-*.npy``, stacked by rows in name order), a .zarr store (``data.zarr``,
``data.zarr:X``) or an HDF5 dataset (``data.h5:X``).  It reads only headers and metadata,
checks them (numbers, at most 2-d, shards that agree), and returns a ``Stored``: shape,
dtype and a description for messages.  ``Stored.to_dask(rows)`` builds a dask array whose
graph holds small *readers*: frozen dataclasses of a path, a shape, a dtype and (for
.npy) the data offset, never an open file or any data.  Each reader opens its file inside
``__getitem__``, on whichever process runs the task, and returns one block.  So the graph
pickles to a few hundred bytes per file; on a dask.distributed cluster the workers read
their blocks from the (shared) filesystem themselves and no data passes through the
client; and h5py datasets, which cannot be pickled, are never in the graph.

Writing.  ``pending_write(path, arrays)`` prepares the output beside the target, as a
temporary (``.matd-<pid>-<random>.npy`` or ``.zarr``) in the same folder: a .npy header
(``open_memmap``) or the zarr array metadata is written at once, and the data is left to
``da.store`` tasks that write block by block through path-only *writers* (a writer opens
the memmap or zarr array by path in ``__setitem__``), so no result is ever gathered in
memory and distributed workers write their own blocks.  The caller computes
``Pending.tasks`` with its other results, then ``commit()`` renames the finished
temporary into place (atomically for a .npy; a .zarr directory replaces an old store by
renaming it aside first), or ``abort()`` removes it, leaving the target untouched.  Tasks
of a failed computation may still be running when ``abort()`` is called: a .npy writer
cannot bring the removed file back (it opens it 'r+'), and a zarr writer, since zarr
creates the folders it writes in, writes only while the temporary's marker file is there
and removes the store again if the marker went away while it wrote.

dask, zarr and h5py are imported only when an input or output needs them; a missing one
is an ``InputError`` naming the extra to install.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import time
from dataclasses import dataclass

import numpy as np

from matd.core.errors import InputError

_ZARR = re.compile(r"^(?P<path>.*\.zarr)/?(?::(?P<key>.*))?$", re.IGNORECASE)
_HDF5 = re.compile(r"^(?P<path>.*\.(?:h5|hdf5))(?::(?P<key>.*))?$", re.IGNORECASE)
_GLOB_CHARS = "*?["
_NUMERIC_KINDS = "biufc"    # bool, signed and unsigned integers, floats, complex
_NAMES_SHOWN = 8


# -- readers: small, picklable, path-only ------------------------------------------------

class _Reader:
    """What dask's from_array asks of a source besides blocks: its number of axes."""

    shape: tuple

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class _NpyReader(_Reader):
    """Blocks of a .npy file, each a memory map of its own rows (the file's pages, not a
    copy; unmapped when the block is dropped), other blocks copied out of a memory map
    opened for the block."""

    path: str
    shape: tuple
    dtype: np.dtype
    offset: int
    fortran: bool

    def __getitem__(self, key):
        rows = self._rows(key)
        if rows is not None:   # whole rows of a C-order file: a map of just those bytes
            start, stop = rows
            width = int(np.prod(self.shape[1:], dtype=np.int64))
            count = (stop - start) * width
            block = _mapped(self.path, self.offset + start * width * self.dtype.itemsize,
                            count, self.dtype) if count else np.empty(0, self.dtype)
            return block.reshape((stop - start,) + tuple(self.shape[1:]))
        data = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset,
                         shape=self.shape, order="F" if self.fortran else "C")
        return np.array(data[key])

    def _rows(self, key) -> tuple[int, int] | None:
        """(start, stop) when key takes whole rows of a C-order array, else None."""
        key = key if isinstance(key, tuple) else (key,)
        if self.fortran or not self.shape or len(key) != len(self.shape) or \
                not all(isinstance(k, slice) for k in key):
            return None
        start, stop, step = key[0].indices(self.shape[0])
        whole = all(k.indices(n) == (0, n, 1) for k, n in zip(key[1:], self.shape[1:]))
        return (start, max(start, stop)) if step == 1 and whole else None


def _mapped(path: str, start: int, count: int, dtype: np.dtype) -> np.ndarray:
    """``count`` items of ``dtype`` at byte ``start`` of a file, as a read-only array on a
    memory map of those bytes, its pages faulted in at once (MAP_POPULATE, where there
    is one: one call instead of a fault per page).  No copy is made, no memory allocated:
    the pages are the page cache's, and the map goes with the array."""
    import mmap
    begin = start - start % mmap.ALLOCATIONGRANULARITY
    length = start - begin + count * dtype.itemsize
    with open(path, "rb") as f:
        if hasattr(mmap, "MAP_SHARED"):
            mm = mmap.mmap(f.fileno(), length, prot=mmap.PROT_READ, offset=begin,
                           flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
        else:   # Windows
            mm = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=begin)
    return np.frombuffer(mm, dtype=dtype, count=count, offset=start - begin)


@dataclass(frozen=True)
class _ZarrReader(_Reader):
    """Blocks of a zarr array (``component``: its path in the store, '' for the root)."""

    path: str
    component: str
    shape: tuple
    dtype: np.dtype

    def __getitem__(self, key):
        import zarr
        return np.asarray(zarr.open_array(self.path, mode="r", path=self.component)[key])


@dataclass(frozen=True)
class _H5Reader(_Reader):
    """Blocks of an HDF5 dataset; the file is opened for each block (h5py objects do not
    pickle, and a file kept open would not follow the task to another process)."""

    path: str
    dataset: str
    shape: tuple
    dtype: np.dtype

    def __getitem__(self, key):
        import h5py
        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.dataset][key])


class Stored:
    """An input on disk: ``shape``, ``dtype``, ``where`` (for messages), and its data as a
    dask array on demand.  Shards are stacked by rows, in order."""

    def __init__(self, name: str, where: str, parts: list):
        self.name = name
        self.where = where
        self._parts = parts
        first = parts[0]
        rows = sum(p.shape[0] for p in parts) if first.ndim else None
        self.shape = tuple(first.shape) if rows is None else (rows, *first.shape[1:])
        self.dtype = first.dtype

    def __repr__(self) -> str:
        return f"Stored({self.where}, shape={self.shape}, dtype={self.dtype})"

    def to_dask(self, rows: int | None):
        """A dask array of the data, in blocks of ``rows`` rows (the last block of each
        file may be shorter), each holding whole rows; ``None``: each file one block.
        Nothing is read here."""
        if rows is not None and rows < 1:
            raise ValueError(f"rows must be positive, got {rows}")
        da = _dask(f"--at {self.name}: reading {self.where} blockwise")
        blocks = [_from_reader(da, part, rows) for part in self._parts]
        return blocks[0] if len(blocks) == 1 else da.concatenate(blocks, axis=0)


def _from_reader(da, reader, rows: int | None):
    """One file's dask array: chunked along axis 0 only; ``meta`` given so that dask
    never slices the reader (which would read the file) to find it."""
    chunks = tuple(reader.shape)
    if rows is not None and chunks:
        chunks = (rows, *chunks[1:])
    return da.from_array(reader, chunks=chunks, asarray=True, fancy=False, lock=False,
                         meta=np.empty((0,) * reader.ndim, dtype=reader.dtype))


def lazy_input(name: str, text: str) -> Stored | None:
    """The ``Stored`` for ``--at NAME=TEXT`` when TEXT names a .npy file, .npy shards (a
    folder, or a glob ending in .npy), a .zarr store (``:component`` optional) or an HDF5
    dataset (``file.h5:dataset``); None for anything else (literals, .csv, .npz, '-'),
    which ``cli.inputs.load_value`` reads as before.  Only headers and metadata are read.

    >>> lazy_input("c", "0.5") is None and lazy_input("A", "a.csv") is None
    True
    """
    if text == "-" or text.startswith("-:"):
        return None
    zarr_match, h5_match = _ZARR.match(text), _HDF5.match(text)
    if zarr_match:
        return _zarr_input(name, zarr_match["path"], zarr_match["key"] or None)
    if h5_match:
        return _h5_input(name, h5_match["path"], h5_match["key"] or None)
    if text.lower().endswith(".npy"):
        if any(c in text for c in _GLOB_CHARS) and not os.path.lexists(text):
            return _shards(name, f"'{text}'", sorted(glob.glob(text)), f"'{text}' matches")
        return Stored(name, f"'{text}'", [_npy_reader(name, text)])
    if os.path.isdir(text):
        return _shards(name, f"'{text}'", _npy_files_in(text), f"'{text}' holds")
    return None


def _npy_files_in(folder: str) -> list[str]:
    """The .npy files of a folder, by name; hidden ones (such as matd's temporaries) left out."""
    return sorted(os.path.join(folder, e.name) for e in os.scandir(folder)
                  if e.name.lower().endswith(".npy") and not e.name.startswith(".")
                  and e.is_file())


def _shards(name: str, spelled: str, paths: list[str], found: str) -> Stored:
    """.npy shards stacked by rows: each must have the first one's dimensions, columns and
    dtype."""
    paths = [p for p in paths if p.lower().endswith(".npy")]
    if not paths:
        raise InputError(f"--at {name}: {found} no .npy files",
                         hint="give a folder of .npy shards, or a pattern such as "
                         "'data/part-*.npy'")
    parts = [_npy_reader(name, p) for p in paths]
    first = parts[0]
    for path, part in zip(paths, parts):
        if part.ndim == 0:
            raise InputError(f"--at {name}: shard '{path}' is a scalar; shards are stacked "
                             "by rows", hint="save each shard as a vector or a matrix")
        if part.ndim != first.ndim:
            raise InputError(f"--at {name}: shard '{path}' is {part.ndim}-d, but "
                             f"'{paths[0]}' is {first.ndim}-d", hint=_AGREE)
        if part.shape[1:] != first.shape[1:]:
            raise InputError(f"--at {name}: shard '{path}' has {part.shape[1]} columns, but "
                             f"'{paths[0]}' has {first.shape[1]}", hint=_AGREE)
        if part.dtype != first.dtype:
            raise InputError(f"--at {name}: shard '{path}' is {part.dtype}, but "
                             f"'{paths[0]}' is {first.dtype}", hint=_AGREE)
    count = f"{len(parts)} shard{'s' if len(parts) > 1 else ''}"
    return Stored(name, f"{spelled} ({count})", parts)


_AGREE = "shards are stacked by rows: all must have the same columns and dtype"


def _npy_reader(name: str, path: str) -> _NpyReader:
    """A reader for one .npy file, from its header (the data is not touched)."""
    from matd.core.npyfile import npy_header
    size = _regular_size(name, path)
    try:
        with open(path, "rb") as fh:
            shape, fortran, dtype = npy_header(fh)
            offset = fh.tell()
    except OSError as e:
        raise InputError(f"--at {name}: cannot read '{path}': {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - any malformed header is an input error
        raise InputError(f"--at {name}: '{path}' is not a .npy array ({e})",
                         hint="write it with numpy.save") from None
    _check_array(name, f"'{path}'", shape, dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + nbytes > size:
        raise InputError(f"--at {name}: '{path}' is truncated: its header declares shape "
                         f"{tuple(shape)} ({dtype}, {nbytes} bytes) but "
                         f"{size - offset} bytes follow")
    return _NpyReader(os.path.abspath(path), tuple(shape), dtype, offset, fortran)


def _regular_size(name: str, path: str) -> int:
    """The size of a regular file (a FIFO or device would block or never end)."""
    if not os.path.lexists(path):
        raise InputError(f"--at {name}: cannot read '{path}': no such file")
    if not os.path.isfile(path):
        raise InputError(f"--at {name}: cannot read '{path}': not a regular file")
    return os.path.getsize(path)


def _check_array(name: str, where: str, shape, dtype) -> None:
    """Numbers (any numeric dtype; the caller converts), in at most 2 dimensions."""
    if dtype.kind not in _NUMERIC_KINDS:
        what = "Python objects" if dtype.hasobject else f"{dtype} data"
        raise InputError(f"--at {name}: {where} holds {what}, not numbers",
                         hint="save numbers, e.g. an array of float64")
    if len(shape) > 2:
        raise InputError(f"--at {name}: {where} has {len(shape)} dimensions "
                         f"(shape {tuple(shape)}); matd takes scalars, vectors and matrices")


def _zarr_input(name: str, path: str, component: str | None) -> Stored:
    """A zarr array: the store itself, or a group's member (``component``, else the member
    called NAME, else the only one)."""
    zarr = _optional("zarr", "zarr", f"--at {name}: reading '{path}'")
    if not os.path.exists(path):
        raise InputError(f"--at {name}: cannot read '{path}': no such file or directory")
    try:
        node = zarr.open(path, mode="r")
    except Exception as e:  # noqa: BLE001 - whatever zarr finds wrong with the store
        raise InputError(f"--at {name}: '{path}' is not a zarr store ({e})") from None
    if isinstance(node, zarr.Array):
        if component is not None:
            raise InputError(f"--at {name}: '{path}' is a single array, not a group",
                             hint=f"--at {name}={path}")
        return _zarr_stored(name, path, "", node)
    members = dict(_zarr_arrays(node))
    component = _pick(name, path, component, members, "group", "zarr")
    return _zarr_stored(name, path, component, members[component])


def _zarr_arrays(group, prefix: str = ""):
    """(path, array) of every array in a zarr group, subgroups included."""
    for key, array in group.arrays():
        yield prefix + key, array
    for key, subgroup in group.groups():
        yield from _zarr_arrays(subgroup, f"{prefix}{key}/")


def _zarr_stored(name: str, path: str, component: str, array) -> Stored:
    """The ``Stored`` of a checked zarr array (``component`` '' for the store's root)."""
    where = f"'{path}:{component}'" if component else f"'{path}'"
    _check_array(name, where, array.shape, np.dtype(array.dtype))
    reader = _ZarrReader(os.path.abspath(path), component, tuple(array.shape),
                         np.dtype(array.dtype))
    return Stored(name, where, [reader])


def _h5_input(name: str, path: str, dataset: str | None) -> Stored:
    """An HDF5 dataset: ``dataset``, else the one called NAME, else the only one."""
    h5py = _optional("h5py", "hdf5", f"--at {name}: reading '{path}'")
    _regular_size(name, path)
    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001 - not HDF5, or damaged
        raise InputError(f"--at {name}: '{path}' is not an HDF5 file ({e})") from None
    with f:
        datasets = _h5_datasets(h5py, f)
        dataset = _pick(name, path, dataset, datasets, "file", "HDF5")
        ds = datasets[dataset]
        where = f"'{path}:{dataset}'"
        _check_array(name, where, ds.shape, ds.dtype)
        reader = _H5Reader(os.path.abspath(path), dataset, tuple(ds.shape), ds.dtype)
    return Stored(name, where, [reader])


def _h5_datasets(h5py, f) -> dict:
    """path -> dataset, for every dataset in an open HDF5 file, groups included."""
    found: dict = {}

    def visit(key, obj):
        if isinstance(obj, h5py.Dataset):
            found[key] = obj
    f.visititems(visit)
    return found


def _pick(name: str, path: str, key: str | None, arrays: dict, container: str,
          kind: str) -> str:
    """The array for --at NAME in a group of ``arrays``: KEY, else the one called NAME,
    else the only one (as for .npz archives)."""
    if key is None:
        if name in arrays:
            return name
        if len(arrays) == 1:
            return next(iter(arrays))
        if not arrays:
            raise InputError(f"--at {name}: the {kind} {container} '{path}' holds no arrays")
        raise InputError(f"--at {name}: the {kind} {container} '{path}' holds "
                         f"{len(arrays)} arrays ({_names(arrays)}); say which",
                         hint=f"--at {name}={path}:NAME")
    key = key.strip("/")
    if key not in arrays:
        raise InputError(f"--at {name}: no array '{key}' in '{path}'",
                         hint=f"it holds {len(arrays)}: {_names(arrays)}")
    return key


def _names(keys) -> str:
    """The first few names, then how many more."""
    keys = sorted(keys)
    shown = ", ".join(keys[:_NAMES_SHOWN])
    more = len(keys) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "") if keys else "nothing"


def _optional(module: str, extra: str, doing: str):
    """An optional dependency, imported now; missing, an InputError with the pip line."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{doing} needs {module.split('.')[0]}, which is not installed",
                         hint=f"pip install 'matd[{extra}]'") from None


def _dask(doing: str):
    """dask.array, or an InputError saying how to install it."""
    return _optional("dask.array", "dask", doing)


# -- writers: blockwise, into a temporary renamed into place -------------------------------

@dataclass(frozen=True)
class _NpyWriter:
    """Writes blocks into a .npy file whose header is already written, by path."""

    path: str
    shape: tuple
    dtype: np.dtype
    offset: int

    def __setitem__(self, key, value) -> None:
        data = np.memmap(self.path, dtype=self.dtype, mode="r+", offset=self.offset,
                         shape=self.shape)
        data[key] = value
        data.flush()


_WRITING = ".matd-writing"   # in a temporary .zarr store while it may be written; abort removes it


@dataclass(frozen=True)
class _ZarrWriter:
    """Writes blocks into an existing zarr array of the temporary store ``path``, by path.

    zarr creates the folders it writes in, so a task still running after the computation
    failed and the store was aborted would bring part of it back; a writer therefore
    writes only while the store's marker file is there, and if the marker is gone once it
    has written, it removes the store again."""

    path: str
    component: str

    def __setitem__(self, key, value) -> None:
        import zarr
        marker = os.path.join(self.path, _WRITING)
        if not os.path.exists(marker):
            raise FileNotFoundError(f"the write to '{self.path}' was aborted")
        try:
            zarr.open_array(self.path, mode="r+", path=self.component)[key] = value
        finally:
            if not os.path.exists(marker):
                shutil.rmtree(self.path, ignore_errors=True)


class Pending:
    """A write in progress: compute ``tasks`` (with the other results, in one
    ``dask.compute``; their values are of no use), then ``commit()``, or ``abort()``."""

    def __init__(self, path: str, temporary: str, tasks: list):
        self.path = path
        self.tasks = tasks
        self._temporary: str | None = temporary

    def commit(self) -> None:
        """Move the finished temporary into place: ``os.replace`` for a .npy (atomic); for a
        .zarr directory an existing target is renamed aside, the new store renamed in,
        and the old one removed (put back if the rename fails)."""
        temporary = self._temporary
        if temporary is None:
            raise RuntimeError(f"the write of '{self.path}' was already committed or aborted")
        try:
            if os.path.isdir(temporary):
                os.unlink(os.path.join(temporary, _WRITING))
                _replace_tree(temporary, self.path)
            else:
                _fsync(temporary)
                os.replace(temporary, self.path)
        except OSError as e:
            self.abort()
            raise InputError(f"--out {self.path}: cannot write it: {e.strerror or e}") \
                from None
        self._temporary = None

    def abort(self) -> None:
        """Remove the temporary (the target is untouched); nothing to do after commit().
        Safe while tasks of a failed computation are still writing (see _ZarrWriter)."""
        if self._temporary is not None:
            if os.path.isdir(self._temporary):
                _remove(os.path.join(self._temporary, _WRITING))   # the writers stop first
            _remove(self._temporary)
            self._temporary = None


def pending_write(path: str, arrays: dict) -> Pending:
    """Prepare writing ``arrays`` (name -> dask or numpy array) blockwise to ``path``: a
    .npy (exactly one array) or a .zarr store (one array: an array store; several: a
    group with one array per name).  Headers and metadata are written to a temporary
    beside ``path`` now; the data is written when ``Pending.tasks`` are computed."""
    if not arrays:
        raise ValueError("pending_write needs at least one array")
    folder = _check_target(path, len(arrays))
    da = _dask(f"--out {path}: writing it blockwise")
    zarr = _optional("zarr", "zarr", f"--out {path}: writing it") \
        if _is_zarr(path) else None
    sources = {k: _as_dask(da, v) for k, v in arrays.items()}
    try:
        temporary = _reserve(folder, ".zarr" if zarr else ".npy", directory=bool(zarr))
    except OSError as e:
        raise InputError(f"--out {path}: cannot write in '{folder}': {e.strerror or e}") \
            from None
    try:
        if zarr:
            tasks = _zarr_tasks(da, zarr, temporary, sources)
        else:
            tasks = [_npy_task(da, temporary, next(iter(sources.values())))]
    except BaseException as e:
        _remove(temporary)
        if isinstance(e, OSError):
            raise InputError(f"--out {path}: cannot write it: {e.strerror or e}") from None
        raise
    return Pending(path, temporary, tasks)


def _is_zarr(path: str) -> bool:
    """Whether an output path names a zarr store (a trailing '/' allowed)."""
    return path.rstrip("/").lower().endswith(".zarr")


def _check_target(path: str, count: int) -> str:
    """The folder to write in, after checking the target can be written (nothing is)."""
    if not path.lower().endswith(".npy") and not _is_zarr(path):
        raise InputError(f"--out {path}: a blockwise output must be a .npy file or a "
                         ".zarr store", hint="e.g. --out result.npy or --out results.zarr")
    if not _is_zarr(path):
        if count != 1:
            raise InputError(f"--out {path}: several results need a .zarr store",
                             hint="e.g. --out results.zarr")
        if os.path.isdir(path):
            raise InputError(f"--out {path}: is a directory", hint="give a file name")
    elif os.path.lexists(path) and not _replaceable_store(path):
        raise InputError(f"--out {path}: exists and is not a zarr store; matd replaces only "
                         "a zarr store (or an empty folder)", hint="give another name")
    folder = os.path.dirname(os.path.abspath(path.rstrip("/")))
    if not os.path.isdir(folder):
        raise InputError(f"--out {path}: no such folder '{folder}'")
    return folder


def _replaceable_store(path: str) -> bool:
    """Whether an existing .zarr target may be replaced: a zarr store or an empty folder."""
    if not os.path.isdir(path) or os.path.islink(path):
        return False
    names = set(os.listdir(path))
    return not names or bool(names & {"zarr.json", ".zgroup", ".zarray"})


def _as_dask(da, array):
    """A dask array as it is; anything else (numpy) as one block."""
    if isinstance(array, da.Array):
        return array
    return da.from_array(np.asarray(array), chunks=-1)


def _reserve(folder: str, suffix: str, directory: bool) -> str:
    """A new, empty file or folder of a name no one else has, beside the target."""
    for _ in range(100):
        name = os.path.join(folder, f".matd-{os.getpid()}-{os.urandom(6).hex()}{suffix}")
        try:
            if directory:
                os.mkdir(name)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in '{folder}'")


def _npy_task(da, temporary: str, source):
    """The header now; the blocks by a store task through a path-only writer."""
    from numpy.lib.format import open_memmap
    header = open_memmap(temporary, mode="w+", dtype=source.dtype, shape=source.shape)
    writer = _NpyWriter(temporary, tuple(source.shape), header.dtype, header.offset)
    del header
    return da.store(source, writer, lock=False, compute=False)


def _zarr_tasks(da, zarr, temporary: str, sources: dict) -> list:
    """The arrays' metadata now (a group when there are several); the blocks by store
    tasks.  Each dask block is exactly one zarr chunk, so no two tasks write the same
    chunk."""
    open(os.path.join(temporary, _WRITING), "xb").close()
    if len(sources) > 1:
        zarr.open_group(temporary, mode="a")
    targets, regular = [], []
    for key, source in sources.items():
        component = key if len(sources) > 1 else ""
        source = _regular(source)
        zarr.create(shape=source.shape, chunks=tuple(max(c[0], 1) for c in source.chunks),
                    dtype=source.dtype, store=temporary, path=component)
        targets.append(_ZarrWriter(temporary, component))
        regular.append(source)
    stored = da.store(regular, targets, lock=False, compute=False)
    return list(stored) if isinstance(stored, tuple) else [stored]   # one source: not a tuple


def _regular(source):
    """``source`` with regular chunks (all as the first, the last possibly smaller), as
    zarr chunks are; irregular ones (from shards) are merged to the largest."""
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in source.chunks):
        return source
    return source.rechunk(tuple(max(c) for c in source.chunks))


def _replace_tree(new: str, target: str) -> None:
    """Rename the folder ``new`` to ``target``; an existing target is renamed aside first
    and removed once the new one is in place (renamed back if that fails)."""
    target = target.rstrip("/") or target
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    aside = os.path.join(os.path.dirname(os.path.abspath(target)),
                         f".matd-{os.getpid()}-{os.urandom(6).hex()}.old")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(aside, target)
        raise
    _remove(aside)


def _fsync(path: str) -> None:
    """Flush a written file to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_REMOVE_TRIES = 100


def _remove(path: str) -> None:
    """Remove a file or a folder tree; one already gone is fine.  A folder that changes
    while it is removed (a straggling task writing, or removing it too) is tried again,
    for up to a second."""
    for _ in range(_REMOVE_TRIES):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            return
        except OSError:
            if not os.path.lexists(path):
                return
        time.sleep(0.01)
