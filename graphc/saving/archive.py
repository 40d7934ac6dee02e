"""The zip container under ``.graphc`` and ``.weights.graphc`` files: atomic writes, checked reads.

Writing: members are written to a temporary file in the destination's folder, flushed to disk,
then moved over the destination with ``os.replace`` (atomic on POSIX and Windows), so a crash or an
exception midway leaves the previous file as it was.

Reading never extracts anything to disk and never unpickles: every member name is checked to stay
inside the archive (no absolute paths, no ``..``, no backslashes), sizes are bounded before
decompression, CRCs are verified by ``zipfile``, JSON is parsed strictly, and arrays are ``.npy``
bytes whose header is parsed here and whose dtype must be a plain numeric type.
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from .errors import FileFormatError

ZIP_MAGIC = b"PK\x03\x04"
FORMAT_VERSION = 1
MAX_JSON_BYTES = 256 * 1024 * 1024
ALLOWED_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                  "uint64", "bool")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def check_member_name(name: str, path: str) -> None:
    """Refuses member names that could leave the archive's folder if extracted."""
    parts = name.split("/")
    if (not _SAFE_NAME.match(name) or any(p in (".", "..") for p in parts) or name.startswith("/")
            or re.match(r"^[A-Za-z]:", name)):
        raise FileFormatError(f"{path}: member path {name!r} leaves the archive's folder or is not a plain relative "
                              "name; refusing to load this file")


def encode_array(array: np.ndarray) -> bytes:
    """``.npy`` bytes without pickle (object arrays are refused)."""
    array = np.asarray(array)
    if not array.flags.c_contiguous:  # (ascontiguousarray would turn a 0-d array into shape (1,))
        array = array.copy(order="C")
    if array.dtype.name not in ALLOWED_DTYPES:
        raise TypeError(f"cannot save an array of dtype {array.dtype}; expected one of {ALLOWED_DTYPES}")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def decode_array(data: bytes, where: str, shape=None, dtype=None) -> np.ndarray:
    """Parses ``.npy`` bytes: header checked, dtype plain numeric, exact data length, no pickle."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy version {version}")
        arr_shape, fortran, arr_dtype = reader(f, max_header_size=10000)
    except (ValueError, OSError, SyntaxError) as e:
        raise FileFormatError(f"{where}: not a valid .npy array ({e})") from None
    if arr_dtype.hasobject or arr_dtype.name not in ALLOWED_DTYPES:
        raise FileFormatError(f"{where}: array dtype {arr_dtype} is not allowed (object arrays would need pickle); "
                              f"expected one of {', '.join(ALLOWED_DTYPES)}")
    if shape is not None and tuple(arr_shape) != tuple(shape):
        raise FileFormatError(f"{where}: array has shape {tuple(arr_shape)}, the manifest says {tuple(shape)}")
    if dtype is not None and arr_dtype.name != dtype:
        raise FileFormatError(f"{where}: array has dtype {arr_dtype.name}, the manifest says {dtype}")
    count = int(np.prod(arr_shape, dtype=np.int64))
    body = data[f.tell():]
    if len(body) != count * arr_dtype.itemsize:
        raise FileFormatError(f"{where}: array data is {len(body)} bytes, expected {count * arr_dtype.itemsize} for "
                              f"shape {tuple(arr_shape)} {arr_dtype.name} (truncated or corrupted)")
    array = np.frombuffer(body, dtype=arr_dtype, count=count)
    array = array.reshape(arr_shape[::-1]).T if fortran else array.reshape(arr_shape)
    return np.array(array)  # own, writable, C-ordered


def dumps_json(obj) -> bytes:
    return json.dumps(obj, indent=1, allow_nan=False, sort_keys=False).encode("utf-8")


def _reject_constant(token):
    raise ValueError(f"non-standard JSON constant {token}")


def write_archive(path: str, members: list[tuple[str, bytes]]) -> None:
    """Writes ``members`` (name, bytes) as a zip at ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path}: it is a directory")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in members:
                    _write_member(zf, name, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED if name.endswith((".npy", ".onnx")) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


class ArchiveReader:
    """Read-only, validated access to a graphc zip archive held in memory-free streaming form."""

    def __init__(self, path: str, what: str = "graphc archive"):
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"filepath: expected a path (str or os.PathLike), received {type(path).__name__}")
        self.path = os.fsdecode(path)
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"filepath: {self.path} is a directory, expected a {what}")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"No such file: {self.path}")
        with open(self.path, "rb") as f:
            magic = f.read(4)
        if magic != ZIP_MAGIC:
            raise FileFormatError(f"{self.path}: not a {what} (expected a zip file starting with {ZIP_MAGIC!r}, "
                                  f"found {magic!r})")
        try:
            self._zf = zipfile.ZipFile(self.path, "r")
            infos = self._zf.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise FileFormatError(f"{self.path}: the zip file is truncated or corrupted ({e})") from None
        self._infos = {}
        for info in infos:
            check_member_name(info.filename, self.path)
            if info.filename in self._infos:
                raise FileFormatError(f"{self.path}: member {info.filename!r} appears twice")
            if info.flag_bits & 0x1:
                raise FileFormatError(f"{self.path}: member {info.filename!r} is encrypted")
            self._infos[info.filename] = info

    def close(self) -> None:
        self._zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def names(self) -> list[str]:
        return list(self._infos)

    def has(self, name: str) -> bool:
        return name in self._infos

    def total_size(self, prefix: str) -> int:
        """Uncompressed bytes of the members whose names start with ``prefix``, as their headers declare."""
        return sum(info.file_size for name, info in self._infos.items() if name.startswith(prefix))

    def read(self, name: str, max_size: int | None = None) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise FileFormatError(f"{self.path}: missing entry {name!r} (truncated or not a graphc file)")
        if max_size is not None and info.file_size > max_size:
            raise FileFormatError(f"{self.path}: entry {name!r} declares {info.file_size} bytes, at most {max_size} "
                                  "expected")
        try:
            data = self._zf.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise FileFormatError(f"{self.path}: entry {name!r} is truncated or corrupted ({e})") from None
        if len(data) != info.file_size:
            raise FileFormatError(f"{self.path}: entry {name!r} is {len(data)} bytes, its header says "
                                  f"{info.file_size}")
        return data

    def read_json(self, name: str):
        data = self.read(name, MAX_JSON_BYTES)
        try:
            return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise FileFormatError(f"{self.path}: entry {name!r} is not valid JSON ({type(e).__name__}: {e})") from None

    def read_array(self, name: str, shape, dtype: str) -> np.ndarray:
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize + 65536
        return decode_array(self.read(name, expected), f"{self.path}: entry {name!r}", shape, dtype)
