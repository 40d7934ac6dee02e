"""CIFAR archives without running pickle's arbitrary code.

Keras downloads the *python* versions (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``),
whose batches are pickled dicts holding a NumPy uint8 array. They are read here with a restricted
unpickler: the only globals it resolves are NumPy's array-reconstruction functions and
``_codecs.encode`` (how Python 3 pickles bytes at protocol 2); any other global (``os.system``,
``builtins.eval``, ...) stops the load with an error, so a hostile file cannot run code. The result
must then be a dict with a ``(N, 3072)`` uint8 ``data`` array and N integer labels.

The *binary* versions (``cifar-10-binary.tar.gz``, ``cifar-100-binary.tar.gz``: fixed-size records
of label bytes followed by 3072 pixel bytes) are read too, when the user supplies one. Archives
are read member by member from the tar without extracting anything to disk; an already-extracted
folder (as Keras leaves in its cache) works as well.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from ._files import DatasetUnavailableError


def _numpy_global(module: str, name: str):
    import numpy

    if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        return numpy.ndarray.__reduce__(numpy.zeros(0))[0]  # NumPy's own reconstruct function
    if name == "_frombuffer" and module in ("numpy.core.numeric", "numpy._core.numeric"):
        return numpy.ndarray.__reduce_ex__(numpy.zeros(1), 5)[0]
    if (module, name) == ("numpy", "ndarray"):
        return numpy.ndarray
    if (module, name) == ("numpy", "dtype"):
        return numpy.dtype
    return None


class SafeUnpickler(pickle.Unpickler):
    """Resolves only NumPy array reconstruction and ``_codecs.encode``; anything else is refused."""

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        fn = _numpy_global(module, name)
        if fn is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return fn


def safe_unpickle(data: bytes, where: str):
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DatasetUnavailableError(f"{where}: refused or unreadable CIFAR batch ({e})") from None


class _Source:
    """Members of a tar.gz or an extracted folder, looked up by base name."""

    def __init__(self, path: str, dataset: str):
        self.path, self.dataset = path, dataset
        self._tar = None
        self._members = {}
        if os.path.isdir(path):
            for root, _, files in os.walk(path):
                for f in files:
                    self._members.setdefault(f, os.path.join(root, f))
        else:
            try:
                self._tar = tarfile.open(path, "r:*")
                for m in self._tar.getmembers():
                    if m.isfile():
                        self._members.setdefault(os.path.basename(m.name), m)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                raise DatasetUnavailableError(f"{dataset}: {path} is not a readable tar archive ({e})") from None

    def names(self) -> set:
        return set(self._members)

    def read(self, name: str) -> bytes:
        member = self._members.get(name)
        if member is None:
            raise DatasetUnavailableError(f"{self.dataset}: {self.path} has no member {name!r}; it holds "
                                          f"{sorted(self._members)[:10]}")
        try:
            if self._tar is None:
                with open(member, "rb") as f:
                    return f.read()
            return self._tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DatasetUnavailableError(f"{self.dataset}: {self.path}: member {name!r} is truncated or "
                                          f"corrupted ({e})") from None

    def close(self):
        if self._tar is not None:
            self._tar.close()


def _python_batch(src: _Source, name: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    where = f"{src.dataset}: {src.path}: {name}"
    d = safe_unpickle(src.read(name), where)
    if not isinstance(d, dict):
        raise DatasetUnavailableError(f"{where}: expected a dict, found {type(d).__name__}")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    key = label_key.decode()
    data, labels = d.get("data"), d.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetUnavailableError(f"{where}: 'data' must be a (N, 3072) uint8 array, found "
                                      f"{type(data).__name__} {getattr(data, 'dtype', '')}{getattr(data, 'shape', '')}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data) or \
            not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise DatasetUnavailableError(f"{where}: {key!r} must hold {len(data)} integer labels")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _binary_batch(src: _Source, name: str, label_bytes: int, label_index: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(src.read(name), np.uint8)
    record = label_bytes + 3072
    if raw.size == 0 or raw.size % record:
        raise DatasetUnavailableError(f"{src.dataset}: {src.path}: {name} is {raw.size} bytes, not a whole number of "
                                      f"{record}-byte records")
    raw = raw.reshape(-1, record)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32).copy(), raw[:, label_index].astype(np.int64)


def load_cifar(path: str, dataset: str, train: list[str], test: str, label_key: bytes, binary: dict,
               label_dtype) -> tuple:
    """Both splits, channels-last ``(N, 32, 32, 3)`` uint8 images and ``(N, 1)`` labels."""
    src = _Source(path, dataset)
    try:
        names = src.names()
        if set(binary["train"]) | {binary["test"]} <= names:
            parts = [_binary_batch(src, n, binary["label_bytes"], binary["label_index"]) for n in binary["train"]]
            test_x, test_y = _binary_batch(src, binary["test"], binary["label_bytes"], binary["label_index"])
        else:
            parts = [_python_batch(src, n, label_key) for n in train]
            test_x, test_y = _python_batch(src, test, label_key)
    finally:
        src.close()
    x_train = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
    y_train = np.concatenate([p[1] for p in parts])
    x_test = test_x.transpose(0, 2, 3, 1)
    return ((np.ascontiguousarray(x_train), y_train.reshape(-1, 1).astype(label_dtype)),
            (np.ascontiguousarray(x_test), test_y.reshape(-1, 1).astype(label_dtype)))
