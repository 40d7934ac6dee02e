"""Fashion-MNIST: 60,000 + 10,000 grayscale 28x28 images of clothing in 10 classes (IDX files, gzipped)."""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ._files import DatasetUnavailableError, RemoteFile, get_file

BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")
# SHA-256 of Keras' copies are not published by Keras for these files; the IDX headers are checked instead.
REMOTES = {f: RemoteFile(f, BASE + f) for f in FILES}


def read_idx(path: str, kind: str, dataset: str = "fashion_mnist") -> np.ndarray:
    """An IDX1 (labels) or IDX3 (images) file, gzipped, with its magic number and sizes checked."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetUnavailableError(f"{dataset}: {path} is not a readable gzip file ({e})") from None
    magic, ndim = (2049, 1) if kind == "labels" else (2051, 3)
    header = 4 + 4 * ndim
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DatasetUnavailableError(f"{dataset}: {path} is not an IDX {kind} file (magic number "
                                      f"{int.from_bytes(data[:4], 'big') if len(data) >= 4 else None}, expected {magic})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise DatasetUnavailableError(f"{dataset}: {path} holds {len(data) - header} bytes of data, its header "
                                      f"declares {dims} = {count}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def load_data(path: str | None = None, cache_dir: str | None = None, verbose: bool = True):
    """Loads Fashion-MNIST as Keras does.

    Args:
        path: a folder holding the four ``.gz`` files Keras downloads (``train-labels-idx1-ubyte.gz``,
            ``train-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``);
            by default ``<cache>/fashion-mnist``, downloaded when absent.
        cache_dir: the cache folder; ``$GRAPHC_DATASETS_DIR`` or ``~/.graphc/datasets`` by default.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(60000, 28, 28)`` / ``(10000, 28, 28)``
        images and uint8 labels.
    """
    folder = os.fspath(path) if path is not None else "fashion-mnist"
    files = [get_file(REMOTES[f], "fashion_mnist", path=os.path.join(folder, f), cache_dir_override=cache_dir,
                      verbose=verbose) for f in FILES]
    y_train, x_train, y_test, x_test = (read_idx(p, "labels" if "labels" in p.rsplit(os.sep, 1)[-1] else "images")
                                        for p in files)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y) or x.shape[1:] != (28, 28):
            raise DatasetUnavailableError(f"fashion_mnist: {split} images {x.shape} and labels {y.shape} disagree")
    return (x_train, y_train), (x_test, y_test)
