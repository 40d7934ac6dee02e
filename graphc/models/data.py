"""Turning the user's x (array, list or dict) into validated feeds for a model's graph inputs."""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, format_shape


class UnknownKeyError(KeyError, ValueError):
    """A dict key that matches no input or output. A KeyError (what a lookup by name raises) and a
    ValueError (bad input), printed as the message itself rather than KeyError's quoted repr."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

_KINDS = {"f": "float", "i": "int", "u": "int", "b": "bool"}


def _as_array(x, what: str) -> np.ndarray:
    if x is None:
        raise TypeError(f"{what}: expected an array, received None")
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{what}: expected an array, received {type(x).__name__} ({e})") from None
    if a.dtype.kind not in _KINDS:
        got = f"{type(x).__name__} of dtype {a.dtype}" if not isinstance(x, np.ndarray) else f"dtype {a.dtype}"
        raise TypeError(f"{what}: expected a numeric array (float, int or bool), received {got}")
    return a


def conform(a: np.ndarray, t: TensorType, what: str) -> np.ndarray:
    """Checks ``a`` against the input type ``t`` (rank, static dims, dtype) and casts safely."""
    if a.ndim != t.rank:
        raise ValueError(f"{what}: expected an array of shape {format_shape(t.keras_shape())}, received "
                         f"shape {a.shape}")
    for i, (d, n) in enumerate(zip(t.shape, a.shape)):
        if i > 0 and isinstance(d, int) and d != n:
            raise ValueError(f"{what}: expected shape {format_shape(t.keras_shape())}, received shape {a.shape} "
                             f"(axis {i} is {n}, expected {d})")
    if a.dtype.name == t.dtype:
        return np.ascontiguousarray(a)
    want = np.dtype(t.dtype).kind
    if want in "iu" and a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise TypeError(f"{what}: expected {t.dtype} ids, received non-integral {a.dtype} values")
    elif want == "b" and a.dtype.kind != "b":
        raise TypeError(f"{what}: expected a bool array, received {a.dtype}")
    return np.ascontiguousarray(a.astype(t.dtype))


def standardize_inputs(model, x, argname: str = "x") -> dict:
    """Feeds by graph-input name from a single array, a list/tuple (by position) or a dict (by name)."""
    names = model._input_names()
    types = model._input_type_list()
    if isinstance(x, dict):
        unknown = [k for k in x if k not in names]
        if unknown:
            raise UnknownKeyError(f"{argname}: key(s) {unknown} match no input of model {model.name!r}; its inputs are "
                           f"{names}")
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"{argname}: missing input(s) {missing} of model {model.name!r}")
        arrays = [x[n] for n in names]
    elif isinstance(x, (list, tuple)) and len(names) > 1:
        if len(x) == 1 and isinstance(x[0], (list, tuple)):
            x = x[0]  # predict([[a, b, c]]) as in the tutorials: one list of the model's inputs
        if len(x) != len(names):
            raise ValueError(f"{argname}: model {model.name!r} has {len(names)} inputs {names}, received "
                             f"{len(x)} arrays")
        arrays = list(x)
    else:
        if len(names) != 1:
            raise ValueError(f"{argname}: model {model.name!r} has {len(names)} inputs {names}; pass a list or a "
                             "dict keyed by input name")
        if isinstance(x, (list, tuple)) and len(x) == 1 and not np.isscalar(x[0]) and np.ndim(x[0]) == len(types[0].shape):
            x = x[0]
        arrays = [x]
    feeds = {}
    for n, a, t in zip(names, arrays, types):
        feeds[n] = conform(_as_array(a, f"{argname}[{n!r}]"), t, f"{argname}[{n!r}]" if len(names) > 1 else
                           f"{argname} (input {n!r})")
    num_rows(feeds, argname)
    return feeds


def num_rows(arrays: dict, argname: str) -> int:
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{argname}: all arrays must have the same number of rows, received {sizes}")
    return next(iter(sizes.values())) if sizes else 0


def check_batch_size(batch_size) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, received {batch_size!r}")
    return int(batch_size)


def check_verbose(verbose) -> int:
    """Keras' ``verbose``: "auto" or an int (0 silent, 1 progress bar, 2 and up one line)."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ValueError(f'verbose: expected "auto", 0, 1 or 2, received {verbose!r}')
    return int(verbose)
