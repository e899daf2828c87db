"""Where programs come from: command-line text, files, standard input, and
``# matd:`` comment blocks in Python files.

>>> [s.text for s in programs_in("a.py", "x = 1\\n# matd: A: m x n\\n# matd: tr(A)\\n")]
[' A: m x n\\n tr(A)']
"""
from __future__ import annotations

import os
import re
import stat
import sys

from matd.core.errors import InputError, MatdError
from matd.core.syntax import Source

_MATD_LINE = re.compile(r"^(\s*#\s*matd:)(.*)$")


def programs_in(name: str, text: str) -> list[Source]:
    """The programs of a file: the whole file, or each block of ``# matd:`` lines in a .py."""
    if not name.endswith(".py"):
        return [Source(text, name, is_file=True)]
    out, block, lmap = [], [], []
    for i, line in enumerate(text.split("\n") + [""]):
        m = _MATD_LINE.match(line)
        if m:
            block.append(m.group(2))
            lmap.append((i + 1, len(m.group(1))))
        elif block:
            out.append(Source("\n".join(block), name, is_file=True, line_map=lmap))
            block, lmap = [], []
    return out


MAX_TEXT_BYTES = 64 << 20      # a program (or a file of them) larger than this is refused
_CHUNK = 1 << 20


def read_stdin_bytes(limit: int, what: str = "standard input") -> bytes:
    """All of standard input as bytes, refusing more than ``limit`` (read in chunks, so a
    huge or endless stream is refused without reading it all)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError(f"cannot read {what}: there is no standard input")
    chunks, total = [], 0
    try:
        while True:
            chunk = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                from matd.core.backend import human_bytes
                raise InputError(f"cannot read {what}: it is larger than {human_bytes(limit)}",
                                 hint="give a smaller input, or a regular file")
            chunks.append(chunk)
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror or e}") from None
    return b"".join(chunks)


def decode_text(data: bytes, what: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is dropped); ``what`` names the input.

    >>> decode_text(b"tr(A)", "standard input")
    'tr(A)'
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"cannot read {what}: it is not UTF-8 text (byte 0x{data[e.start]:02x} "
                         f"at offset {e.start}, line {line})",
                         hint="matd reads UTF-8; convert the text first, e.g. with "
                         "iconv -f latin1 -t utf-8") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, what: str | None = None):
    """(binary file object, size) of a regular file; devices, FIFOs and directories are
    refused without blocking on them (an endless /dev/zero is never read)."""
    what = what or f"'{path}'"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"cannot read {what}: it is {_kind(st.st_mode)}, not a regular "
                             "file", hint="give a regular file, or - for standard input")
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str, limit: int, what: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes ('-': standard input)."""
    if path == "-":
        return read_stdin_bytes(limit)
    what = what or f"'{path}'"
    fh, n = open_regular(path, what)
    with fh:
        if n > limit:
            from matd.core.backend import human_bytes
            raise InputError(f"cannot read {what}: it is larger than {human_bytes(limit)}")
        try:
            data = fh.read(limit + 1)
        except OSError as e:
            raise InputError(f"cannot read {what}: {e.strerror or e}") from None
    if len(data) > limit:
        from matd.core.backend import human_bytes
        raise InputError(f"cannot read {what}: it is larger than {human_bytes(limit)}")
    return data


def read_file(path: str) -> str:
    """The text of a file, or of standard input for '-': strict UTF-8, size-limited."""
    what = "standard input" if path == "-" else f"'{path}'"
    return decode_text(read_bytes(path, MAX_TEXT_BYTES, what), what)


FILE_SUFFIXES = (".matd", ".txt")
FILE_PREFIXES = ("/", "./", "../")


def names_a_file(arg: str) -> bool:
    """The rule for EXPR|FILE: a file only when the argument says so — it ends in .matd or
    .txt, or begins with /, ./ or ../ (none of which matd text can do).  Anything else is
    matd text, even where a file of that name exists.

    >>> [names_a_file(a) for a in ("model.matd", "./x", "../f", "x", "x / 2", "tr(A)")]
    [True, True, True, False, False, False]
    """
    return arg.endswith(FILE_SUFFIXES) or arg.startswith(FILE_PREFIXES)


def expression_source(arg: str) -> Source:
    """EXPR|FILE|-: standard input for '-', a file when ``names_a_file``, else the text.

    Text that is also the name of a file here and does not check gets a hint saying how to
    read the file (``./NAME``)."""
    if arg == "-":
        return Source(read_file("-"), "<stdin>", is_file=True)
    if names_a_file(arg):
        return Source(read_file(arg), arg, is_file=True)
    source = Source(arg, "<expr>")
    if "\x00" not in arg and os.path.isfile(arg):
        from matd.grammar.parse import parse_program
        try:
            parse_program(arg, source)
        except MatdError as e:
            also = (f"'{arg}' is also a file here; EXPR is read from a file only when it "
                    f"ends in .matd or .txt or begins with /, ./ or ../: write ./{arg}")
            e.hint = f"{e.hint}; {also}" if e.hint else also
            e.source = source
            raise
    return source
