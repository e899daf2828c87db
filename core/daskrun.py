"""Plans on Dask: the inputs as chunked arrays, the scheduler, and one compute per command.

With ``--backend dask`` parsing, derivation and plan compilation are what they are on
numpy; only the running differs.  The inputs become dask arrays (read by the workers from
their files, core/stores.py, or cut from arrays in memory), chunked along their large
dimensions only: an axis longer than ROWS is cut in blocks of ROWS, a shorter one (the 50
columns of a 2,000,000 × 50 X, a 50 × 50 Σ) stays whole.  Each plan is then built as a
graph (``Plan.lazy``), and every graph of the command — the results, a flag per input and
per result saying it is not finite, the kernels' own checks (``deferred.require``), the
promises of the declarations (sym, spd, …), the blockwise writes of ``--out`` — is
computed in one ``dask.compute``.  Only when a flag is set, or a task fails, is a plan run
again step by step (``Plan.blame``) to name the step.

Schedulers (``--scheduler``): ``threads`` (dask's default, this process), ``local`` or
``local:N`` (a dask.distributed cluster of N worker processes started here, listening on
127.0.0.1 only, its dashboard too), ``tcp://HOST:PORT`` (a running scheduler), or a
scheduler file (``FILE.json``, as ``dask scheduler --scheduler-file`` writes).  Workers of a
cluster must be able to import matd: connecting checks that and says which cannot.

>>> chunk_rows("auto", [(2_000_000, 50), (50, 1)])
83886
>>> chunk_rows("1000", [(5, 5)])
1000
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

from matd.core.deferred import is_dask
from matd.core.errors import MatdError
from matd.core.plan import NumericError

# --chunks auto: about this much of the widest input per block (bench/bigdata.py: at 128 MiB
# the blocks in flight took 0.45x numpy's peak memory, at 32 MiB 0.19x, and no more time)
CHUNK_BYTES = 32 << 20
_IN_PROCESS = contextvars.ContextVar("matd_dask_in_process", default=False)  # threads/sync
MIN_ROWS = 1024
DASK_INSTALL = "install it: pip install 'matd[dask]'"
DISTRIBUTED_INSTALL = "install it: pip install 'matd[distributed]'"


def chunk_rows(spec, shapes, itemsize: int = 8) -> int:
    """The block length ROWS of ``--chunks``: an integer as given, or (auto) about
    CHUNK_BYTES of the widest input (at least MIN_ROWS)."""
    spec = "auto" if spec in (None, "") else str(spec)
    if spec != "auto":
        try:
            rows = int(spec)
        except ValueError:
            raise MatdError(f"--chunks {spec}: expected a number of rows or auto",
                            hint="e.g. --chunks 100000, or --chunks auto") from None
        if rows < 1:
            raise MatdError(f"--chunks {spec}: a chunk has at least one row")
        return rows
    widest = max((s[1] if len(s) > 1 else 1 for s in shapes), default=1)
    return max(MIN_ROWS, CHUNK_BYTES // (itemsize * max(widest, 1)))


def dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise MatdError("--backend dask needs Dask, which is not installed",
                        hint=DASK_INSTALL) from None
    return da


def as_dask(a, rows: int):
    """a (numpy, a stored input with ``to_dask``, or dask) as a dask array whose axes longer
    than ``rows`` are cut in blocks of ``rows``, the others whole."""
    da = dask_array()
    if hasattr(a, "to_dask"):
        a = a.to_dask(rows)
    chunks = tuple(rows if n > rows else -1 for n in a.shape)
    if not is_dask(a):
        import numpy as np
        return da.from_array(np.asarray(a), chunks=chunks)
    return a.rechunk(chunks)   # the same array when its chunks are these already


@dataclass
class Lazy:
    """One lazy plan of a command: what ``Plan.blame`` needs, and its checks."""

    plan: object
    xp: object
    env: dict
    denv: dict
    dtype: object
    checks: list
    prog: object = None


@dataclass
class Work:
    """Everything a command leaves to compute: lazy plans, and the inputs' promises as
    (lazy flag, error maker) pairs (the flag is true where a promise is broken)."""

    plans: list = field(default_factory=list)
    promises: list = field(default_factory=list)


def promise_check(name, a, attrs, src, eps):
    """The declaration's promises (sym, spd, orth, diag, simplex) of a lazy input, checked
    with the results: (lazy 0-d flag, true where one is broken; the error, made by checking
    again here).  A flag, not the message: dask.compute returns values out of place when
    it is given dask arrays and Delayed objects together (dask 2026.8), so all it is given
    are arrays."""
    import dask
    import dask.array as da
    import numpy as np

    from matd.core.deferred import as_delayed
    flag = dask.delayed(_promise_broken, pure=True)(name, as_delayed(a), attrs, src, eps)

    def error(_):
        from matd.core.numeric import check_promises
        try:
            check_promises(name, np.asarray(a.compute()), attrs, src, eps)
        except MatdError as e:
            return e
        return MatdError(f"{name}: its declaration's promise did not hold")  # pragma: no cover
    return da.from_delayed(flag, (), dtype=bool, meta=np.empty((), bool)), error


def _promise_broken(name, a, attrs, src, eps):
    """Whether a breaks a promise of its declaration (run by a worker)."""
    import numpy as np

    from matd.core.numeric import check_promises
    try:
        check_promises(name, a, attrs, src, eps)
    except MatdError:
        return np.True_
    return np.False_


def compute(work: Work, arrays: dict, write=None, located=None) -> dict:
    """Compute ``arrays`` (lazy results by name) and every check of ``work`` in one pass;
    with ``write`` (a pending blockwise write of them, core/stores.py) the results go to
    it instead of memory, and it is committed only when every check passed.  Returns the
    results as numpy arrays (none when written).  ``located``: points a NumericError at
    the subexpression of a program it blames (core/numeric.py)."""
    import dask
    names = list(arrays)
    tasks = list(write.tasks) if write is not None else [arrays[k] for k in names]
    checks = [(bad, err, lz) for lz in work.plans for bad, err in lz.checks]
    promises = list(work.promises)
    try:
        try:
            with _one_blas_thread() if _IN_PROCESS.get() else contextlib.nullcontext():
                got = dask.compute(*tasks, *(c[0] for c in checks), *(p[0] for p in promises))
        except MatdError:
            raise
        except MemoryError:
            from matd.core.plan import OutOfMemory
            raise OutOfMemory("not enough memory to compute the result on this machine",
                              hint="give smaller --chunks, or run on a cluster "
                              "(--scheduler)") from None
        except Exception as e:  # noqa: BLE001 - a task failed: say where, or what
            cluster_trouble(e)
            for lz in work.plans:
                _blame(lz, located)
            raise NumericError(f"the computation failed: {type(e).__name__}: {e}") from None
        values, flags = got[:len(tasks)], got[len(tasks):]
        for (bad, err, lz), flag in zip(checks, flags[:len(checks)]):
            if bool(flag):
                if err is not None:
                    raise err if located is None or lz.prog is None else located(err, lz.prog)
                _blame(lz, located)
                raise NumericError("the result is not finite (NaN or Inf)",
                                   hint="check the inputs for NaN/Inf")
        for (_, make), broken in zip(promises, flags[len(checks):]):
            if bool(broken):
                raise make(broken)
    except BaseException:
        if write is not None:
            write.abort()
        raise
    if write is not None:
        write.commit()
        return {}
    return dict(zip(names, values))


def _blame(lz: Lazy, located) -> None:
    """Run the plan step by step: raises, naming the step, where one fails."""
    try:
        lz.plan.blame(lz.env, lz.xp, lz.denv, lz.dtype)
    except NumericError as e:
        raise located(e, lz.prog) if located is not None and lz.prog is not None else e


def cluster_trouble(e: Exception) -> None:
    """Raise a clear MatdError for a failure of the cluster itself (a worker died, the
    connection to the scheduler was lost); return for any other exception."""
    name = type(e).__name__
    if name == "KilledWorker":
        raise MatdError(f"a dask worker died while computing ({e})",
                        hint="a worker ran out of memory or crashed: give smaller --chunks, "
                        "or more memory per worker") from None
    if name in ("CommClosedError", "StreamClosedError") or \
            isinstance(e, (ConnectionError, TimeoutError)) or \
            name == "OSError" and "connect" in str(e).lower():
        raise MatdError(f"lost the connection to the dask scheduler ({name}: {e})",
                        hint="check that the scheduler and its workers are running") from None
    if name == "FutureCancelledError" or name == "CancelledError":
        raise MatdError(f"the dask computation was cancelled ({e})",
                        hint="the scheduler or a worker went away; run it again") from None


@contextlib.contextmanager
def scheduler(spec: str | None):
    """Run the block inside with the scheduler of ``--scheduler`` (see the module)."""
    spec = spec or "threads"
    if spec in ("threads", "sync", "synchronous"):
        import dask
        token = _IN_PROCESS.set(True)
        try:
            # the functions, not their names: a name makes dask import distributed (0.16 s)
            # to look for a client
            import dask.threaded
            with dask.config.set(scheduler=dask.threaded.get if spec == "threads"
                                 else dask.get):
                yield None
        finally:
            _IN_PROCESS.reset(token)
        return
    try:
        import distributed
    except ImportError:
        raise MatdError(f"--scheduler {spec} needs dask.distributed, which is not installed",
                        hint=DISTRIBUTED_INSTALL) from None
    if spec == "local" or spec.startswith("local:"):
        n = _workers(spec)
        with _quiet_logs(), distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", silence_logs=50) as cluster, \
                distributed.Client(cluster) as client:
            _show_dashboard(client)
            yield client
        return
    with _connect(distributed, spec) as client:
        _check_workers(client, spec)
        yield client


def _one_blas_thread():
    """BLAS on one thread per dask thread, while computing in this process: the threads
    scheduler runs a block per core, and a multi-threaded BLAS in each contends for the
    same cores (bench/bigdata.py: the logistic Hessian took 3.1 s so, 1.5 s with one BLAS
    thread).  Set when computing, for the BLAS libraries loaded by then (numpy's, SciPy's).
    Workers of a cluster get this from distributed itself (OMP_NUM_THREADS=1 and the like)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _show_dashboard(client) -> None:
    """On a terminal, where the local cluster's dashboard is (needs bokeh: matd[distributed])."""
    import sys
    if not sys.stderr.isatty():
        return
    try:
        import bokeh  # noqa: F401 - distributed serves the dashboard only with it
    except ImportError:
        return
    with contextlib.suppress(Exception):
        sys.stderr.write(f"matd: dask dashboard at {client.dashboard_link}\n")


def _workers(spec: str) -> int:
    if spec == "local":
        import os
        return max(1, min(4, os.cpu_count() or 1))
    text = spec.split(":", 1)[1]
    try:
        n = int(text)
    except ValueError:
        raise MatdError(f"--scheduler {spec}: expected local:N, N a number of workers",
                        hint="e.g. --scheduler local:4") from None
    if not 1 <= n <= 1024:
        raise MatdError(f"--scheduler {spec}: give 1 to 1024 workers")
    return n


@contextlib.contextmanager
def _quiet_logs():
    import logging
    names = ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker",
             "distributed.http.proxy", "bokeh", "tornado")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _connect(distributed, spec: str):
    import os
    if spec.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://")):
        kw, where = {"address": spec}, f"the dask scheduler at {spec}"
    elif spec.endswith(".json"):
        if not os.path.isfile(spec):
            raise MatdError(f"--scheduler {spec}: no such scheduler file",
                            hint="give the file `dask scheduler --scheduler-file FILE` wrote")
        kw, where = {"scheduler_file": spec}, f"the dask scheduler of {spec}"
    else:
        raise MatdError(f"--scheduler {spec}: not a scheduler",
                        hint="threads, local, local:N, tcp://HOST:PORT or FILE.json")
    try:
        with _quiet_logs():
            client = distributed.Client(timeout="10s", **kw)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the user's to fix
        raise MatdError(f"cannot connect to {where}: {type(e).__name__}: {e}",
                        hint="check the address and that the scheduler is running") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def _check_workers(client, spec: str) -> None:
    """The cluster has workers, and each can import matd (it reads the inputs and runs
    matd's blockwise functions)."""
    try:
        found = client.run(_matd_version)
    except Exception as e:  # noqa: BLE001
        raise MatdError(f"--scheduler {spec}: cannot run on the workers ({e})") from None
    if not found:
        raise MatdError(f"--scheduler {spec}: the cluster has no workers",
                        hint="start workers: dask worker ADDRESS")
    missing = sorted(w for w, v in found.items() if v is None)
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more"
                                          if len(missing) > 4 else "")
        raise MatdError(f"--scheduler {spec}: matd is not installed on the workers {shown}",
                        hint="install matd (and its [dask] extra) where the workers run")


def _matd_version():
    try:
        import matd
    except ImportError:
        return None
    return getattr(matd, "__version__", "unknown")
