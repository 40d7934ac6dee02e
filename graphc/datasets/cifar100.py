"""CIFAR-100: 50,000 training and 10,000 test 32x32 colour images in 100 fine / 20 coarse classes."""
from __future__ import annotations

import numpy as np

from ._cifar import load_cifar
from ._files import RemoteFile, get_file

REMOTE = RemoteFile("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                    "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                    keras_names=("cifar-100-python", "cifar-100-python.tar.gz"))


def load_data(label_mode: str = "fine", path: str | None = None, cache_dir: str | None = None, verbose: bool = True):
    """Loads CIFAR-100 as Keras does.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        path: a local ``cifar-100-python.tar.gz`` (Keras' download), ``cifar-100-binary.tar.gz`` or an
            extracted ``cifar-100-python`` folder; downloaded to the cache when absent.
        cache_dir: the cache folder; ``$GRAPHC_DATASETS_DIR`` or ``~/.graphc/datasets`` by default.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(50000, 32, 32, 3)`` /
        ``(10000, 32, 32, 3)`` and int64 labels ``(50000, 1)`` / ``(10000, 1)`` (Keras keeps the
        pickled Python ints, which NumPy makes int64).
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'cifar100.load_data: label_mode must be "fine" or "coarse", received {label_mode!r}')
    file = get_file(REMOTE, "cifar100", path=path, cache_dir_override=cache_dir, verbose=verbose)
    binary = {"train": ["train.bin"], "test": "test.bin", "label_bytes": 2,
              "label_index": 1 if label_mode == "fine" else 0}
    return load_cifar(file, "cifar100", ["train"], "test", f"{label_mode}_labels".encode(), binary, np.int64)
