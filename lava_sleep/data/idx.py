"""Reader and writer for the IDX format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a header followed by a big-endian array:

====== ======= =========================================================
offset bytes   content
====== ======= =========================================================
0      2       zero (the first two bytes of the "magic number")
2      1       element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
3      1       number of dimensions ``d`` (images: 3, labels: 1)
4      4*d     each dimension, unsigned 32-bit big-endian (N, rows, cols)
4+4d   ...     the elements, row-major, big-endian
====== ======= =========================================================

So an image file starts with the magic number 0x00000803 (2051) and a label file
with 0x00000801 (2049). Files may be gzip-compressed (the canonical ``.gz``
downloads) or raw; compression is recognised by the gzip signature (bytes 1f 8b),
not by the file name. Every defect (bad magic, unknown type, truncated data,
trailing bytes, broken gzip stream) raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from lava_sleep.data.core import DataError

GZIP_SIGNATURE = b"\x1f\x8b"

#: IDX element type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_DTYPES.items()}


def read_bytes(path: str | os.PathLike) -> bytes:
    """The content of ``path``, gunzipped when it starts with the gzip signature."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_SIGNATURE:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (incomplete download?)") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupted gzip data ({exc})") from None


def parse_idx(data: bytes, name: str = "<idx>") -> np.ndarray:
    """Decode IDX bytes into an array of native byte order; ``name`` is used in errors."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes, a header needs at least 4)")
    if data[0] != 0 or data[1] != 0:
        magic = int.from_bytes(data[:4], "big")
        raise DataError(
            f"{name}: bad IDX magic number 0x{magic:08X} (must start with two zero bytes, "
            "e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX element type 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(
            f"{name}: truncated IDX data: shape {dims} of {dtype.name} needs {expected} bytes, found {found}"
        )
    if found > expected:
        raise DataError(
            f"{name}: {found - expected} unexpected trailing bytes after IDX data of shape {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header, count=expected // dtype.itemsize)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array (native byte order).

    Raises:
        DataError: missing/unreadable file, broken gzip stream, bad magic number,
            unknown element type, truncated data or trailing bytes.
    """
    return parse_idx(read_bytes(path), name=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` (a supported dtype, at least 1-D) as IDX bytes."""
    arr = np.asarray(array)
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {arr.ndim}")
    key = arr.dtype.newbyteorder("=").str[1:]
    if key not in _CODE_OF:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    code = _CODE_OF[key]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically (temp file + rename).

    Args:
        path: target file; ``compress=None`` gzips when the name ends in ``.gz``.
        array: uint8, int8, int16, int32, float32 or float64 array, 1-255 dimensions.
        compress: force gzip on (True) or off (False).

    The gzip header carries no time stamp, so equal arrays give equal bytes.
    """
    from lava_sleep.io import atomic_write_bytes

    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(data)
        data = buf.getvalue()
    atomic_write_bytes(path, data)
    return path
