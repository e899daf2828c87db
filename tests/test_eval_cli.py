"""`matd eval` through the real command: every input form, shape checks, output files and
formats, random inputs, and numerical trouble (exit 2 with a message, never a traceback).

Commands run in parallel where a test has several (``many``), and the parametrized
tables run as one parallel batch per module (``batch``): a `matd` start costs ~0.3 s.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}
WORKERS = max(2, 2 * (os.cpu_count() or 1))


def raw(args, stdin: bytes | None = None, cwd=None):
    p = subprocess.run([MATD, *map(str, args)], input=stdin, capture_output=True, env=ENV,
                       cwd=cwd)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def sane(result):
    rc, out, err = result
    assert "Traceback" not in out + err, err
    assert "internal error" not in err, err
    return result


def matd(*args, stdin: bytes | None = None, cwd=None):
    return sane(raw(args, stdin, cwd))


def many(*commands):
    """Several `matd` commands (argument tuples) at once, in parallel: their results."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return [sane(r) for r in pool.map(raw, commands)]


def number(out: str):
    return np.loadtxt(io.StringIO(out))


A = np.arange(6.0).reshape(2, 3) + 1          # [[1, 2, 3], [4, 5, 6]]
X3 = np.array([1.0, -2.0, 0.5])
AX = A @ X3
PROG = "A: m x n; x: n; A x"


def make_files(d: Path) -> Path:
    np.save(d / "A.npy", A)
    np.save(d / "x.npy", X3)
    np.savez(d / "both.npz", A=A, x=X3)
    np.savez(d / "one.npz", anything=A)
    np.savez(d / "other.npz", P=A, Q=np.zeros((5, 5)))
    np.savetxt(d / "A.csv", A, delimiter=",")
    np.savetxt(d / "A.txt", A)
    np.savetxt(d / "x.txt", X3)
    np.savetxt(d / "row.csv", A[:1], delimiter=",")          # one line: a 1×3 matrix
    np.save(d / "nan.npy", np.array([1.0, np.nan, 3.0]))
    np.save(d / "inf.npy", np.array([[1.0, np.inf], [0.0, 1.0]]))
    np.save(d / "ones3.npy", np.ones((3, 3)))
    (d / "bad.csv").write_text("1,2\nthree,4\n")
    np.save(d / "words.npy", np.array(["a", "b", "c"]))
    np.save(d / "cube.npy", np.ones((2, 2, 2)))
    return d


# --- the parametrized tables (run as one batch) ------------------------------------------
FORMS = [
    ("{d}/A.npy", "{d}/x.npy"),
    ("{d}/both.npz", "{d}/both.npz"),            # the key is the variable's name
    ("{d}/both.npz:A", "{d}/both.npz:x"),
    ("{d}/one.npz", "{d}/x.npy"),                # a single array, whatever its key
    ("{d}/other.npz:P", "{d}/x.txt"),
    ("{d}/A.csv", "[1, -2, 0.5]"),
    ("{d}/A.txt", "[1,-2,0.5]"),
    ("[[1,2,3],[4,5,6]]", "{d}/x.npy"),
]

SHAPES = [  # program, --at values, the array named, its origin, what the message shows
    ("A: 3 x 3; x: 3; A x", ["A={d}/A.npy", "x=[1,2,3]"], "A", "A.npy", ["(2, 3)", "3 x 3"]),
    ("A: m x n; x: n; A x", ["A={d}/A.npy", "x=[1,2]"], "x", "the command line",
     ["(2,)", "n = 3", "A.npy"]),
    ("A: m x n; B: n x m; tr(A B)", ["A={d}/A.npy", "B={d}/A.npy"], "B", "A.npy",
     ["(2, 3)", "n x m"]),
    ("A: m x n; x: n; A x", ["A={d}/A.npy", "x=[1,2,3]", "D=m=5"], "A", "A.npy",
     ["(2, 3)", "m x n", "--dims m=5"]),
    ("x: m*n; C: m x n; sum(unvec(x, m) .* C)", ["C={d}/A.npy", "x={d}/x.npy"], "x", "x.npy",
     ["(3,)", "m*n"]),
    # the same mismatch, the arrays given in the other order
    ("x: m*n; C: m x n; sum(unvec(x, m) .* C)", ["x={d}/x.npy", "C={d}/A.npy"], "x", "x.npy",
     ["(3,)", "m*n"]),
]

TROUBLE = [  # program, --at values, words the message must contain
    ("X: n x n; inv(X)", ["X={d}/ones3.npy"], ["X^-1", "singular"]),
    ("X, B: n x n; inv(X) B", ["X={d}/ones3.npy", "B=[[1,0,0],[0,1,0],[0,0,1]]"],
     ["X^-1 B", "singular"]),
    ("X: n x n; logdet(X)", ["X={d}/ones3.npy"], ["logdet(X)"]),
    ("S: n x n spd; logdet(S)", ["S=[[1,2],[2,1]]"], ["S", "positive definite"]),
    ("x: n; sum(exp(x))", ["x=[1000, 1]"], ["exp(x)"]),
    ("x: n; sum(exp(2 x))", ["x=[400, 1]"], ["exp(2 x)"]),
    ("x: n; sum(log(x))", ["x=[-1, 1]"], ["log(x)"]),
    ("x: n; sum(x)", ["x={d}/nan.npy"], ["x", "NaN"]),
    ("A: n x n; sum(A)", ["A={d}/inf.npy"], ["A", "Inf"]),
]

BAD_OUT = ["r.txt", "r.npy.tmp", "nosuchdir/r.npy", "r"]


def _ats(items, d):
    args = []
    for a in items:
        if a.startswith("D="):
            args += ["--dims", a[2:]]
        else:
            args += ["--at", a.format(d=d)]
    return args


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def batch(data, tmp_path_factory):
    """Every command of the tables above, run once, in parallel."""
    cmds = {}
    for i, (a, x) in enumerate(FORMS):
        cmds["form", i] = (["eval", PROG, "--at", "A=" + a.format(d=data),
                            "--at", "x=" + x.format(d=data)], None, None)
    for i, (prog, ats, *_) in enumerate(SHAPES):
        cmds["shape", i] = (["eval", prog, *_ats(ats, data)], None, None)
    for i, (prog, ats, _) in enumerate(TROUBLE):
        cmds["trouble", i] = (["eval", prog, *_ats(ats, data)], None, None)
    for i, out in enumerate(BAD_OUT):
        cwd = tmp_path_factory.mktemp(f"out{i}")
        cmds["out", i] = (["eval", PROG, "--at", "A=[[1,2,3]]", "--at", "x=[1,2,3]",
                           "--out", out], None, cwd)
    keys = list(cmds)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda k: raw(*cmds[k]), keys))
    return {k: (r, cmds[k][2]) for k, r in zip(keys, results)}


@pytest.mark.parametrize("i", range(len(FORMS)), ids=[f"{a}|{x}" for a, x in FORMS])
def test_input_forms(batch, i):
    (rc, out, err), _ = batch["form", i]
    sane((rc, out, err))
    assert rc == 0, err
    np.testing.assert_allclose(number(out), AX, rtol=1e-15)


@pytest.mark.parametrize("i", range(len(SHAPES)), ids=[f"{s[0]}|{s[1][0]}" for s in SHAPES])
def test_shape_mismatch_names_array_file_and_both_shapes(batch, i):
    _, _, name, src, shows = SHAPES[i]
    (rc, out, err), _ = batch["shape", i]
    sane((rc, out, err))
    assert rc == 2 and out == "", err
    assert f"--at {name}" in err, err
    assert src in err, err
    for s in shows:
        assert s in err, err


@pytest.mark.parametrize("i", range(len(TROUBLE)), ids=[f"{t[0]}|{t[1][0]}" for t in TROUBLE])
def test_numerical_trouble_is_exit_2_naming_the_subexpression(batch, i):
    _, _, words = TROUBLE[i]
    (rc, out, err), _ = batch["trouble", i]
    sane((rc, out, err))
    assert rc == 2 and out == "", (out, err)
    assert "error:" in err
    for w in words:
        assert w in err, err
    assert "Warning" not in err


@pytest.mark.parametrize("i", range(len(BAD_OUT)), ids=BAD_OUT)
def test_invalid_out_is_exit_2_and_leaves_nothing(batch, i):
    (rc, out, err), cwd = batch["out", i]
    sane((rc, out, err))
    assert rc == 2 and "--out" in err and out == "", err
    assert list(Path(cwd).iterdir()) == []


# --- the rest ----------------------------------------------------------------------------
def test_literals():
    r = many(("eval", "c: scalar; x: n; sum(c x)", "--at", "c=0.5", "--at", "x=[1,2,3]"),
             ("eval", "c: scalar; 2 c", "--at", "c=-1.5"),
             ("eval", "c: scalar; 2 c", "--at", "c=1e-3"),
             ("eval", "A: n x n; A^T", "--at", "A=[[1,2],[3,4]]"))
    assert [rc for rc, _, _ in r] == [0] * 4, r
    assert float(number(r[0][1])) == 3.0
    assert float(number(r[1][1])) == -3.0
    assert float(number(r[2][1])) == 2e-3
    np.testing.assert_array_equal(number(r[3][1]), [[1, 3], [2, 4]])


def test_npz_on_stdin(data):
    both, one, other = ((data / f).read_bytes() for f in ("both.npz", "one.npz", "other.npz"))
    with ThreadPoolExecutor(WORKERS) as pool:
        jobs = [pool.submit(raw, ("eval", PROG, "--at", "A=-", "--at", "x=-"), both),
                pool.submit(raw, ("eval", PROG, "--at", "A=-:A", "--at", "x=-:x"), both),
                pool.submit(raw, ("eval", PROG, "--at", "A=-", "--at", f"x={data}/x.npy"), one),
                pool.submit(raw, ("eval", PROG, "--at", "A=-", "--at", "x=[1,2,3]"),
                            b"not an archive")]
        r = [sane(j.result()) for j in jobs]
    for rc, out, err in r[:3]:
        assert rc == 0, err
        np.testing.assert_allclose(number(out), AX)
    rc, _, err = r[3]
    assert rc == 2 and "standard input" in err and "npz" in err


def test_npz_on_stdin_without_the_key_says_how_to_name_it(data):
    rc, _, err = matd("eval", PROG, "--at", "A=-", "--at", f"x={data}/x.npy",
                      stdin=(data / "other.npz").read_bytes())
    assert rc == 2
    assert "P" in err and "Q" in err
    # the hint must be a command line that works: stdin is spelled '-', so '-:KEY'
    assert "--at A=-:KEY" in err, err


def test_npz_key_errors(data):
    (rc1, _, err1), (rc2, _, err2) = many(
        ("eval", PROG, "--at", f"A={data}/other.npz", "--at", "x=[1,2,3]"),
        ("eval", PROG, "--at", f"A={data}/other.npz:R", "--at", "x=[1,2,3]"))
    assert rc1 == 2 and "other.npz" in err1 and "P" in err1 and "Q" in err1
    assert rc2 == 2 and "'R'" in err2 and "other.npz" in err2


def test_one_row_text_file_is_a_one_row_matrix(data):
    """A 1×3 matrix saved by np.savetxt is one line; matd must read it back as 1×3."""
    rc, out, err = matd("eval", "A: 1 x 3; x: 3; A x", "--at", f"A={data}/row.csv",
                        "--at", "x=[1,1,1]")
    assert rc == 0, err
    assert float(number(out)) == 6.0


def test_unreadable_inputs(data):
    table = [(f"A={data}/nosuch.npy", ["nosuch.npy", "no such file"]),
             ("A=[1,2", ["A=[1,2", "not a file"]),
             ("A", ["expected NAME=VALUE"]),
             ("1A=3", ["not a variable name"]),
             (f"A={data}/bad.csv", ["bad.csv", "cannot read"]),
             (f"A={data}/cube.npy", ["--at A", "3-d"])]
    results = many(*(("eval", PROG, "--at", at, "--at", "x=[1,2,3]") for at, _ in table))
    for (at, words), (rc, out, err) in zip(table, results):
        assert rc == 2 and out == "", (at, err)
        for w in words:
            assert w in err, (at, err)


def test_non_numeric_array_is_an_input_error(data):
    rc, out, err = matd("eval", "x: n; sum(x)", "--at", f"x={data}/words.npy")
    assert rc == 2 and out == "", err
    assert "--at x" in err and "numeric" in err, err


def test_unknown_and_missing_names_and_bad_dims():
    (rc, _, err), (rc2, _, err2), *dims = many(
        ("eval", PROG, "--at", "A=[[1,2,3]]", "--at", "x=[1,2,3]", "--at", "y=1"),
        ("eval", PROG, "--at", "A=[[1,2,3]]"),
        ("eval", PROG, "--random", "--dims", "m=0"),
        ("eval", PROG, "--random", "--dims", "m=x"),
        ("eval", PROG, "--random", "--dims", "m"))
    assert rc == 2 and "no variable 'y'" in err and "A, x" in err
    assert rc2 == 2 and "no value for x" in err2 and "--random" in err2
    for rc, _, err in dims:
        assert rc == 2 and "--dims" in err, err


def test_random_fills_the_missing_values_and_is_seeded():
    a, b, c, d = many(("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "4"),
                      ("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "4"),
                      ("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "5"),
                      ("eval", "A: m x n; A", "--random", "--seed", "1", "--dims", "m=2,n=5"))
    a, b, c, d = (number(r[1]) for r in (a, b, c, d))
    assert a.shape == (2,) and np.array_equal(a, b) and not np.allclose(a, c)
    assert d.shape == (2, 5)


def test_random_respects_attributes(tmp_path):
    attrs = ("spd", "sym", "orth", "diag")
    results = many(*(("eval", f"S: n x n {a}; S", "--random", "--seed", "3", "--dims", "n=5",
                      "--out", tmp_path / f"{a}.npy") for a in attrs))
    for attr, (rc, _, err) in zip(attrs, results):
        assert rc == 0, err
        S = np.load(tmp_path / f"{attr}.npy")
        assert S.shape == (5, 5)
        if attr in ("spd", "sym"):
            np.testing.assert_allclose(S, S.T, atol=1e-15)
        if attr == "spd":
            assert np.linalg.eigvalsh(S).min() > 0
        if attr == "orth":
            np.testing.assert_allclose(S.T @ S, np.eye(5), atol=1e-12)
        if attr == "diag":
            assert np.count_nonzero(S - np.diag(np.diag(S))) == 0


def test_text_and_json_output():
    r = many(("eval", "A: n x n; A^T", "--at", "A=[[1,2],[3,4.25]]"),
             ("eval", "x: n; x / 3", "--at", "x=[1,2]"),
             ("eval", "x: n; sum(x)", "--at", "x=[1,2]"),
             ("eval", "A: n x n; x: n; A x", "--at", "A=[[1,2],[3,4]]", "--at", "x=[1,-1]",
              "--format", "json"),
             ("eval", "A: n x n; A^T", "--at", "A=[[1,2],[3,4]]", "--format", "json"),
             ("eval", "A: n x n; tr(A)", "--at", "A=[[1,2],[3,4]]", "--format", "json"))
    assert [x[0] for x in r] == [0] * 6, r
    np.testing.assert_array_equal(np.loadtxt(io.StringIO(r[0][1]), ndmin=2), [[1, 3], [2, 4.25]])
    assert number(r[1][1]).tolist() == [1 / 3, 2 / 3]          # every digit printed
    assert r[2][1].strip() == "3"
    assert json.loads(r[3][1]) == {"shape": [2], "value": [-1.0, -1.0]}
    assert json.loads(r[4][1]) == {"shape": [2, 2], "value": [[1.0, 3.0], [2.0, 4.0]]}
    assert json.loads(r[5][1]) == {"shape": [], "value": 5.0}


def test_out_npy_and_npz(tmp_path):
    (rc, out, err), (rc2, out2, err2) = many(
        ("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--at", "x=[1,-2,0.5]",
         "--out", tmp_path / "r.npy"),
        ("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--at", "x=[1,-2,0.5]",
         "--out", tmp_path / "r.npz"))
    assert rc == 0 and out == "", err
    assert rc2 == 0 and out2 == "", err2
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), AX)
    with np.load(tmp_path / "r.npz") as z:
        assert list(z.keys()) == ["value"]
        np.testing.assert_allclose(z["value"], AX)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npy", "r.npz"]   # no temporaries


def test_out_replaces_a_file_and_failures_leave_it_alone(tmp_path):
    target = tmp_path / "r.npy"
    np.save(target, np.array([42.0]))
    rc, _, err = matd("eval", "X: n x n; inv(X)", "--at", "X=[[1,1],[1,1]]", "--out", target)
    assert rc == 2 and "singular" in err
    assert np.load(target).tolist() == [42.0]
    rc, _, err = matd("eval", "X: n x n; inv(X)", "--at", "X=[[2,0],[0,4]]", "--out", target)
    assert rc == 0, err
    np.testing.assert_allclose(np.load(target), [[0.5, 0], [0, 0.25]])
    assert [p.name for p in tmp_path.iterdir()] == ["r.npy"]


def test_float32(tmp_path):
    src = "X: n x n; B: n x k; sum(inv(X) B) + sum(tanh(X B))"
    args = ("--random", "--seed", "2", "--dims", "n=5,k=2")
    (rc, _, err), (rc2, _, err2) = many(
        ("eval", src, *args, "--out", tmp_path / "64.npy"),
        ("eval", src, *args, "--dtype", "float32", "--out", tmp_path / "32.npy"))
    assert rc == 0 and rc2 == 0, err + err2
    a, b = np.load(tmp_path / "64.npy"), np.load(tmp_path / "32.npy")
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=1e-3)


def test_usage_errors():
    r = many(("eval", PROG, "--random", "--device", "tpu"),
             ("eval", PROG, "--random", "--dtype", "float16"),
             ("eval", "A: n x n", "--random"),
             ("eval", "A: n x n; A +", "--random"))
    assert all(rc == 2 for rc, _, _ in r), r
    assert "tpu" in r[0][2] and "float16" in r[1][2]
    assert "nothing to evaluate" in r[2][2]
    assert "error:" in r[3][2]
