"""Label and array helpers: ``to_categorical`` (one-hot labels) and ``normalize``."""
from __future__ import annotations

import numpy as np


def _position(index: tuple) -> str:
    return "x[" + ", ".join(str(int(i)) for i in index) + "]" if index else "x"


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot encodes integer class labels.

    Args:
        x: integer labels of any shape; a trailing axis of size 1 is dropped, so labels of shape
            ``(N, 1)`` and ``(N,)`` both give ``(N, num_classes)``. Integral floats (``3.0``) are
            accepted.
        num_classes: number of classes; defaults to ``max(x) + 1``.

    Returns:
        A float32 array of shape ``x.shape + (num_classes,)`` (after dropping the trailing 1).

    Raises:
        ValueError: for a negative label, a label ``>= num_classes``, a non-integral label, or an
            invalid ``num_classes``; the message names the offending value and its position.
    """
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise TypeError(f"to_categorical: x must hold integer labels, received an array of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            where = tuple(np.argwhere(bad)[0])
            raise ValueError(f"to_categorical: label {arr[where].item()!r} at {_position(where)} is not an integer; "
                             "class labels must be whole numbers 0, 1, 2, ...")
    labels = arr.astype(np.int64)
    if labels.size and labels.min() < 0:
        where = tuple(np.argwhere(labels < 0)[0])
        raise ValueError(f"to_categorical: label {labels[where]} at {_position(where)} is negative; "
                         "class labels must lie in [0, num_classes)")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: cannot infer num_classes from an empty x; pass num_classes")
        num_classes = int(labels.max()) + 1
    else:
        if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 1:
            raise ValueError(f"to_categorical: num_classes must be a positive int, received {num_classes!r}")
        num_classes = int(num_classes)
        if labels.size and labels.max() >= num_classes:
            where = tuple(np.argwhere(labels >= num_classes)[0])
            raise ValueError(f"to_categorical: label {labels[where]} at {_position(where)} is out of range for "
                             f"{num_classes} classes; labels must lie in [0, {num_classes}). Pass "
                             f"num_classes={int(labels.max()) + 1} or more, or fix the labels.")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    out = np.zeros((flat.size, num_classes), dtype=np.float32)
    out[np.arange(flat.size), flat] = 1.0
    return out.reshape(shape + (num_classes,))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Divides ``x`` by its ``order``-norm along ``axis``; zero vectors are left as they are.

    Args:
        x: array to normalize.
        axis: axis along which to normalize.
        order: the norm's order (2 for L2, 1 for L1, ``np.inf`` for the max norm).

    Returns:
        A float array of ``x``'s shape (float32 for integer input, else ``x``'s float dtype).
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if arr.ndim == 0:
        raise ValueError("normalize: x must have at least one axis, received a scalar")
    norm = np.linalg.norm(arr, ord=order, axis=axis, keepdims=True)
    norm = np.where(norm == 0, 1, norm).astype(arr.dtype)
    return arr / norm
