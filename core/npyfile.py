"""The header of a .npy file, read without its data (by cli/inputs.py and core/stores.py)."""
from __future__ import annotations


def npy_header(fh) -> tuple:
    """(shape, fortran order, dtype) from a .npy stream's header, of any format version;
    the stream is left at the data."""
    from numpy.lib import format as npf
    version = npf.read_magic(fh)
    if version == (1, 0):
        return npf.read_array_header_1_0(fh)
    if version == (2, 0):
        return npf.read_array_header_2_0(fh)
    return npf._read_array_header(fh, version)   # 3.0: a utf-8 header
