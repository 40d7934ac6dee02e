"""graphc.datasets: Keras' shapes and dtypes from small files made here; no network is used."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error

import numpy as np
import pytest

from graphc.datasets import DatasetUnavailableError, cifar10, cifar100, fashion_mnist, mnist
from graphc.datasets import _files


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Any download attempt fails as it would offline; the cache is a fresh folder."""
    def offline(url, timeout=None):
        if str(url).startswith("file://"):
            return _real_urlopen(url, timeout=timeout)
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(_files.urllib.request, "urlopen", offline)
    monkeypatch.setenv("GRAPHC_DATASETS_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


_real_urlopen = _files.urllib.request.urlopen


def make_mnist(path, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}
    np.savez(path, **arrays)
    return arrays


def test_mnist_from_cache_shapes_and_dtypes(tmp_path):
    os.makedirs(tmp_path / "cache")
    arrays = make_mnist(tmp_path / "cache" / "mnist.npz")
    with pytest.warns(RuntimeWarning, match="SHA-256"):  # a home-made file, not Keras' bytes
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (6, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (6,) and y_train.dtype == np.uint8
    assert x_test.shape == (4, 28, 28) and y_test.shape == (4,)
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_mnist_from_user_path_and_cache_dir_argument(tmp_path):
    make_mnist(tmp_path / "my_mnist.npz")
    (x, _), _ = mnist.load_data(path=str(tmp_path / "my_mnist.npz"))
    assert x.shape == (6, 28, 28)
    os.makedirs(tmp_path / "elsewhere")
    make_mnist(tmp_path / "elsewhere" / "mnist.npz", n_train=3)
    with pytest.warns(RuntimeWarning):
        (x, _), _ = mnist.load_data(cache_dir=str(tmp_path / "elsewhere"))
    assert x.shape == (3, 28, 28)


def test_mnist_refuses_pickled_npz(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.array([object()], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(DatasetUnavailableError, match="not a readable"):
        mnist.load_data(path=str(tmp_path / "bad.npz"))


def test_missing_data_offline_names_url_file_and_place(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        mnist.load_data()
    text = str(info.value)
    assert mnist.REMOTE.url in text
    assert "mnist.npz" in text and mnist.REMOTE.sha256 in text
    assert str(tmp_path / "cache" / "mnist.npz") in text
    assert "GRAPHC_DATASETS_DIR" in text
    assert not os.path.exists(tmp_path / "cache" / "mnist.npz")


def test_download_with_progress_bar_and_checksum(tmp_path, monkeypatch, capsys):
    source = tmp_path / "served.npz"
    make_mnist(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setattr(mnist, "REMOTE", _files.RemoteFile("mnist.npz", source.as_uri(), digest))
    (x, _), _ = mnist.load_data()
    assert x.shape == (6, 28, 28)
    assert os.path.isfile(tmp_path / "cache" / "mnist.npz")
    err = capsys.readouterr().err
    assert "Downloading mnist.npz" in err and "MB" in err
    # a second call uses the cache (the served file can go away)
    source.unlink()
    (x, _), _ = mnist.load_data()
    assert x.shape == (6, 28, 28)


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, monkeypatch):
    source = tmp_path / "served.npz"
    make_mnist(source)
    monkeypatch.setattr(mnist, "REMOTE", _files.RemoteFile("mnist.npz", source.as_uri(), "0" * 64))
    with pytest.raises(DatasetUnavailableError, match="SHA-256"):
        mnist.load_data(verbose=False)
    assert os.listdir(tmp_path / "cache") == []


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes())


def test_fashion_mnist_from_idx_files(tmp_path):
    folder = tmp_path / "cache" / "fashion-mnist"
    os.makedirs(folder)
    rng = np.random.default_rng(1)
    data = {"train-images-idx3-ubyte.gz": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), 2051),
            "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, 5).astype(np.uint8), 2049),
            "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), 2051),
            "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, 3).astype(np.uint8), 2049)}
    for name, (array, magic) in data.items():
        (folder / name).write_bytes(_idx(array, magic))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (5, 28, 28) and x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    np.testing.assert_array_equal(x_test, data["t10k-images-idx3-ubyte.gz"][0])
    np.testing.assert_array_equal(y_test, data["t10k-labels-idx1-ubyte.gz"][0])
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx(np.zeros(3, np.uint8), 2051))
    with pytest.raises(DatasetUnavailableError, match="magic number"):
        fashion_mnist.load_data()


def _cifar_batch(n, rng, label_keys, protocol=2):
    d = {b"batch_label": b"testing batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    for key, classes in label_keys.items():
        d[key] = [int(v) for v in rng.integers(0, classes, n)]
    return d, pickle.dumps(d, protocol=protocol)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def make_cifar10(path, protocol=2):
    rng = np.random.default_rng(2)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name], data = _cifar_batch(2, rng, {b"labels": 10}, protocol)
        batches[name + "_bytes"] = data
    _tar(path, {f"cifar-10-batches-py/{k}": batches[k + "_bytes"] for k in batches if not k.endswith("_bytes")})
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_python_tarball(tmp_path, protocol):
    batches = make_cifar10(tmp_path / "cifar-10-python.tar.gz", protocol)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path=str(tmp_path / "cifar-10-python.tar.gz"))
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2, 1) and y_test.dtype == np.uint8
    first = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(x_train[0], first)
    assert y_train[:2, 0].tolist() == batches["data_batch_1"][b"labels"]


def test_cifar10_extracted_folder_and_binary_tarball(tmp_path):
    batches = make_cifar10(tmp_path / "c.tar.gz")
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(batches[name + "_bytes"])
    (x_train, y_train), _ = cifar10.load_data(path=str(folder))
    assert x_train.shape == (10, 32, 32, 3)
    # binary version: 1 label byte + 3072 pixel bytes per record
    members = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        b = batches[name]
        records = np.concatenate([np.asarray(b[b"labels"], np.uint8)[:, None], b[b"data"]], axis=1)
        members[f"cifar-10-batches-bin/{name}.bin"] = records.tobytes()
    _tar(tmp_path / "cifar-10-binary.tar.gz", members)
    (xb, yb), (xtb, ytb) = cifar10.load_data(path=str(tmp_path / "cifar-10-binary.tar.gz"))
    np.testing.assert_array_equal(xb, x_train)
    np.testing.assert_array_equal(yb, y_train)


def test_cifar100_label_modes(tmp_path):
    rng = np.random.default_rng(3)
    train, train_bytes = _cifar_batch(4, rng, {b"fine_labels": 100, b"coarse_labels": 20})
    test, test_bytes = _cifar_batch(2, rng, {b"fine_labels": 100, b"coarse_labels": 20})
    _tar(tmp_path / "cifar-100-python.tar.gz", {"cifar-100-python/train": train_bytes,
                                                "cifar-100-python/test": test_bytes,
                                                "cifar-100-python/meta": pickle.dumps({b"x": 1}, protocol=2)})
    path = str(tmp_path / "cifar-100-python.tar.gz")
    (x, y), (xt, yt) = cifar100.load_data(path=path)
    assert x.shape == (4, 32, 32, 3) and y.shape == (4, 1) and y.dtype == np.int64
    assert y[:, 0].tolist() == train[b"fine_labels"]
    (_, yc), _ = cifar100.load_data(label_mode="coarse", path=path)
    assert yc[:, 0].tolist() == train[b"coarse_labels"]
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium", path=path)


class _Evil:
    sentinel = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_cifar_pickle_with_foreign_global_is_refused(tmp_path):
    _Evil.sentinel = str(tmp_path / "pwned")
    rng = np.random.default_rng(4)
    members = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d, _ = _cifar_batch(2, rng, {b"labels": 10})
        d[b"filenames"] = _Evil()
        members[f"cifar-10-batches-py/{name}"] = pickle.dumps(d, protocol=2)
    _tar(tmp_path / "evil.tar.gz", members)
    with pytest.raises(DatasetUnavailableError, match="posix.system|os.system|nt.system"):
        cifar10.load_data(path=str(tmp_path / "evil.tar.gz"))
    assert not (tmp_path / "pwned").exists()


def test_cifar_truncated_tarball(tmp_path):
    make_cifar10(tmp_path / "c.tar.gz")
    data = (tmp_path / "c.tar.gz").read_bytes()
    (tmp_path / "t.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetUnavailableError, match="truncated|not a readable"):
        cifar10.load_data(path=str(tmp_path / "t.tar.gz"))


def test_to_categorical_with_dataset_labels(tmp_path):
    from graphc.utils import to_categorical

    make_cifar10(tmp_path / "c.tar.gz")
    (_, y), _ = cifar10.load_data(path=str(tmp_path / "c.tar.gz"))
    one_hot = to_categorical(y, 10)
    assert one_hot.shape == (10, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), y[:, 0])


def test_keras_cache_is_reused(tmp_path):
    keras_datasets = tmp_path / "keras_home" / "datasets"
    os.makedirs(keras_datasets)
    make_mnist(keras_datasets / "mnist.npz", n_train=2)
    make_cifar10(tmp_path / "c.tar.gz")
    with tarfile.open(tmp_path / "c.tar.gz") as tar:
        tar.extractall(keras_datasets, filter="data")  # Keras keeps the extracted cifar-10-batches-py folder
    (x, _), _ = mnist.load_data()
    assert x.shape == (2, 28, 28)
    (xc, _), _ = cifar10.load_data()
    assert xc.shape == (10, 32, 32, 3)
    assert not os.path.exists(tmp_path / "cache")  # nothing downloaded or copied
