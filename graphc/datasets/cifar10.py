"""CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes."""
from __future__ import annotations

import numpy as np

from ._cifar import load_cifar
from ._files import RemoteFile, get_file

REMOTE = RemoteFile("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                    keras_names=("cifar-10-batches-py", "cifar-10-batches-py.tar.gz"))
BINARY = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": "test_batch.bin", "label_bytes": 1,
          "label_index": 0}


def load_data(path: str | None = None, cache_dir: str | None = None, verbose: bool = True):
    """Loads CIFAR-10 as Keras does.

    Args:
        path: a local ``cifar-10-python.tar.gz`` (Keras' download), ``cifar-10-binary.tar.gz``, or an
            extracted ``cifar-10-batches-py`` folder; downloaded to the cache when absent.
        cache_dir: the cache folder; ``$GRAPHC_DATASETS_DIR`` or ``~/.graphc/datasets`` by default.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(50000, 32, 32, 3)`` /
        ``(10000, 32, 32, 3)`` and uint8 labels ``(50000, 1)`` / ``(10000, 1)``.
    """
    file = get_file(REMOTE, "cifar10", path=path, cache_dir_override=cache_dir, verbose=verbose)
    return load_cifar(file, "cifar10", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", b"labels", BINARY,
                      np.uint8)
