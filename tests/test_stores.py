"""core/stores.py: lazy, path-only readers of .npy / shards / .zarr / .h5 inputs, and
blockwise writers of .npy / .zarr outputs through a temporary renamed into place.

Every reader is checked against the data for row blocks and for one block; graphs are
checked to hold paths, not data; a 64 MB input is read without loading it; every error is
an InputError with its text asserted; the writers are checked for values, for nothing at
the target before commit(), and for abort() after a failed computation.  One test runs a
two-process dask.distributed cluster whose workers read and write the files themselves.
Tests needing dask, zarr, h5py or distributed skip (each on its own) where one is absent.
"""
from __future__ import annotations

import os
import sys
import time
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from matd.cli.sources import InputError
from matd.core.stores import lazy_input, pending_write

KB, MB = 1 << 10, 1 << 20


def dask_array():
    return pytest.importorskip("dask.array")


def graph_bytes(x) -> int:
    """The pickled size of a dask collection's graph, as shipped to a cluster."""
    cloudpickle = pytest.importorskip("cloudpickle")
    return len(cloudpickle.dumps(dict(x.__dask_graph__())))


def input_error(name: str, text: str) -> InputError:
    with pytest.raises(InputError) as e:
        lazy_input(name, text)
    return e.value


def temporaries(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".matd-"))


def compute(*tasks):
    import dask
    return dask.compute(*tasks, scheduler="threads")


def check_reads(stored, expected, rows: int):
    """The values of ``stored``, in blocks of ``rows`` and in one block, are ``expected``;
    blocks split only axis 0."""
    x = stored.to_dask(rows)
    assert stored.shape == x.shape == expected.shape and stored.dtype == expected.dtype
    assert all(len(c) == 1 for c in x.chunks[1:])
    assert_array_equal(x.compute(), expected)
    assert_array_equal(stored.to_dask(None).compute(), expected)


# -- readers -------------------------------------------------------------------------------

@pytest.mark.parametrize("array", [
    np.arange(60.0).reshape(20, 3),
    np.asfortranarray(np.arange(60, dtype=np.int32).reshape(20, 3)),
    np.arange(17, dtype=np.float32),
    np.array([[True, False]] * 5),
    np.float64(2.5),
], ids=["float64", "fortran-int32", "vector", "bool", "scalar"])
def test_an_npy_file_is_read_blockwise_with_its_dtype_and_shape(tmp_path, array):
    dask_array()
    path = tmp_path / "a.npy"
    np.save(path, array)
    stored = lazy_input("A", str(path))
    assert stored.where == f"'{path}'"
    check_reads(stored, np.asarray(array), rows=6)
    if array.ndim:
        sizes = stored.to_dask(6).chunks[0]
        assert set(sizes[:-1]) <= {6} and 0 < sizes[-1] <= 6 and sum(sizes) == len(array)
        assert stored.to_dask(None).numblocks == (1,) * array.ndim


def test_an_empty_npy_file_is_read(tmp_path):
    dask_array()
    np.save(tmp_path / "e.npy", np.zeros((0, 4)))
    check_reads(lazy_input("E", str(tmp_path / "e.npy")), np.zeros((0, 4)), rows=3)


def write_shards(folder, sizes, cols=3, dtype=np.float64):
    """Shards part-0.npy, … (written in reverse, so name order is not creation order) and
    their rows stacked."""
    folder.mkdir(exist_ok=True)
    parts = [np.arange(n * cols, dtype=dtype).reshape(n, cols) + 100 * i
             for i, n in enumerate(sizes)]
    for i in reversed(range(len(sizes))):
        np.save(folder / f"part-{i}.npy", parts[i])
    return np.concatenate(parts)


def test_shards_from_a_glob_are_stacked_by_rows_in_name_order(tmp_path):
    dask_array()
    expected = write_shards(tmp_path / "data", [5, 7, 3])
    (tmp_path / "data" / "other.npz").write_bytes(b"")
    pattern = str(tmp_path / "data" / "part-*.npy")
    stored = lazy_input("X", pattern)
    assert stored.where == f"'{pattern}' (3 shards)"
    check_reads(stored, expected, rows=4)
    # rows are counted within each shard: no block spans two files
    assert stored.to_dask(4).chunks == ((4, 1, 4, 3, 3), (3,))
    assert stored.to_dask(None).chunks == ((5, 7, 3), (3,))


def test_shards_in_a_folder_leave_out_hidden_and_other_files(tmp_path):
    dask_array()
    expected = write_shards(tmp_path / "data", [4, 6])
    np.save(tmp_path / "data" / ".matd-1-abc.npy", np.ones((2, 9)))   # a temporary
    (tmp_path / "data" / "notes.txt").write_text("not data")
    stored = lazy_input("X", str(tmp_path / "data"))
    assert stored.where == f"'{tmp_path / 'data'}' (2 shards)"
    check_reads(stored, expected, rows=5)


def test_vector_shards_stack_into_one_vector(tmp_path):
    dask_array()
    (tmp_path / "v").mkdir()
    np.save(tmp_path / "v" / "a.npy", np.arange(3))
    np.save(tmp_path / "v" / "b.npy", np.arange(4))
    check_reads(lazy_input("y", str(tmp_path / "v")),
                np.concatenate([np.arange(3), np.arange(4)]), rows=2)


def test_zarr_array_store_and_group_members(tmp_path):
    dask_array()
    zarr = pytest.importorskip("zarr")
    a = np.arange(40.0).reshape(10, 4)
    z = zarr.create(shape=a.shape, chunks=(3, 4), dtype=a.dtype, store=str(tmp_path / "a.zarr"))
    z[:] = a
    check_reads(lazy_input("A", str(tmp_path / "a.zarr")), a, rows=4)
    assert lazy_input("A", str(tmp_path / "a.zarr")).where == f"'{tmp_path / 'a.zarr'}'"

    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("X", shape=(6, 2), dtype="f4")[:] = np.ones((6, 2), dtype="f4")
    g.create_array("y", shape=(6,), dtype="i8")[:] = np.arange(6)
    g.create_group("sub").create_array("deep", shape=(3, 3), dtype="f8")[:] = np.eye(3)
    spelled = str(tmp_path / "g.zarr")
    stored = lazy_input("X", spelled + ":y")
    assert stored.where == f"'{spelled}:y'"
    check_reads(stored, np.arange(6), rows=4)
    check_reads(lazy_input("X", spelled), np.ones((6, 2), dtype="f4"), rows=4)   # named X
    check_reads(lazy_input("B", spelled + ":sub/deep"), np.eye(3), rows=2)

    one = zarr.open_group(str(tmp_path / "one.zarr"), mode="w")
    one.create_array("only", shape=(2, 2), dtype="f8")[:] = np.eye(2)
    check_reads(lazy_input("B", str(tmp_path / "one.zarr")), np.eye(2), rows=1)


def test_hdf5_datasets(tmp_path):
    dask_array()
    h5py = pytest.importorskip("h5py")
    X = np.arange(24.0).reshape(8, 3)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["X"] = X
        f.create_group("g")["y"] = np.arange(5, dtype=np.int16)
    stored = lazy_input("X", f"{tmp_path / 'd.h5'}:X")
    assert stored.where == f"'{tmp_path / 'd.h5'}:X'"
    check_reads(stored, X, rows=3)
    check_reads(lazy_input("y", f"{tmp_path / 'd.h5'}:g/y"), np.arange(5, dtype=np.int16),
                rows=2)
    check_reads(lazy_input("X", str(tmp_path / "d.h5")), X, rows=3)    # the one named X


@pytest.mark.parametrize("kind", ["npy", "shards", "zarr", "h5"])
def test_graphs_hold_paths_not_data(tmp_path, kind):
    """A 4 MB input's graph (and that of a computation on it) pickles to a few kB."""
    dask_array()
    data = np.random.default_rng(0).random((16384, 32))
    if kind == "npy":
        np.save(tmp_path / "x.npy", data)
        text = str(tmp_path / "x.npy")
    elif kind == "shards":
        (tmp_path / "s").mkdir()
        for i, block in enumerate(np.array_split(data, 4)):
            np.save(tmp_path / "s" / f"p{i}.npy", block)
        text = str(tmp_path / "s")
    elif kind == "zarr":
        zarr = pytest.importorskip("zarr")
        zarr.create(shape=data.shape, dtype=data.dtype, store=str(tmp_path / "x.zarr"))[:] = data
        text = str(tmp_path / "x.zarr")
    else:
        h5py = pytest.importorskip("h5py")
        with h5py.File(tmp_path / "x.h5", "w") as f:
            f["x"] = data
        text = f"{tmp_path / 'x.h5'}:x"
    x = lazy_input("x", text).to_dask(1024)
    assert data.nbytes == 4 * MB
    assert graph_bytes(x) < 20 * KB
    assert graph_bytes((x * 2).sum(axis=1)) < 20 * KB
    assert_array_equal(x.compute(), data)


def test_a_64_mb_input_is_never_loaded_whole(tmp_path):
    """Building the dask array reads nothing; a row sum block by block holds a few blocks."""
    da = dask_array()
    import dask
    from numpy.lib.format import open_memmap
    n, cols = 131072, 64                     # 64 MiB of float64
    path = str(tmp_path / "big.npy")
    out = open_memmap(path, mode="w+", dtype=np.float64, shape=(n, cols))
    for start in range(0, n, 8192):
        out[start:start + 8192] = np.arange(start, start + 8192)[:, None] + np.arange(cols)
    out.flush()
    del out
    assert os.path.getsize(path) > 64 * MB
    dask.compute(da.ones(2).sum(), scheduler="synchronous")   # dask's imports, not measured

    tracemalloc.start()
    try:
        x = lazy_input("X", path).to_dask(4096)
        total = x.sum(axis=1)
        dict(total.__dask_graph__())
        building = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        (sums,) = dask.compute(total, scheduler="synchronous")
        computing = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert building < 5 * MB, building
    assert computing < 16 * MB, computing              # blocks of 2 MiB, a 1 MiB result
    assert_array_equal(sums, cols * np.arange(n) + cols * (cols - 1) / 2)


def test_docstring_examples_run():
    import doctest

    import matd.core.stores
    result = doctest.testmod(matd.core.stores)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("text", ["0.5", "[1, 2, 3]", "a.csv", "b.txt", "c.npz", "c.npz:k",
                                  "-", "-:X", "no/such/thing"])
def test_everything_else_is_left_to_the_eager_reader(text):
    assert lazy_input("X", text) is None


# -- reader errors -------------------------------------------------------------------------

def test_missing_files_are_named(tmp_path):
    for text in (tmp_path / "no.npy", tmp_path / "no.h5"):
        e = input_error("X", f"{text}")
        assert e.message == f"--at X: cannot read '{text}': no such file"
    pytest.importorskip("zarr")
    e = input_error("X", f"{tmp_path / 'no.zarr'}:X")
    assert e.message == f"--at X: cannot read '{tmp_path / 'no.zarr'}': no such file or directory"


def test_an_empty_folder_or_a_glob_without_npy_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.csv").write_text("1,2\n")
    e = input_error("X", str(tmp_path / "empty"))
    assert e.message == f"--at X: '{tmp_path / 'empty'}' holds no .npy files"
    assert "data/part-*.npy" in e.hint
    e = input_error("X", str(tmp_path / "part-*.npy"))
    assert e.message == f"--at X: '{tmp_path / 'part-*.npy'}' matches no .npy files"


def test_shards_that_disagree_are_named(tmp_path):
    write_shards(tmp_path / "cols", [2, 2])
    np.save(tmp_path / "cols" / "part-2.npy", np.ones((2, 4)))
    e = input_error("X", str(tmp_path / "cols"))
    first, bad = tmp_path / "cols" / "part-0.npy", tmp_path / "cols" / "part-2.npy"
    assert e.message == f"--at X: shard '{bad}' has 4 columns, but '{first}' has 3"
    assert e.hint == "shards are stacked by rows: all must have the same columns and dtype"

    write_shards(tmp_path / "types", [2, 2])
    np.save(tmp_path / "types" / "part-1.npy", np.ones((2, 3), dtype=np.float32))
    e = input_error("X", str(tmp_path / "types" / "part-*.npy"))
    assert e.message == (f"--at X: shard '{tmp_path / 'types' / 'part-1.npy'}' is float32, "
                         f"but '{tmp_path / 'types' / 'part-0.npy'}' is float64")

    write_shards(tmp_path / "dims", [2])
    np.save(tmp_path / "dims" / "part-1.npy", np.ones(3))
    e = input_error("X", str(tmp_path / "dims"))
    assert e.message == (f"--at X: shard '{tmp_path / 'dims' / 'part-1.npy'}' is 1-d, "
                         f"but '{tmp_path / 'dims' / 'part-0.npy'}' is 2-d")


def test_corrupt_and_truncated_npy_files(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense}\n")
    e = input_error("X", str(tmp_path / "junk.npy"))
    assert e.message.startswith(f"--at X: '{tmp_path / 'junk.npy'}' is not a .npy array (")
    assert e.hint == "write it with numpy.save"
    (tmp_path / "text.npy").write_text("1,2,3\n")
    e = input_error("X", str(tmp_path / "text.npy"))
    assert e.message.startswith(f"--at X: '{tmp_path / 'text.npy'}' is not a .npy array (")

    np.save(tmp_path / "cut.npy", np.ones((100, 3)))
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-800])
    e = input_error("X", str(tmp_path / "cut.npy"))
    assert e.message == (f"--at X: '{tmp_path / 'cut.npy'}' is truncated: its header declares "
                         "shape (100, 3) (float64, 2400 bytes) but 1600 bytes follow")


def test_more_than_two_dimensions_and_non_numbers(tmp_path):
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    e = input_error("T", str(tmp_path / "cube.npy"))
    assert e.message == (f"--at T: '{tmp_path / 'cube.npy'}' has 3 dimensions (shape (2, 3, 4)); "
                         "matd takes scalars, vectors and matrices")
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    e = input_error("W", str(tmp_path / "words.npy"))
    assert e.message == f"--at W: '{tmp_path / 'words.npy'}' holds <U1 data, not numbers"
    assert e.hint == "save numbers, e.g. an array of float64"
    np.save(tmp_path / "objects.npy", np.array([1, None], dtype=object), allow_pickle=True)
    e = input_error("O", str(tmp_path / "objects.npy"))
    assert e.message == f"--at O: '{tmp_path / 'objects.npy'}' holds Python objects, not numbers"


def test_zarr_components_missing_or_unnamed(tmp_path):
    zarr = pytest.importorskip("zarr")
    store = str(tmp_path / "g.zarr")
    g = zarr.open_group(store, mode="w")
    for key in ("a", "b", "c"):
        g.create_array(key, shape=(2,), dtype="f8")
    g.create_group("sub").create_array("d", shape=(2,), dtype="f8")
    e = input_error("X", store)
    assert e.message == (f"--at X: the zarr group '{store}' holds 4 arrays (a, b, c, sub/d); "
                         "say which")
    assert e.hint == f"--at X={store}:NAME"
    e = input_error("X", store + ":nope")
    assert e.message == f"--at X: no array 'nope' in '{store}'"
    assert e.hint == "it holds 4: a, b, c, sub/d"
    e = input_error("X", store + ":sub")
    assert e.message == f"--at X: no array 'sub' in '{store}'"

    zarr.open_group(str(tmp_path / "empty.zarr"), mode="w")
    e = input_error("X", str(tmp_path / "empty.zarr"))
    assert e.message == f"--at X: the zarr group '{tmp_path / 'empty.zarr'}' holds no arrays"

    zarr.create(shape=(2,), dtype="f8", store=str(tmp_path / "a.zarr"))
    e = input_error("X", f"{tmp_path / 'a.zarr'}:X")
    assert e.message == f"--at X: '{tmp_path / 'a.zarr'}' is a single array, not a group"
    assert e.hint == f"--at X={tmp_path / 'a.zarr'}"

    (tmp_path / "plain.zarr").mkdir()
    e = input_error("X", str(tmp_path / "plain.zarr"))
    assert e.message.startswith(f"--at X: '{tmp_path / 'plain.zarr'}' is not a zarr store (")


def test_hdf5_datasets_missing_or_unnamed(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["a"], f["b"] = np.ones(2), np.ones(3)
        f.create_group("g")["c"] = np.ones(4)
    e = input_error("X", str(path))
    assert e.message == f"--at X: the HDF5 file '{path}' holds 3 arrays (a, b, g/c); say which"
    assert e.hint == f"--at X={path}:NAME"
    e = input_error("X", f"{path}:g/nope")
    assert e.message == f"--at X: no array 'g/nope' in '{path}'"
    assert e.hint == "it holds 3: a, b, g/c"
    (tmp_path / "fake.h5").write_bytes(b"not hdf5 at all")
    e = input_error("X", f"{tmp_path / 'fake.h5'}:X")
    assert e.message.startswith(f"--at X: '{tmp_path / 'fake.h5'}' is not an HDF5 file (")


def test_missing_optional_packages_say_what_to_install(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    stored = lazy_input("X", str(tmp_path / "x.npy"))   # headers need no dask
    monkeypatch.setitem(sys.modules, "dask.array", None)
    monkeypatch.setitem(sys.modules, "zarr", None)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(InputError) as e:
        stored.to_dask(2)
    assert e.value.message == (f"--at X: reading '{tmp_path / 'x.npy'}' blockwise needs dask, "
                               "which is not installed")
    assert e.value.hint == "pip install 'matd[dask]'"
    e = input_error("X", "data.zarr:X")
    assert e.message == "--at X: reading 'data.zarr' needs zarr, which is not installed"
    assert e.hint == "pip install 'matd[zarr]'"
    e = input_error("X", "data.h5:X")
    assert e.message == "--at X: reading 'data.h5' needs h5py, which is not installed"
    assert e.hint == "pip install 'matd[hdf5]'"
    with pytest.raises(InputError) as e:
        pending_write(str(tmp_path / "y.npy"), {"y": np.ones(2)})
    assert e.value.message == (f"--out {tmp_path / 'y.npy'}: writing it blockwise needs dask, "
                               "which is not installed")
    assert e.value.hint == "pip install 'matd[dask]'"


# -- writers -------------------------------------------------------------------------------

def test_npy_written_blockwise_appears_only_on_commit(tmp_path):
    da = dask_array()
    a = np.arange(300.0).reshape(100, 3)
    target = tmp_path / "y.npy"
    pending = pending_write(str(target), {"y": da.from_array(a, chunks=(7, 3)) * 2})
    [temporary] = temporaries(tmp_path)
    assert temporary.startswith(f".matd-{os.getpid()}-") and temporary.endswith(".npy")
    compute(*pending.tasks)
    assert not target.exists()
    pending.commit()
    assert_array_equal(np.load(target), 2 * a)
    assert temporaries(tmp_path) == []


def test_numpy_arrays_scalars_and_an_existing_npy_target(tmp_path):
    dask_array()
    target = tmp_path / "y.npy"
    np.save(target, np.zeros(3))
    pending = pending_write(str(target), {"y": np.arange(5, dtype=np.int32)})
    compute(*pending.tasks)
    assert_array_equal(np.load(target), np.zeros(3))
    pending.commit()
    assert_array_equal(np.load(target), np.arange(5, dtype=np.int32))
    pending = pending_write(str(tmp_path / "s.npy"), {"f": np.float64(1.5)})
    compute(*pending.tasks)
    pending.commit()
    assert np.load(tmp_path / "s.npy") == 1.5 and np.load(tmp_path / "s.npy").shape == ()


def test_zarr_array_store_and_group_round_trip(tmp_path):
    da = dask_array()
    zarr = pytest.importorskip("zarr")
    a = np.arange(200.0).reshape(50, 4)
    x = da.from_array(a, chunks=(8, 4))
    pending = pending_write(str(tmp_path / "one.zarr"), {"y": x + 1})
    compute(*pending.tasks)
    assert not (tmp_path / "one.zarr").exists()
    pending.commit()
    assert_array_equal(zarr.open_array(str(tmp_path / "one.zarr"), mode="r")[:], a + 1)

    shards = da.concatenate([x[:5], x[5:17], x[17:]])          # irregular blocks
    pending = pending_write(str(tmp_path / "g.zarr"),
                            {"X": shards, "colsum": x.sum(axis=0), "f": np.float64(2.0)})
    compute(*pending.tasks)
    pending.commit()
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="r")
    assert sorted(k for k, _ in g.arrays()) == ["X", "colsum", "f"]
    assert_array_equal(g["X"][:], a)
    assert_array_equal(g["colsum"][:], a.sum(axis=0))
    assert g["f"][()] == 2.0
    assert temporaries(tmp_path) == []


def test_commit_replaces_an_existing_zarr_store(tmp_path):
    da = dask_array()
    zarr = pytest.importorskip("zarr")
    target = str(tmp_path / "r.zarr")
    first = pending_write(target, {"a": np.ones(3), "b": np.ones(2)})
    compute(*first.tasks)
    first.commit()
    second = pending_write(target, {"y": da.arange(6, chunks=4)})
    compute(*second.tasks)
    assert sorted(k for k, _ in zarr.open_group(target, mode="r").arrays()) == ["a", "b"]
    second.commit()
    assert_array_equal(zarr.open_array(target, mode="r")[:], np.arange(6))
    assert sorted(os.listdir(tmp_path)) == ["r.zarr"]        # nothing left aside


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_abort_leaves_an_existing_target_as_it_was(tmp_path, suffix):
    da = dask_array()
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    target = tmp_path / f"out{suffix}"
    old = pending_write(str(target), {"y": np.arange(4.0)})
    compute(*old.tasks)
    old.commit()
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    pending = pending_write(str(target), {"y": da.ones(9, chunks=2)})
    compute(*pending.tasks)
    pending.abort()
    pending.abort()                                           # twice is fine
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and temporaries(tmp_path) == []
    with pytest.raises(RuntimeError, match="already committed or aborted"):
        pending.commit()


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_a_failed_computation_then_abort_leaves_nothing_behind(tmp_path, suffix, scheduler):
    """With threads, blocks are still being written when the failure arrives and abort()
    is called: those writers must not bring the temporary back."""
    da = dask_array()
    import dask
    if suffix == ".zarr":
        pytest.importorskip("zarr")

    def explode(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 40:
            raise RuntimeError("block 40 failed")
        return block

    bad = da.ones((400, 3), chunks=(2, 3)).map_blocks(explode, dtype=float)
    pending = pending_write(str(tmp_path / f"out{suffix}"), {"y": bad})
    assert len(temporaries(tmp_path)) == 1
    with pytest.raises(RuntimeError, match="block 40 failed"):
        dask.compute(*pending.tasks, scheduler=scheduler, num_workers=4)
    pending.abort()
    if scheduler == "threads":          # let the writers still running finish
        deadline = time.monotonic() + 10
        while list(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_a_block_written_after_abort_brings_nothing_back(tmp_path, suffix):
    """As a task still running on a cluster after the failure would: its write fails and
    leaves no file or folder (zarr would create the folders it writes in)."""
    dask_array()
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    from matd.core.stores import _NpyWriter, _ZarrWriter
    pending = pending_write(str(tmp_path / f"out{suffix}"), {"y": np.ones((4, 2))})
    temporary = str(tmp_path / temporaries(tmp_path)[0])
    writer = _ZarrWriter(temporary, "") if suffix == ".zarr" else \
        _NpyWriter(temporary, (4, 2), np.dtype(float), 128)
    pending.abort()
    with pytest.raises(FileNotFoundError):
        writer[0:2, 0:2] = np.ones((2, 2))
    assert list(tmp_path.iterdir()) == []


def test_targets_that_cannot_be_written_are_refused_before_writing(tmp_path):
    dask_array()
    y = {"y": np.ones(2)}

    def refused(path, arrays=y) -> InputError:
        with pytest.raises(InputError) as e:
            pending_write(str(path), arrays)
        assert temporaries(tmp_path) == []
        return e.value

    missing = tmp_path / "no" / "y.npy"
    assert refused(missing).message == f"--out {missing}: no such folder '{tmp_path / 'no'}'"
    (tmp_path / "d.npy").mkdir()
    e = refused(tmp_path / "d.npy")
    assert (e.message, e.hint) == (f"--out {tmp_path / 'd.npy'}: is a directory",
                                   "give a file name")
    e = refused(tmp_path / "two.npy", {"a": np.ones(1), "b": np.ones(1)})
    assert e.message == f"--out {tmp_path / 'two.npy'}: several results need a .zarr store"
    e = refused(tmp_path / "y.csv")
    assert e.message == f"--out {tmp_path / 'y.csv'}: a blockwise output must be a .npy file " \
        "or a .zarr store"
    (tmp_path / "keep.zarr").mkdir()
    (tmp_path / "keep.zarr" / "precious.txt").write_text("mine")
    e = refused(tmp_path / "keep.zarr")
    assert e.message == (f"--out {tmp_path / 'keep.zarr'}: exists and is not a zarr store; "
                         "matd replaces only a zarr store (or an empty folder)")
    assert (tmp_path / "keep.zarr" / "precious.txt").read_text() == "mine"


def test_a_zarr_output_without_zarr_says_what_to_install(tmp_path, monkeypatch):
    dask_array()
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(InputError) as e:
        pending_write(str(tmp_path / "r.zarr"), {"y": np.ones(2)})
    assert e.value.message == f"--out {tmp_path / 'r.zarr'}: writing it needs zarr, which is " \
        "not installed"
    assert e.value.hint == "pip install 'matd[zarr]'"
    assert list(tmp_path.iterdir()) == []


# -- a cluster whose workers read and write the files ----------------------------------------

def test_distributed_workers_read_and_write_by_path(tmp_path):
    da = dask_array()
    zarr = pytest.importorskip("zarr")
    distributed = pytest.importorskip("distributed")
    a = np.arange(6000.0).reshape(2000, 3)
    np.save(tmp_path / "x.npy", a)
    x = lazy_input("X", str(tmp_path / "x.npy")).to_dask(300)
    to_npy = pending_write(str(tmp_path / "y.npy"), {"y": 2 * x})
    to_zarr = pending_write(str(tmp_path / "r.zarr"), {"y": x - 1, "colsum": x.sum(axis=0)})
    assert all(graph_bytes(task) < 20 * KB for task in [*to_npy.tasks, *to_zarr.tasks])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0",
                                  death_timeout=60) as cluster, \
            distributed.Client(cluster, timeout=60) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        with distributed.get_task_stream(client) as stream:
            futures = client.compute([*to_npy.tasks, *to_zarr.tasks, x.sum()])
            distributed.wait(futures, timeout=60)
        total = futures[-1].result()
        worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    ran = {str(t["key"]) for t in stream.data}
    assert any("store-map" in k for k in ran) and any(k.startswith("('array-") for k in ran)
    to_npy.commit()
    to_zarr.commit()
    assert total == a.sum()
    assert_array_equal(np.load(tmp_path / "y.npy"), 2 * a)
    g = zarr.open_group(str(tmp_path / "r.zarr"), mode="r")
    assert_array_equal(g["y"][:], a - 1)
    assert_array_equal(g["colsum"][:], a.sum(axis=0))
    assert temporaries(tmp_path) == []
