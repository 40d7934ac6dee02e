"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grayscale, labels 0-9."""
from __future__ import annotations

import zipfile

import numpy as np

from ._files import DatasetUnavailableError, RemoteFile, get_file

REMOTE = RemoteFile("mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
                    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")


def load_npz_images(path: str, dataset: str, image_shape: tuple) -> tuple:
    """Reads an ``.npz`` with x_train, y_train, x_test, y_test (no pickle), checking shapes and dtypes."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetUnavailableError(f"{dataset}: {path} lacks arrays {missing}; expected Keras' "
                                              f"{REMOTE.fname} layout (x_train, y_train, x_test, y_test)")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, DatasetUnavailableError):
            raise
        raise DatasetUnavailableError(f"{dataset}: {path} is not a readable .npz file ({e})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape[1:] != image_shape or y.ndim != 1 or len(y) != len(x):
            raise DatasetUnavailableError(
                f"{dataset}: {path} has x_{split} {x.dtype}{x.shape}, y_{split} {y.dtype}{y.shape}; expected uint8 "
                f"images of shape (N,) + {image_shape} and N labels")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_data(path: str | None = None, cache_dir: str | None = None, verbose: bool = True):
    """Loads MNIST as Keras does.

    Args:
        path: a local ``mnist.npz`` (absolute, or relative to the cache folder); downloaded to the
            cache when absent.
        cache_dir: the cache folder; ``$GRAPHC_DATASETS_DIR`` or ``~/.graphc/datasets`` by default.
        verbose: show the download progress bar.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
        ``(10000, 28, 28)``, uint8 labels ``(60000,)`` and ``(10000,)``.
    """
    file = get_file(REMOTE, "mnist", path=path, cache_dir_override=cache_dir, verbose=verbose)
    return load_npz_images(file, "mnist", (28, 28))
