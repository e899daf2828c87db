"""No input crashes matd, and numerical trouble is always reported: every case here runs the
real `matd` command and must end with exit status 2, a `PLACE: error: …` message that says
what is wrong, and no traceback (exit 3 would be a bug).

Inputs are built in tmp_path; the 2 GiB decompression bomb is a ~2 MB zip written by hand
(raw deflate of zero blocks, repeated), never 2 GiB on disk.
"""
from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

MATD = str(Path(sys.executable).parent / "matd")
ENV = {k: v for k, v in os.environ.items() if k != "MATD_DEBUG"} | {"NO_COLOR": "1"}


def raw(args, stdin: bytes | None = None, umask: int | None = None, timeout: float = 60):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run([MATD, *map(str, args)], input=stdin, capture_output=True, env=ENV,
                       timeout=timeout, preexec_fn=pre)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def matd(*args, stdin: bytes | None = None, **kw):
    rc, out, err = raw(args, stdin, **kw)
    assert "Traceback" not in out + err, err
    assert "internal error" not in err, err
    return rc, out, err


def refused(*args, stdin: bytes | None = None, words=(), **kw):
    """Exit 2 with a one-place error message containing every word (case-insensitive)."""
    rc, out, err = matd(*args, stdin=stdin, **kw)
    assert rc == 2, (args, rc, out, err)
    if args[0] == "check":     # `matd check` reports on stdout, one line per file
        err = out + err
    assert "error: " in err, err
    for w in words:
        assert w.lower() in err.lower(), (w, err)
    return err


def many(*cases):
    """(args, words) cases run in parallel, each refused."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as ex:
        return list(ex.map(lambda c: refused(*c[0], words=c[1]), cases))


# -- 1. text that is not UTF-8 ------------------------------------------------------------

BAD_UTF8 = b"x: 3;\n\xff sum(x)\n"


@pytest.mark.parametrize("cmd", ["diff", "check", "eval", "shape"])
def test_invalid_utf8_on_stdin_is_named(cmd):
    err = refused(cmd, "-", stdin=BAD_UTF8, words=["standard input", "not UTF-8",
                                                  "0xff", "line 2"])
    assert "\\udcff" not in err


@pytest.mark.parametrize("cmd", ["diff", "check", "eval"])
def test_invalid_utf8_in_a_file_gives_the_same_error(cmd, tmp_path):
    f = tmp_path / "bad.matd"
    f.write_bytes(BAD_UTF8)
    err = refused(cmd, f, words=[str(f), "not UTF-8", "0xff", "line 2"])
    assert "\\udcff" not in err


def test_invalid_utf8_in_a_csv_input(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(b"1,2,\xe9\n")
    refused("eval", "x: 3; sum(x)", "--at", f"x={f}", words=["x.csv", "not UTF-8"])


def test_a_byte_order_mark_is_fine():
    rc, out, _ = matd("eval", "-", "--at", "x=[1,2]", stdin="\ufeffx: 2; sum(x)".encode())
    assert rc == 0 and float(out) == 3.0


# -- 2. --out --------------------------------------------------------------------------

def test_out_onto_an_existing_directory(tmp_path):
    d = tmp_path / "r.npy"
    d.mkdir()
    refused("eval", "x: 2; x", "--at", "x=[1,2]", "--out", d, words=["--out", "directory"])
    assert d.is_dir() and not list(d.iterdir())
    assert not list(tmp_path.glob(".matd-*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_into_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused("eval", "x: 2; x", "--at", "x=[1,2]", "--out", ro / "r.npy",
                words=["--out", "cannot write", "permission denied"])
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o755)


def test_out_where_even_root_cannot_write():
    target = Path("/sys/matd-test-out.npy")
    if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _can_create("/sys"):
        pytest.skip("no read-only folder here")
    refused("eval", "x: 2; x", "--at", "x=[1,2]", "--out", target,
            words=["--out", "cannot write"])
    assert not target.exists()


def _can_create(folder) -> bool:
    try:
        fd = os.open(os.path.join(folder, ".matd-probe"), os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(os.path.join(folder, ".matd-probe"))
    return True


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_out_files_honour_the_umask(tmp_path, umask, mode):
    out = tmp_path / "r.npz"
    rc, _, err = matd("eval", "x: 2; x", "--at", "x=[1,2]", "--out", out, umask=umask)
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert np.load(out)["value"].tolist() == [1.0, 2.0]


def test_a_failed_request_leaves_an_existing_output_alone(tmp_path):
    out = tmp_path / "r.npy"
    np.save(out, np.array([7.0]))
    refused("eval", "x: 2; sum(log(x))", "--at", "x=[-1,2]", "--out", out, words=["log"])
    assert np.load(out).tolist() == [7.0]
    rc, _, _ = matd("eval", "x: 2; x", "--at", "x=[1,2]", "--out", out)
    assert rc == 0 and np.load(out).tolist() == [1.0, 2.0]
    assert not list(tmp_path.glob(".matd-*"))


# -- 3. pickled members ------------------------------------------------------------------

def _object_npz(path):
    np.savez(path, x=np.array([1.0, "two", None], dtype=object))


def test_pickled_member_in_an_npz_file(tmp_path):
    f = tmp_path / "obj.npz"
    _object_npz(f)
    refused("eval", "x: 3; sum(x)", "--at", f"x={f}", words=["--at x", "pickled", "never"])
    refused("eval", "x: 3; sum(x)", "--at", f"x={f}:x", words=["pickled"])


def test_pickled_member_in_an_npz_on_stdin(tmp_path):
    f = tmp_path / "obj.npz"
    _object_npz(f)
    refused("eval", "x: 3; sum(x)", "--at", "x=-", stdin=f.read_bytes(),
            words=["standard input", "pickled"])


def test_pickled_npy_file_and_npy_on_stdin(tmp_path):
    f = tmp_path / "obj.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused("eval", "x: 1; sum(x)", "--at", f"x={f}", words=["obj.npy", "pickled"])
    refused("eval", "x: 1; sum(x)", "--at", "x=-", stdin=f.read_bytes(), words=["pickled"])


def test_good_npz_on_stdin_still_works(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, x=np.array([1.0, 2.0, 4.0]))
    rc, out, err = matd("eval", "x: 3; sum(x)", "--at", "x=-", stdin=buf.getvalue())
    assert rc == 0 and float(out) == 7.0, err
    buf = io.BytesIO()
    np.save(buf, np.array([1.0, 2.0]))
    rc, out, err = matd("eval", "x: 2; sum(x)", "--at", "x=-", stdin=buf.getvalue())
    assert rc == 0 and float(out) == 3.0, err


def test_stdin_that_is_no_array():
    refused("eval", "x: 2; sum(x)", "--at", "x=-", stdin=b"hello", words=["standard input",
                                                                       ".npz"])
    refused("eval", "x: 2; sum(x)", "--at", "x=-", stdin=b"PK\x03\x04broken",
            words=["standard input", "not an .npz"])


# -- 4. seeds, dims and allocations -------------------------------------------------------

def test_bad_seeds_and_dims():
    prog = "x: n; sum(x)"
    many((("eval", prog, "--random", "--seed", "-1"), ["--seed -1", "0 to"]),
         (("eval", prog, "--random", "--seed", str(2 ** 64)), ["--seed", "0 to"]),
         (("eval", prog, "--random", "--dims", "n=99999999999999999999"),
          ["--dims", "n", "too large"]),
         (("eval", prog, "--random", "--dims", "n=3,n=4"), ["--dims", "n is given twice"]),
         (("eval", prog, "--random", "--dims", "q=3"), ["--dims q=3", "no dimension 'q'",
                                                        "its dimensions: n"]),
         (("eval", prog, "--random", "--dims", "3=3"), ["--dims", "not a dimension name"]),
         (("grad", prog, "--wrt", "x", "--random", "--dims", "n=2,m=2"),
          ["no dimension 'm'"]))


def test_the_largest_seed_is_fine():
    rc, out, err = matd("eval", "x: 2; sum(x)", "--random", "--seed", str(2 ** 64 - 1))
    assert rc == 0 and np.isfinite(float(out)), err


@pytest.mark.parametrize("prog, dims", [("x: n; sum(x)", "n=100000000000"),
                                        ("A: n x n; sum(A)", "n=100000000"),
                                        ("S: n x n spd; logdet(S)", "n=10000000")])
def test_requests_too_large_for_memory_are_refused_before_allocating(prog, dims):
    t = time.monotonic()
    err = refused("eval", prog, "--random", "--dims", dims,
                  words=["--random", "would need", "more than matd allows", "--dims"])
    assert time.monotonic() - t < 10
    assert "nan" not in err.lower() and "inf" not in err.lower()


def test_an_intermediate_too_large_for_memory():
    err = refused("eval", "x: n; sum(x x^T)", "--random", "--dims", "n=1000000",
                  words=["not enough memory", "x x^T", "1000000 x 1000000"])
    assert "nan" not in err.lower()


# -- 5. numerical trouble ------------------------------------------------------------------

def test_nonfinite_constants_and_results_are_errors():
    many((("eval", "x: 3; 1e999 sum(x)", "--random"), ["1e999"]),
         (("eval", "x: 3; (1e999 - 1e999) sum(x)", "--random"), ["1e999"]),
         (("eval", "x: 3; (1e200 1e200) sum(x)", "--random", "--seed", "1"), ["not finite"]),
         (("eval", "x: 3; 1e39 sum(x)", "--random", "--dtype", "float32"),
          ["the constant", "float32", "not finite"]),
         (("eval", "x: 3; sum(x)", "--at", "x=[1e39, 1, 1]", "--dtype", "float32"),
          ["value of x", "float32"]),
         (("eval", "x: 2; sum(exp(x))", "--at", "x=[1000, 1]"), ["exp(x)", "not finite"]))


def test_hvp_with_nan_direction_inputs_or_results(tmp_path):
    v = tmp_path / "v.npy"
    np.save(v, np.array([np.nan, 1.0]))
    xn = tmp_path / "xn.npy"
    np.save(xn, np.array([np.nan, 1.0]))
    hess = ("grad", "x: 2; sum(log(x))", "--wrt", "x", "--order", "2")
    many(((*hess, "--at", "x=[1,2]", "--hvp", v), ["--hvp", "NaN"]),
         ((*hess, "--at", f"x={xn}", "--hvp", "[1,1]"), ["--at x", "NaN"]),
         ((*hess, "--at", "x=[0,2]", "--hvp", "[1,1]"), ["not finite"]),
         ((*hess, "--at", "x=[0,2]"), ["not finite"]))


def test_a_broken_spd_promise_is_an_error_wherever_the_input_is_used():
    bad = "S=[[1,2],[2,1]]"
    many((("grad", "S: 2 x 2 spd; logdet(S)", "--wrt", "S", "--at", bad),
          ["S is declared spd", "not positive definite"]),
         (("eval", "S: 2 x 2 spd; x: 2; x^T S x", "--at", bad, "--at", "x=[1,1]"),
          ["S is declared spd", "not positive definite"]),
         (("eval", "S: 2 x 2 spd; tr(S)", "--at", "S=[[2,1],[0,2]]"),
          ["S is declared spd", "not symmetric"]),
         (("eval", "S: 2 x 2 sym; tr(S)", "--at", "S=[[1,2],[3,4]]"),
          ["S is declared sym", "not symmetric"]),
         (("eval", "Q: 2 x 2 orth; tr(Q)", "--at", "Q=[[1,1],[0,1]]"),
          ["Q is declared orth", "not orthogonal"]),
         (("eval", "D: 2 x 2 diag; tr(D)", "--at", "D=[[1,1],[0,1]]"),
          ["D is declared diag", "not diagonal"]))


def test_kept_promises_pass_to_rounding():
    c, s = float(np.cos(0.3)), float(np.sin(0.3))
    rot = [[c, -s], [s, c]]
    for args, want in ((("S: 2 x 2 spd; tr(S)", "--at", "S=[[2,1.0000000000000002],[1,2]]"), 4),
                       (("S: 2 x 2 sym; tr(S)", "--at", "S=[[1,2],[2,-3]]"), -2),
                       (("Q: 2 x 2 orth; tr(Q)", "--at", f"Q={rot}"), 2 * c),
                       (("D: 2 x 2 diag; tr(D)", "--at", "D=[[1,0],[0,5]]"), 6)):
        rc, out, err = matd("eval", *args)
        assert rc == 0, err
        assert abs(float(out) - want) < 1e-12


# -- 6. inputs that would exhaust the machine ---------------------------------------------

def _npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def write_zip_bomb(path: Path, nbytes: int = 2 << 30, name: str = "x.npy") -> None:
    """An .npz whose member x.npy is a float64 zero vector of nbytes, deflated: the deflate
    of one 16 MiB block of zeros after a full flush is the same bytes each time, so the
    stream is written without compressing 2 GiB (only its CRC is computed)."""
    header = _npy_header((nbytes // 8,))
    block = bytes(16 << 20)
    assert nbytes % len(block) == 0
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    packed = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    tail = co.flush()
    crc = zlib.crc32(header)
    for _ in range(nbytes // len(block)):
        crc = zlib.crc32(block, crc)
    usize = len(header) + nbytes
    csize = len(first) + len(packed) * (nbytes // len(block)) + len(tail)
    fname = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, csize, usize,
                        len(fname), 0) + fname
    with open(path, "wb") as fh:
        fh.write(local)
        fh.write(first)
        for _ in range(nbytes // len(block)):
            fh.write(packed)
        fh.write(tail)
        central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21,
                              crc, csize, usize, len(fname), 0, 0, 0, 0, 0, 0) + fname
        offset = len(local) + csize
        fh.write(central)
        fh.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    write_zip_bomb(path)
    with zipfile.ZipFile(path) as zf:      # a real zip, whose member really inflates
        info = zf.getinfo("x.npy")
        assert info.file_size > 2 << 30 and info.compress_size < 3 << 20
        with zf.open(info) as fh:
            head = fh.read(4 << 20)
        assert head.startswith(b"\x93NUMPY") and not any(head[128:])
    assert path.stat().st_size < 3 << 20
    return path


def test_npz_bomb_in_a_file_is_refused_quickly(bomb):
    t = time.monotonic()
    refused("eval", "x: n; sum(x)", "--at", f"x={bomb}", words=["--at x", "bomb.npz",
                                                                "2.0 GiB", "refused"])
    refused("eval", "x: n; sum(x)", "--at", f"x={bomb}:x", words=["2.0 GiB"])
    assert time.monotonic() - t < 8


def test_npz_bomb_on_stdin_is_refused_quickly(bomb):
    t = time.monotonic()
    refused("eval", "x: n; sum(x)", "--at", "x=-", stdin=bomb.read_bytes(),
            words=["standard input", "2.0 GiB", "refused"])
    assert time.monotonic() - t < 5


def test_npy_header_larger_than_its_data(tmp_path):
    small = tmp_path / "lie.npy"
    small.write_bytes(_npy_header((4,)) + bytes(16))
    huge = tmp_path / "huge.npy"
    huge.write_bytes(_npy_header((10 ** 12,)) + bytes(64))
    many((("eval", "x: n; sum(x)", "--at", f"x={small}"), ["lie.npy", "truncated",
                                                         "32 bytes", "16 bytes follow"]),
         (("eval", "x: n; sum(x)", "--at", f"x={huge}"), ["huge.npy", "would need"]))
    # the same lie inside a stored .npz member
    z = tmp_path / "lie.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x.npy", _npy_header((1000,)) + bytes(80))
    refused("eval", "x: n; sum(x)", "--at", f"x={z}", words=["array 'x'", "truncated"])


def test_devices_fifos_and_folders_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    many((("eval", "x: n; sum(x)", "--at", "x=/dev/zero"), ["/dev/zero", "character device",
                                                          "regular file"]),
         (("eval", "x: n; sum(x)", "--at", f"x={fifo}"), ["fifo", "pipe"]),
         (("eval", "x: n; sum(x)", "--at", f"x={tmp_path}"), ["directory"]),
         (("check", fifo), ["pipe"]),
         (("check", "/dev/zero"), ["character device"]),
         (("eval", "x: n; sum(x)", "--at", f"x={tmp_path}/no.npy"), ["no such file"]))


def test_huge_program_on_stdin_is_refused():
    t = time.monotonic()
    refused("check", "-", stdin=b" " * ((64 << 20) + 1), words=["standard input",
                                                                 "larger than 64.0 MiB"])
    assert time.monotonic() - t < 20


def test_an_npz_with_100000_members_gives_a_short_error(tmp_path):
    f = tmp_path / "many.npz"
    member = _npy_header((1,)) + bytes(8)
    with zipfile.ZipFile(f, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"a{i}.npy", member)
    for args, words in ((("--at", f"x={f}"), ["holds 100000 arrays", "a0, a1",
                                              "and 99992 more", "say which"]),
                        (("--at", f"x={f}:nokey"), ["no array 'nokey'", "and 99992 more"])):
        err = refused("eval", "x: 1; sum(x)", *args, words=words)
        assert len(err) < 600, len(err)
        assert "a99999" not in err
    rc, out, err = matd("eval", "x: 1; sum(x)", "--at", f"x={f}:a99999")
    assert rc == 0 and float(out) == 0.0, err
