"""Keras' small datasets: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``; each has ``load_data()``.

Files are looked for at the ``path=`` the user gives, then in the cache (``~/.graphc/datasets``,
or ``$GRAPHC_DATASETS_DIR``, or ``cache_dir=``), then downloaded from the URLs Keras uses with a
progress bar and a SHA-256 check. The file formats are Keras' downloads (``mnist.npz``, the
Fashion-MNIST IDX ``.gz`` files, ``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``; the CIFAR
*binary* tarballs as well). CIFAR's python batches are pickles: they are read with a restricted
unpickler that resolves only NumPy's array reconstruction (see ``_cifar``). When the data is
neither on disk nor downloadable, ``DatasetUnavailableError`` names the URL, the file and where to
put it.
"""
from . import cifar10, cifar100, fashion_mnist, mnist
from ._files import DatasetUnavailableError, cache_dir

__all__ = ["DatasetUnavailableError", "cache_dir", "cifar10", "cifar100", "fashion_mnist", "mnist"]
