"""--backend dask (issue 12): the plan built lazily and computed once, values equal to
numpy's, clear errors, a LocalCluster on 127.0.0.1, blockwise --out."""
from __future__ import annotations

import json

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from matd.core.syntax import Source  # noqa: E402
from matd.numbers import Inputs, derivatives, evaluate, finish, lazy_derivatives  # noqa: E402
from matd_cli import matd  # noqa: E402

LSQ = "X: m x d; w: d; y: m; norm(X w - y)^2"
LOGIT = "X: m x d; w: d; y: m; sum(softplus(X w)) - y^T X w"
GAUSS = ("X: m x d; mu: d; S: d x d spd; R = X - ones(m) mu^T; "
         "m logdet(S) + tr(R inv(S) R^T)")


def data(m=37, d=4, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((d, d))
    return {"X": rng.standard_normal((m, d)), "w": rng.standard_normal(d),
            "y": (rng.random(m) > 0.5).astype(float), "mu": rng.standard_normal(d),
            "S": M @ M.T + d * np.eye(d)}


def pick(src, arrays):
    return {k: v for k, v in arrays.items() if f"{k}:" in src or f"{k}," in src}


class Counting:
    """A dask scheduler that counts the computes it is asked for."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kw):
        self.calls += 1
        return dask.threaded.get(dsk, keys, **kw)


@pytest.mark.parametrize("chunks", [5, None], ids=["row chunks", "auto (one chunk)"])
@pytest.mark.parametrize("src,wrt,order", [(LSQ, ["w"], 1), (LOGIT, ["w"], 2),
                                           (GAUSS, ["mu", "S"], 1), (LSQ, ["X", "w"], 1)])
def test_values_equal_numpy_and_are_computed_once(src, wrt, order, chunks):
    arrays = pick(src, data())
    ref, _ = derivatives(Source(src), wrt, order, Inputs(arrays=arrays))
    count = Counting()
    with dask.config.set(scheduler=count):
        lazy, b, _ = lazy_derivatives(Source(src), wrt, order,
                                      Inputs(arrays=arrays, backend="dask", chunks=chunks))
        assert count.calls == 0, "building the graph computed something"
        assert all(hasattr(v, "dask") for v in lazy.values())
        got = finish(b, lazy)
    assert count.calls == 1, f"{count.calls} computes for {wrt}"
    for k in wrt:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, atol=1e-12)


def test_value_and_gradient_in_one_plan_are_one_compute():
    from matd.core.derive import derive
    from matd.core.numeric import run
    from matd.numbers import prepare
    arrays = pick(GAUSS, data(m=50))
    inputs = Inputs(arrays=arrays, backend="dask", chunks=8)
    prog, b = prepare(Source(GAUSS), inputs, ["mu"])
    r = derive(prog, ["mu"], 1).results[0]
    count = Counting()
    with dask.config.set(scheduler=count):
        f, g = run([prog.result, r.derivative], prog, b)
        got = finish(b, {"f": f, "g": g})
    assert count.calls == 1
    want_f = evaluate(Source(GAUSS), Inputs(arrays=arrays))
    want_g = derivatives(Source(GAUSS), ["mu"], 1, Inputs(arrays=arrays))[0]["mu"]
    np.testing.assert_allclose(got["f"].reshape(()), want_f, rtol=1e-12)
    np.testing.assert_allclose(got["g"].reshape(-1), want_g, rtol=1e-12, atol=1e-12)


def test_dask_arrays_given_to_the_library_stay_lazy():
    arrays = data(m=40)
    X = da.from_array(arrays["X"], chunks=(8, -1))
    inputs = Inputs(arrays={"X": X, "w": arrays["w"], "y": arrays["y"]}, backend="dask")
    got, _ = derivatives(Source(LSQ), ["w"], 1, inputs)
    ref, _ = derivatives(Source(LSQ), ["w"], 1, Inputs(arrays=pick(LSQ, arrays)))
    np.testing.assert_allclose(got["w"], ref["w"], rtol=1e-12)


def test_a_dask_array_on_the_numpy_backend_is_a_clear_error():
    from matd.core.errors import MatdError
    X = da.zeros((4, 2), chunks=2)
    with pytest.raises(MatdError, match="needs the dask backend"):
        evaluate(Source("X: m x n; sum(X)"), Inputs(arrays={"X": X}))


def save(tmp_path, arrays):
    at = []
    for k, v in arrays.items():
        np.save(tmp_path / f"{k}.npy", v)
        at += ["--at", f"{k}={tmp_path / f'{k}.npy'}"]
    return at


def test_the_command_on_npy_files_with_row_chunks(tmp_path):
    arrays = pick(LOGIT, data(m=101))
    at = save(tmp_path, arrays)
    rc, out, err = matd("grad", LOGIT, "--wrt", "w", "--order", "2", *at)
    assert rc == 0, err
    rc, out2, err = matd("grad", LOGIT, "--wrt", "w", "--order", "2", *at, "--backend", "dask",
                         "--chunks", "16")
    assert rc == 0, err
    np.testing.assert_allclose(np.loadtxt(out2.splitlines()), np.loadtxt(out.splitlines()),
                               rtol=1e-12)


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_out_is_written_blockwise_and_only_when_everything_is_finite(tmp_path, suffix):
    if suffix == ".zarr":
        zarr = pytest.importorskip("zarr")
    arrays = pick(LSQ, data(m=64))
    at = save(tmp_path, arrays)
    target = tmp_path / f"g{suffix}"
    rc, _, err = matd("grad", LSQ, "--wrt", "X", *at, "--backend", "dask", "--chunks", "16",
                      "--out", target)
    assert rc == 0, err
    got = np.load(target) if suffix == ".npy" else np.asarray(zarr.open(str(target), mode="r"))
    ref, _ = derivatives(Source(LSQ), ["X"], 1, Inputs(arrays=arrays))
    np.testing.assert_allclose(got, ref["X"], rtol=1e-12)
    bad = dict(arrays, y=np.where(np.arange(64) == 50, np.nan, arrays["y"]))
    at = save(tmp_path, bad)
    other = tmp_path / f"h{suffix}"
    rc, _, err = matd("grad", LSQ, "--wrt", "X", *at, "--backend", "dask", "--chunks", "16",
                      "--out", other)
    assert rc == 2 and "y" in err and "NaN" in err, err
    assert not other.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".matd-")]


@pytest.mark.parametrize("src,arrays,message", [
    ("A: n x n; b: n; sum(inv(A) b)", {"A": np.ones((6, 6)), "b": np.ones(6)}, "singular"),
    ("S: n x n spd; logdet(S)", {"S": -np.eye(6)}, "S is declared spd but is not positive"),
    ("S: n x n spd; logdet(S)", {"S": np.diag([1.0, 2, -3, 4, 5, 6])},
     "S is declared spd but is not positive"),
    ("x: n; sum(log(x))", {"x": -np.ones(40)}, "not finite"),
])
def test_numerical_trouble_is_named_on_dask(tmp_path, src, arrays, message):
    at = save(tmp_path, arrays)
    rc, out, err = matd("eval", src, *at, "--backend", "dask", "--chunks", "4")
    assert rc == 2, (out, err)
    assert message in err, err
    assert "error:" in err


@pytest.mark.parametrize("args,message", [
    (["--chunks", "10"], "--chunks is for --backend dask"),
    (["--scheduler", "local:2"], "--scheduler is for --backend dask"),
    (["--backend", "dask", "--chunks", "many"], "expected a number of rows or auto"),
    (["--backend", "dask", "--chunks", "0"], "at least one row"),
    (["--backend", "dask", "--scheduler", "bogus"], "not a scheduler"),
    (["--backend", "dask", "--scheduler", "local:x"], "local:N"),
    (["--backend", "dask", "--scheduler", "nowhere.json"], "no such scheduler file"),
    (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot connect"),
    (["--backend", "dask", "--device", "gpu"], "runs on the CPU"),
])
def test_bad_backend_flags_are_clear_errors(args, message):
    rc, out, err = matd("eval", "A: 2 x 2; sum(A)", "--at", "A=[[1,2],[3,4]]", *args,
                        timeout=60)
    assert rc == 2, (out, err)
    assert message in err, err


def test_missing_dask_is_a_clear_error(monkeypatch):
    import sys

    from matd.core.errors import MatdError
    monkeypatch.setitem(sys.modules, "dask.array", None)
    monkeypatch.setitem(sys.modules, "array_api_compat.dask.array", None)
    with pytest.raises(MatdError, match="needs Dask, which is not installed") as e:
        evaluate(Source("A: 2 x 2; sum(A)"), Inputs(arrays={"A": np.eye(2)}, backend="dask"))
    assert "pip install 'matd[dask]'" in e.value.hint


def test_a_broken_promise_is_found_with_the_results(tmp_path):
    at = save(tmp_path, {"S": np.array([[2.0, 1.0], [0.0, 2.0]])})
    rc, _, err = matd("eval", "S: n x n sym; tr(S)", *at, "--backend", "dask")
    assert rc == 2 and "not symmetric" in err, err


def test_a_local_cluster_of_two_workers_reads_the_files_itself(tmp_path):
    pytest.importorskip("distributed")
    arrays = pick(GAUSS, data(m=300))
    at = save(tmp_path, arrays)
    rc, out, err = matd("grad", GAUSS, "--wrt", "mu", "--wrt", "S", *at, "--backend", "dask",
                        "--chunks", "64", "--scheduler", "local:2", "--format", "json",
                        timeout=180)
    assert rc == 0, err
    got = json.loads(out)["derivative"]
    ref, _ = derivatives(Source(GAUSS), ["mu", "S"], 1, Inputs(arrays=arrays))
    for k in ("mu", "S"):
        np.testing.assert_allclose(np.array(got[k]), ref[k], rtol=1e-10)


def test_an_existing_cluster_by_address_and_by_scheduler_file(tmp_path):
    distributed = pytest.importorskip("distributed")
    arrays = pick(LSQ, data(m=200))
    at = save(tmp_path, arrays)
    ref, _ = derivatives(Source(LSQ), ["w"], 1, Inputs(arrays=arrays))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0",
                                  silence_logs=50) as cluster, \
            distributed.Client(cluster, timeout=60) as client:
        client.write_scheduler_file(str(tmp_path / "scheduler.json"))
        for spec in (cluster.scheduler_address, str(tmp_path / "scheduler.json")):
            rc, out, err = matd("grad", LSQ, "--wrt", "w", *at, "--backend", "dask",
                                "--chunks", "50", "--scheduler", spec, "--format", "json",
                                timeout=120)
            assert rc == 0, err
            np.testing.assert_allclose(json.loads(out)["derivative"]["w"], ref["w"],
                                       rtol=1e-10)


def test_workers_without_matd_are_named():
    from matd.core.daskrun import _check_workers
    from matd.core.errors import MatdError

    class Client:
        def __init__(self, found):
            self.found = found

        def run(self, f):
            return self.found
    with pytest.raises(MatdError, match="not installed on the workers tcp://10.0.0.2:1"):
        _check_workers(Client({"tcp://10.0.0.1:1": "0.1.0", "tcp://10.0.0.2:1": None}),
                       "tcp://10.0.0.1:8786")
    with pytest.raises(MatdError, match="has no workers"):
        _check_workers(Client({}), "tcp://10.0.0.1:8786")


@pytest.mark.parametrize("name,base,message", [
    ("KilledWorker", Exception, "a dask worker died while computing"),
    ("CommClosedError", OSError, "lost the connection to the dask scheduler"),
    ("FutureCancelledError", Exception, "the dask computation was cancelled"),
])
def test_a_failing_cluster_is_its_own_error_and_writes_nothing(tmp_path, name, base, message):
    # a task raises what distributed raises when a worker dies or the connection drops
    from matd.core.daskrun import Work, compute
    from matd.core.errors import MatdError
    from matd.core.stores import pending_write
    trouble = type(name, (base,), {})

    def fail(block):
        raise trouble("worker tcp://127.0.0.1:4 went away")
    x = da.ones((8, 2), chunks=(4, 2)).map_blocks(fail, dtype=float)
    target = tmp_path / "g.npy"
    write = pending_write(str(target), {"g": x})
    with pytest.raises(MatdError, match=message):
        compute(Work(), {"g": x}, write)
    assert not target.exists() and not list(tmp_path.iterdir())
