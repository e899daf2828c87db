"""`matd eval` through the real command: every input form, shape checks, output files and
formats, random inputs, and numerical trouble (exit 2 with a message, never a traceback)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}


def matd(*args, stdin: bytes | str | None = None, cwd=None):
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([MATD, *map(str, args)], input=data, capture_output=True, env=ENV,
                       cwd=cwd)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err, err
    assert "internal error" not in err, err
    return p.returncode, out, err


def loadtxt(out: str):
    return np.loadtxt(io.StringIO(out), ndmin=2)


def value(*args, **kw):
    """The printed value (plain text, loadtxt-compatible) of a successful eval."""
    rc, out, err = matd("eval", *args, **kw)
    assert rc == 0, err
    return np.loadtxt(io.StringIO(out))


A = np.arange(6.0).reshape(2, 3) + 1          # [[1, 2, 3], [4, 5, 6]]
X3 = np.array([1.0, -2.0, 0.5])
AX = A @ X3


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "x.npy", X3)
    np.savez(tmp_path / "both.npz", A=A, x=X3)
    np.savez(tmp_path / "one.npz", anything=A)
    np.savez(tmp_path / "other.npz", P=A, Q=np.zeros((5, 5)))
    np.savetxt(tmp_path / "A.csv", A, delimiter=",")
    np.savetxt(tmp_path / "A.txt", A)
    np.savetxt(tmp_path / "x.txt", X3)
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan, 3.0]))
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf], [0.0, 1.0]]))
    np.save(tmp_path / "ones3.npy", np.ones((3, 3)))
    return tmp_path


PROG = "A: m x n; x: n; A x"


@pytest.mark.parametrize("a_form,x_form", [
    ("{d}/A.npy", "{d}/x.npy"),
    ("{d}/both.npz", "{d}/both.npz"),            # the key is the variable's name
    ("{d}/both.npz:A", "{d}/both.npz:x"),
    ("{d}/one.npz", "{d}/x.npy"),                # a single array, whatever its key
    ("{d}/other.npz:P", "{d}/x.txt"),
    ("{d}/A.csv", "[1, -2, 0.5]"),
    ("{d}/A.txt", "[1,-2,0.5]"),
    ("[[1,2,3],[4,5,6]]", "{d}/x.npy"),
])
def test_input_forms(files, a_form, x_form):
    got = value(PROG, "--at", "A=" + a_form.format(d=files), "--at", "x=" + x_form.format(d=files))
    np.testing.assert_allclose(got, AX, rtol=1e-15)


def test_scalar_literals():
    assert float(value("c: scalar; x: n; sum(c x)", "--at", "c=0.5", "--at", "x=[1,2,3]")) == 3.0
    assert float(value("c: scalar; 2 c", "--at", "c=-1.5")) == -3.0
    assert float(value("c: scalar; 2 c", "--at", "c=1e-3")) == 2e-3
    np.testing.assert_array_equal(value("A: n x n; A^T", "--at", "A=[[1,2],[3,4]]"),
                                  [[1, 3], [2, 4]])


def test_npz_on_stdin(files):
    data = (files / "both.npz").read_bytes()
    np.testing.assert_allclose(value(PROG, "--at", "A=-", "--at", "x=-", stdin=data), AX)
    np.testing.assert_allclose(value(PROG, "--at", "A=-:A", "--at", "x=-:x", stdin=data), AX)
    # one variable from stdin, one from a file
    np.testing.assert_allclose(value(PROG, "--at", "A=-", "--at", f"x={files}/x.npy",
                                     stdin=(files / "one.npz").read_bytes()), AX)


def test_npz_on_stdin_without_the_key_says_how_to_name_it(files):
    rc, _, err = matd("eval", PROG, "--at", "A=-", "--at", f"x={files}/x.npy",
                      stdin=(files / "other.npz").read_bytes())
    assert rc == 2
    assert "P" in err and "Q" in err
    # the hint must be a command line that works: stdin is spelled '-', so '-:KEY'
    assert "--at A=-:KEY" in err, err


def test_stdin_that_is_not_npz_is_an_input_error():
    rc, _, err = matd("eval", PROG, "--at", "A=-", "--at", "x=[1,2,3]", stdin=b"not an archive")
    assert rc == 2 and "standard input" in err


def test_npz_key_errors(files):
    rc, _, err = matd("eval", PROG, "--at", f"A={files}/other.npz", "--at", "x=[1,2,3]")
    assert rc == 2 and "other.npz" in err and "P" in err and "Q" in err
    rc, _, err = matd("eval", PROG, "--at", f"A={files}/other.npz:R", "--at", "x=[1,2,3]")
    assert rc == 2 and "'R'" in err and "other.npz" in err


def test_one_row_text_file_is_a_one_row_matrix(tmp_path):
    """A 1×3 matrix saved by np.savetxt is one line; matd must read it back as 1×3."""
    row = np.array([[1.0, 2.0, 3.0]])
    np.savetxt(tmp_path / "row.csv", row, delimiter=",")
    got = value("A: 1 x 3; x: 3; A x", "--at", f"A={tmp_path}/row.csv", "--at", "x=[1,1,1]")
    assert float(got) == 6.0


def test_unreadable_inputs(files):
    for at, words in [("A=nosuch.npy", ["nosuch.npy", "no such file"]),
                      ("A=[1,2", ["A=[1,2", "not a file"]),
                      ("A", ["expected NAME=VALUE"]),
                      ("1A=3", ["not a variable name"])]:
        rc, _, err = matd("eval", PROG, "--at", at, "--at", "x=[1,2,3]")
        assert rc == 2, (at, err)
        for w in words:
            assert w in err, (at, err)
    (files / "bad.csv").write_text("1,2\nthree,4\n")
    rc, _, err = matd("eval", PROG, "--at", f"A={files}/bad.csv", "--at", "x=[1,2]")
    assert rc == 2 and "bad.csv" in err


@pytest.mark.parametrize("prog,ats,name,src,shapes", [
    ("A: 3 x 3; x: 3; A x", ["A={d}/A.npy", "x=[1,2,3]"], "A", "A.npy", ["(2, 3)", "3 x 3"]),
    ("A: m x n; x: n; A x", ["A={d}/A.npy", "x=[1,2]"], "x", "the command line",
     ["(2,)", "n = 3", "A.npy"]),
    ("A: m x n; B: n x m; tr(A B)", ["A={d}/A.npy", "B={d}/A.npy"], "B", "A.npy",
     ["(2, 3)", "n x m"]),
    ("x: m*n; C: m x n; sum(unvec(x, m) .* C)", ["C={d}/A.npy", "x={d}/x.npy"], "x", "x.npy",
     ["(3,)", "m*n"]),
    ("x: m*n; C: m x n; sum(unvec(x, m) .* C)", ["x={d}/x.npy", "C={d}/A.npy"], "x", "x.npy",
     ["(3,)", "m*n"]),
])
def test_shape_mismatch_names_array_file_and_both_shapes(files, prog, ats, name, src, shapes):
    args = []
    for a in ats:
        args += ["--at", a.format(d=files)]
    rc, out, err = matd("eval", prog, *args)
    assert rc == 2 and out == ""
    assert f"--at {name}" in err, err
    assert src in err, err
    for s in shapes:
        assert s in err, err


def test_dims_conflict_with_an_array(files):
    rc, _, err = matd("eval", PROG, "--at", f"A={files}/A.npy", "--at", "x=[1,2,3]",
                      "--dims", "m=5")
    assert rc == 2 and "A.npy" in err and "(2, 3)" in err and "m=5" in err


def test_unknown_and_missing_names():
    rc, _, err = matd("eval", PROG, "--at", "A=[[1,2,3]]", "--at", "x=[1,2,3]", "--at", "y=1")
    assert rc == 2 and "no variable 'y'" in err and "A, x" in err
    rc, _, err = matd("eval", PROG, "--at", "A=[[1,2,3]]")
    assert rc == 2 and "no value for x" in err and "--random" in err


def test_bad_dims():
    for dims in ("m=0", "m=x", "m"):
        rc, _, err = matd("eval", PROG, "--random", "--dims", dims)
        assert rc == 2 and "--dims" in err, (dims, err)


def test_random_fills_the_missing_values_and_is_seeded(tmp_path):
    a = value(PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "4")
    b = value(PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "4")
    c = value(PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--random", "--seed", "5")
    assert a.shape == (2,) and np.array_equal(a, b) and not np.allclose(a, c)
    got = value("A: m x n; A", "--random", "--seed", "1", "--dims", "m=2,n=5")
    assert got.shape == (2, 5)


def test_random_respects_attributes(tmp_path):
    for attr in ("spd", "sym", "orth", "diag"):
        rc, _, err = matd("eval", f"S: n x n {attr}; S", "--random", "--seed", "3", "--dims",
                          "n=5", "--out", tmp_path / f"{attr}.npy")
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


def test_text_output_reads_back_with_loadtxt():
    rc, out, _ = matd("eval", "A: n x n; A^T", "--at", "A=[[1,2],[3,4.25]]")
    assert rc == 0
    np.testing.assert_array_equal(loadtxt(out), [[1, 3], [2, 4.25]])
    rc, out, _ = matd("eval", "x: n; x / 3", "--at", "x=[1,2]")
    assert np.loadtxt(io.StringIO(out)).tolist() == [1 / 3, 2 / 3]   # all 17 digits
    rc, out, _ = matd("eval", "x: n; sum(x)", "--at", "x=[1,2]")
    assert out.strip() == "3"


def test_json_output():
    rc, out, _ = matd("eval", "A: n x n; x: n; A x", "--at", "A=[[1,2],[3,4]]", "--at",
                      "x=[1,-1]", "--format", "json")
    assert rc == 0 and json.loads(out) == {"shape": [2], "value": [-1.0, -1.0]}
    rc, out, _ = matd("eval", "A: n x n; A^T", "--at", "A=[[1,2],[3,4]]", "--format", "json")
    assert json.loads(out) == {"shape": [2, 2], "value": [[1.0, 3.0], [2.0, 4.0]]}
    rc, out, _ = matd("eval", "A: n x n; tr(A)", "--at", "A=[[1,2],[3,4]]", "--format", "json")
    assert json.loads(out) == {"shape": [], "value": 5.0}


def test_out_npy_and_npz(tmp_path):
    rc, out, err = matd("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--at", "x=[1,-2,0.5]",
                        "--out", tmp_path / "r.npy")
    assert rc == 0 and out == "", err
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), AX)
    rc, _, err = matd("eval", PROG, "--at", "A=[[1,2,3],[4,5,6]]", "--at", "x=[1,-2,0.5]",
                      "--out", tmp_path / "r.npz")
    assert rc == 0, err
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


@pytest.mark.parametrize("out", ["r.txt", "r.npy.tmp", "nosuchdir/r.npy", "r"])
def test_invalid_out_is_exit_2_and_leaves_nothing(tmp_path, out):
    rc, stdout, err = matd("eval", PROG, "--at", "A=[[1,2,3]]", "--at", "x=[1,2,3]",
                           "--out", out, cwd=tmp_path)
    assert rc == 2 and "--out" in err and stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("prog,ats,words", [
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
])
def test_numerical_trouble_is_exit_2_naming_the_subexpression(files, prog, ats, words):
    args = []
    for a in ats:
        args += ["--at", a.format(d=files)]
    rc, out, err = matd("eval", prog, *args)
    assert rc == 2 and out == "", err
    assert "error:" in err
    for w in words:
        assert w in err, err
    assert "Warning" not in err


def test_float32(tmp_path):
    src = "X: n x n; B: n x k; sum(inv(X) B) + sum(tanh(X B))"
    args = ["--random", "--seed", "2", "--dims", "n=5,k=2"]
    rc, _, err = matd("eval", src, *args, "--out", tmp_path / "64.npy")
    assert rc == 0, err
    rc, _, err = matd("eval", src, *args, "--dtype", "float32", "--out", tmp_path / "32.npy")
    assert rc == 0, err
    a, b = np.load(tmp_path / "64.npy"), np.load(tmp_path / "32.npy")
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=1e-3)


def test_bad_device_and_dtype_choices():
    rc, _, err = matd("eval", PROG, "--random", "--device", "tpu")
    assert rc == 2 and "tpu" in err
    rc, _, err = matd("eval", PROG, "--random", "--dtype", "float16")
    assert rc == 2 and "float16" in err


def test_no_expression_and_bad_syntax():
    rc, _, err = matd("eval", "A: n x n", "--random")
    assert rc == 2 and "nothing to evaluate" in err
    rc, _, err = matd("eval", "A: n x n; A +", "--random")
    assert rc == 2 and "error:" in err
