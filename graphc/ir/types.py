"""Tensor types: a dtype and a shape whose dims are ints, symbolic names or unknown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

import numpy as np

Dim = Union[int, str, None]

#: dtypes the IR knows, by their NumPy name.
DTYPES = ("float32", "float64", "float16", "int8", "uint8", "int32", "int64", "bool")
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "uint8", "int32", "int64")


def as_dtype(dtype) -> str:
    """Normalizes a dtype given as a string, NumPy dtype or Python type to its NumPy name."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError as e:
        raise TypeError(f"dtype: expected one of {DTYPES}, received {dtype!r}") from e
    if name not in DTYPES:
        raise TypeError(f"dtype: expected one of {DTYPES}, received {dtype!r}")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class TensorType:
    """The static type of an IR value.

    Attributes:
        dtype: NumPy dtype name, e.g. ``"float32"``.
        shape: one entry per axis: an ``int`` for a known size, a ``str`` for a symbolic size
            shared by name (``"batch"``), or ``None`` for an unknown size.
    """

    dtype: str
    shape: tuple

    def __post_init__(self):
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        dims = tuple(self.shape)
        for d in dims:
            if not (d is None or isinstance(d, str) or (isinstance(d, (int, np.integer)) and d >= 0)):
                raise ValueError(f"TensorType: dims must be ints >= 0, names or None, received {dims}")
        object.__setattr__(self, "shape", tuple(int(d) if isinstance(d, (int, np.integer)) else d for d in dims))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def size(self) -> int | None:
        """Number of elements when the shape is static, else None."""
        if not self.is_static:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_shape(self, shape: Iterable[Dim]) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(dtype, self.shape)

    def keras_shape(self) -> tuple:
        """The shape as Keras prints it: symbolic and unknown dims are None."""
        return tuple(d if isinstance(d, int) else None for d in self.shape)

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"

    @staticmethod
    def of(array) -> "TensorType":
        array = np.asarray(array)
        return TensorType(array.dtype.name, array.shape)


def dims_equal(a: Dim, b: Dim) -> bool | None:
    """True if the dims are known equal, False if known different, None if unknown."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    return None


def broadcast_dim(a: Dim, b: Dim) -> Dim:
    """Broadcasts one pair of dims; raises ValueError when they cannot broadcast."""
    if a == 1:
        return b
    if b == 1:
        return a
    eq = dims_equal(a, b)
    if eq is True:
        return a
    if eq is False:
        raise ValueError(f"dims {a} and {b} do not broadcast")
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return a if a is not None else b


def broadcast_shapes(*shapes: tuple) -> tuple:
    """NumPy broadcasting over shapes that may hold symbolic or unknown dims."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        d = dims[0]
        for e in dims[1:]:
            try:
                d = broadcast_dim(d, e)
            except ValueError:
                raise ValueError(f"shapes {' and '.join(map(format_shape, shapes))} do not broadcast") from None
        out.append(d)
    return tuple(out)


def format_shape(shape) -> str:
    """Keras-style text of a shape: ``(None, 64)``."""
    return "(" + ", ".join(str(d) if isinstance(d, int) else "None" for d in shape) + ")"
