"""Pipelines through the real `matd` command: --batch (diff, eval), data on stdout and
diagnostics on stderr, closed pipes, and `jq` where it is installed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent
MATD = str(BIN / "matd")
ENV = {"PATH": f"{BIN}:/usr/bin:/bin", "NO_COLOR": "1"}


def run(*args, stdin: str | bytes | None = None):
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([MATD, *args], input=data, capture_output=True, env=ENV)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in out + err
    return p.returncode, out, err


def sh(script: str):
    """A shell pipeline, with the installed matd first on PATH: (status, stdout, stderr)."""
    p = subprocess.run(["bash", "-c", script], capture_output=True, env=ENV)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def objects(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


BATCH = "\n".join([
    "X: n x n; logdet(X)",
    json.dumps({"expression": "A: m x n; x: n; y: m; norm(A x - y)^2", "wrt": ["x"],
                "id": "ls"}),
    "x: n; x^2",                                            # fails: a matrix power
    "",                                                     # skipped
    "# a comment line, skipped",
    json.dumps({"expression": "A: n x n; x: n; x^T A x", "wrt": "x", "order": 2}),
    json.dumps({"expression": "W: m x n; x: n; tanh(W x)"}),   # two variables
    "foo(",                                                 # fails: syntax
    json.dumps({"expression": "x: n; sum(x)", "wrt": ["x"], "typo": 1}),  # fails: a key
]) + "\n"


def test_diff_batch_answers_every_program_in_order():
    rc, out, err = run("diff", "--batch", stdin=BATCH)
    assert rc == 2                       # some items failed
    objs = objects(out)
    assert [o["line"] for o in objs] == [1, 2, 3, 6, 7, 8, 9]
    logdet, ls, power, hess, two, syntax, typo = objs
    assert logdet["derivative"] == "X^-T" and logdet["kind"] == "gradient"
    assert ls["id"] == "ls" and ls["wrt"] == "x" and ls["shape"] == ["n"]
    assert power["code"] == "MD002" and "matrix power" in power["error"] and power["col"] == 7
    assert hess["order"] == 2 and hess["kind"] == "hessian"
    assert two["wrt"] == ["W", "x"] and [r["wrt"] for r in two["results"]] == ["W", "x"]
    assert syntax["code"] == "MD001" and syntax["name"] == "syntax"
    assert "typo" in typo["error"]
    assert err == ""                     # nothing on stderr: every answer is data


def test_diff_batch_matches_single_runs_and_values():
    rc, out, _ = run("diff", "--batch", stdin=BATCH)
    ls = objects(out)[1]
    rc1, one, _ = run("diff", "A: m x n; x: n; y: m; norm(A x - y)^2", "--wrt", "x",
                      "--format", "json")
    assert {k: v for k, v in ls.items() if k not in ("line", "id")} == json.loads(one)
    rng = np.random.default_rng(1)
    A, x, y = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    rc, val, err = run("eval", ls["derivative"], "--at", f"A={A.tolist()}", "--at",
                       f"x={x.tolist()}", "--at", f"y={y.tolist()}", "--format", "json")
    assert rc == 0, err
    np.testing.assert_allclose(json.loads(val)["value"], 2 * A.T @ (A @ x - y), rtol=1e-12)


def test_diff_batch_defaults_come_from_the_flags():
    rc, out, _ = run("diff", "--batch", "--wrt", "x", "--order", "2",
                     stdin="A: n x n; x: n; x^T A x\n")
    (obj,) = objects(out)
    assert rc == 0 and obj["kind"] == "hessian" and obj["wrt"] == "x"


def test_batch_all_good_exits_0_and_usage_errors_exit_2():
    rc, out, _ = run("diff", "--batch", stdin="x: n; norm(x)^2\nX: n x n; tr(X)\n")
    assert rc == 0 and len(objects(out)) == 2
    rc, _, err = run("diff", "x: n; x", "--batch", stdin="")
    assert rc == 2 and "--batch" in err
    rc, _, err = run("diff", "--batch", "--format", "latex", stdin="")
    assert rc == 2
    rc, _, err = run("diff")
    assert rc == 2 and "EXPR" in err


def test_eval_batch_values():
    lines = [json.dumps({"expression": "x: n; norm(x)^2", "at": {"x": [3, 4]}}),
             "A: 2 x 2; tr(A)",                        # A from --at
             json.dumps({"expression": "A: n x n; x: n; x^T A x",
                         "at": {"x": [1, 2]}}),        # A from --at, x from the item
             json.dumps({"expression": "x: n; sum(x)", "at": {"x": [[1, 2], [3]]}}),
             json.dumps({"expression": "S: n x n spd; logdet(S)", "random": True,
                         "seed": 1, "dims": {"n": 3}}),
             "y: n; sum(y)"]                           # no value for y
    rc, out, err = run("eval", "--batch", "--at", "A=[[1,2],[3,4]]",
                       stdin="\n".join(lines) + "\n")
    assert rc == 2
    a, b, c, ragged, rand, missing = objects(out)
    assert a == {"line": 1, "shape": [], "value": 25.0}
    assert b["value"] == 5.0
    assert c["value"] == pytest.approx(1 + 2 * 2 + 2 * 3 + 4 * 4)
    assert ragged["code"] == "MD004" and ragged["line"] == 4
    rc1, one, _ = run("eval", "S: n x n spd; logdet(S)", "--random", "--seed", "1",
                      "--dims", "n=3", "--format", "json")
    assert rand["value"] == json.loads(one)["value"]
    assert "no value for y" in missing["error"]


def test_closed_pipe_ends_quietly():
    big = "X: n x n; logdet(X)\n" * 5000
    p = subprocess.run(["bash", "-c", f"{MATD} diff --batch | head -1; "
                        "echo \"status ${PIPESTATUS[0]}\" >&2"],
                       input=big.encode(), capture_output=True, env=ENV)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert json.loads(out.splitlines()[0])["derivative"] == "X^-T"
    assert err.strip() == "status 0", err
    rc, out, err = sh(f"yes 'x: n; norm(x)^2' | {MATD} diff --batch | head -2; "
                      "echo \"status ${PIPESTATUS[1]}\" >&2")
    assert len(out.splitlines()) == 2 and err.strip() == "status 0", err
    rc, out, err = sh(f"{MATD} eval 'x: n; x' --random --dims n=300000 | head -1; "
                      "echo \"status ${PIPESTATUS[0]}\" >&2")
    assert len(out.splitlines()) == 1 and err.strip() == "status 0", err
    rc, out, err = sh(f"{MATD} diff 'A: m x n; x: n; A x' --format matd | head -1; "
                      "echo \"status ${PIPESTATUS[0]}\" >&2")
    assert out == "A: m x n\n" and err.strip() == "status 0", err


def test_grad_check_report_goes_to_stderr(tmp_path):
    g = tmp_path / "g.txt"
    rc, _, err = sh(f"{MATD} grad 'A: 3 x 3; x: 3; x^T A x' --wrt x --random --seed 1 "
                    f"--check > {g}")
    assert rc == 0 and "(ok)" in err
    values = np.loadtxt(g)
    assert values.shape == (3,)
    rc, out, _ = run("grad", "A: 3 x 3; x: 3; x^T A x", "--wrt", "x", "--random", "--seed",
                     "1", "--format", "json")
    np.testing.assert_allclose(values, json.loads(out)["derivative"]["x"], rtol=1e-15)
    rc, out, err = run("grad", "A: 3 x 3; x: 3; x^T A x", "--wrt", "x", "--random", "--seed",
                       "1", "--check", "--format", "json")
    assert rc == 0 and json.loads(out)["checks"][0]["ok"] and err == ""


def test_format_matd_several_variables_evaluates_through_the_command(tmp_path):
    prog = "A: m x n; x: n; y: m; norm(A x - y)^2"
    rc, text, err = run("diff", prog, "--format", "matd")
    assert rc == 0, err
    lines = text.splitlines()
    assert sum(ln.startswith("A: ") for ln in lines) == 1 and lines[-1] == "grad_A"
    path = tmp_path / "d.matd"
    path.write_text(text)
    rng = np.random.default_rng(2)
    A, x, y = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal(3)
    at = ["--at", f"A={A.tolist()}", "--at", f"x={x.tolist()}", "--at", f"y={y.tolist()}"]
    rc, out, err = run("eval", str(path), *at, "--format", "json")
    assert rc == 0, err
    np.testing.assert_allclose(json.loads(out)["value"], 2 * np.outer(A @ x - y, x),
                               rtol=1e-12)


jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


@jq
def test_jq_reads_the_batch():
    rc, out, err = sh(f"printf '%s\\n' 'X: n x n; logdet(X)' 'x: n; norm(x)^2' 'x^' "
                      f"| {MATD} diff --batch | jq -r 'select(.error | not) | .derivative'")
    assert rc == 0, err
    assert out.splitlines() == ["X^-T", "2 x"]
    rc, out, err = sh(f"printf '%s\\n' 'x^' | {MATD} diff --batch | jq -r '.code, .line'")
    assert out.splitlines() == ["MD001", "1"]


@jq
def test_jq_builds_eval_items():
    script = (f"{MATD} diff 'A: m x n; x: n; norm(A x)^2' --wrt x --format json "
              "| jq -c '{expression: .derivative, at: {A: [[1,0],[0,2]], x: [1,1]}}' "
              f"| {MATD} eval --batch | jq -c .value")
    rc, out, err = sh(script)
    assert rc == 0, err
    assert json.loads(out) == [2.0, 8.0]     # 2 AᵀA x
