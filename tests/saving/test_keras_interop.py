"""Real Keras 3 ``.weights.h5`` files, both directions, where Keras is installed (skipped otherwise).

Keras runs on the JAX backend (as graphc's other Keras-oracle tests do, so one pytest process uses
one backend): the same architecture is built in Keras and in graphc, Keras writes ``model.save_weights``, graphc
loads it, and the predictions agree; then graphc writes the file and Keras loads it.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import graphc
from seed_conv_models import toy_resnet as seed_toy_resnet

pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if os.environ["KERAS_BACKEND"] == "jax":
        pytest.importorskip("jax")
    return pytest.importorskip("keras")


def mlp(lib):
    inputs = lib.Input(shape=(784,))
    x = lib.layers.Dense(64, activation="relu")(inputs)
    x = lib.layers.Dense(64, activation="relu")(x)
    return lib.Model(inputs, lib.layers.Dense(10)(x), name="mnist_model"), (3, 784)


def toy_resnet(lib):
    return seed_toy_resnet(filters=(8, 8), units=16, lib=lib), (2, 32, 32, 3)


def sequential_bn(lib):
    L = lib.layers
    return lib.Sequential([lib.Input(shape=(12, 12, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                           L.Dense(8), L.BatchNormalization(), L.Dense(3, activation="softmax")]), (2, 12, 12, 1)


def lstm_model(lib):
    L = lib.layers
    ids = lib.Input(shape=(None,), dtype="int32")
    x = L.Embedding(50, 6)(ids)
    x = L.LSTM(5)(x)
    return lib.Model(ids, L.Dense(2)(x)), None


def autoencoder(lib):
    L = lib.layers
    enc_in = lib.Input(shape=(12, 12, 1))
    x = L.Conv2D(4, 3, activation="relu")(enc_in)
    encoder = lib.Model(enc_in, L.GlobalMaxPooling2D()(x), name="encoder")
    dec_in = lib.Input(shape=(4,))
    x = L.Reshape((2, 2, 1))(dec_in)
    decoder = lib.Model(dec_in, L.Conv2DTranspose(2, 3, activation="relu")(x), name="decoder")
    inp = lib.Input(shape=(12, 12, 1))
    return lib.Model(inp, decoder(encoder(inp)), name="autoencoder"), (2, 12, 12, 1)


BUILDERS = [mlp, toy_resnet, sequential_bn, lstm_model, autoencoder]


def _inputs(shape, builder):
    rng = np.random.default_rng(0)
    if builder is lstm_model:
        return rng.integers(0, 50, (2, 7)).astype("int32")
    return rng.random(shape, dtype=np.float32)


def _randomize(model):
    """Random weights; moving variances positive."""
    rng = np.random.default_rng(1)
    out = []
    for w in model.weights:
        a = rng.standard_normal(tuple(w.shape)).astype(np.dtype(str(w.dtype))) * 0.3
        out.append(np.abs(a) + 0.5 if "variance" in w.path else a)
    return out


@pytest.mark.parametrize("direction", ["keras_to_graphc", "graphc_to_keras"])
@pytest.mark.parametrize("builder", BUILDERS, ids=[b.__name__ for b in BUILDERS])
def test_weights_file_loads_across(builder, direction, keras, tmp_path):
    """A .weights.h5 written by one library loads into the same model built with the other."""
    src_lib, dst_lib = (keras, graphc) if direction == "keras_to_graphc" else (graphc, keras)
    src, shape = builder(src_lib)
    src.set_weights(_randomize(src))
    path = str(tmp_path / "w.weights.h5")
    src.save_weights(path)
    x = _inputs(shape, builder)
    dst, _ = builder(dst_lib)
    dst.load_weights(path)
    np.testing.assert_allclose(np.asarray(dst.predict(x, verbose=0)), np.asarray(src.predict(x, verbose=0)),
                               rtol=2e-4, atol=2e-5)
