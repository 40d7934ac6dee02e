"""Variables: host-side parameter storage owned by layers and referenced from the IR."""
from __future__ import annotations

import itertools

import numpy as np

from .types import TensorType, as_dtype

_ids = itertools.count()


class Variable:
    """A named, typed NumPy array with a ``trainable`` flag.

    The IR refers to a Variable from a ``Param`` node; the runtime may hold a newer copy on a
    device and syncs it back through ``_sync_hook`` before the value is read.
    """

    def __init__(self, value, name: str, trainable: bool = True, dtype=None, copy: bool = True):
        dtype = as_dtype(dtype or np.asarray(value).dtype)
        # copy=False adopts a freshly made array (initializers) instead of duplicating it
        self._value = np.array(value, dtype=dtype) if copy else np.asarray(value, dtype=dtype)
        self.name = name
        self.path = name
        self.trainable = trainable
        self.uid = next(_ids)
        self._sync_hook = None  # callable that writes a fresher device copy into this Variable

    @property
    def value(self) -> np.ndarray:
        if self._sync_hook is not None:
            hook, self._sync_hook = self._sync_hook, None
            hook()
        return self._value

    def assign(self, value) -> None:
        """Replaces the value; shape must match."""
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(
                f"Variable {self.path!r}: expected shape {self._value.shape}, received {value.shape}"
            )
        self._sync_hook = None
        self._value = np.array(value, dtype=self._value.dtype)

    def _set_from_device(self, value: np.ndarray) -> None:
        self._value = value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    @property
    def type(self) -> TensorType:
        return TensorType(self.dtype, self.shape)

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        v = self.value
        return v.astype(dtype) if dtype is not None else v

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype}>"
