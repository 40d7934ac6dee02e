"""Subclassed models (seed 004): ``class M(graphc.Model)`` with ``__init__`` and ``call``."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc as keras
from graphc import layers

from test_summary import check_golden, rows_of, summary_of


class MLP(graphc.Model):
    def __init__(self, hidden=16, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(hidden, activation="relu")
        self.head = layers.Dense(classes, activation="softmax")

    def call(self, x, training=None):
        return self.head(self.hidden(x))


def numpy_mlp(model, x):
    k1, b1, k2, b2 = model.get_weights()
    h = np.maximum(x @ k1 + b1, 0)
    z = h @ k2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_built_lazily_on_first_call():
    model = MLP(name="mlp")
    assert model.weights == []
    assert not model.built
    x = np.random.default_rng(0).random((4, 5), dtype=np.float32)
    y = model(x)
    assert isinstance(y, np.ndarray) and y.shape == (4, 3)
    assert [tuple(w.shape) for w in model.weights] == [(5, 16), (16,), (16, 3), (3,)]
    np.testing.assert_allclose(y, numpy_mlp(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=3), y, rtol=1e-5, atol=1e-6)
    assert model.count_params() == 5 * 16 + 16 + 16 * 3 + 3


def test_build_with_input_shape_then_summary_and_predict():
    model = MLP(name="mlp")
    model.build((None, 5))
    assert model.built and len(model.weights) == 4
    text = summary_of(model)
    check_golden("subclassed_mlp", text)
    assert rows_of(text) == [["dense (Dense)", "(None, 16)", "96"], ["dense_1 (Dense)", "(None, 3)", "51"]]
    assert " Total params: 147 (588.00 B)" in text.splitlines()
    x = np.random.default_rng(1).random((7, 5), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), numpy_mlp(model, x), rtol=1e-5, atol=1e-6)


def test_layers_and_weights_tracked_through_attributes():
    model = MLP(name="mlp")
    model.build((None, 2))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.trainable_weights == model.weights
    model.hidden.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    text = summary_of(model)
    assert " Non-trainable params: 48 (192.00 B)" in text.splitlines()
    model.set_weights([np.ones(w.shape, "float32") for w in model.weights])
    assert all((w == 1).all() for w in model.get_weights())


def test_call_without_training_argument_and_shared_layer():
    class Shared(keras.Model):
        def __init__(self):
            super().__init__(name="shared")
            self.dense = layers.Dense(4, activation="tanh")
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.dense(self.dense(x)))

    model = Shared()
    x = np.random.default_rng(2).random((3, 4), dtype=np.float32)
    y = model(x)
    k, b, k2, b2 = model.get_weights()
    h = np.tanh(np.tanh(x @ k + b) @ k + b)
    np.testing.assert_allclose(y, h @ k2 + b2, rtol=1e-5, atol=1e-6)
    assert model.count_params() == 4 * 4 + 4 + 4 + 1


def test_subclassed_model_used_inside_functional():
    inner = MLP(hidden=8, classes=2, name="inner_mlp")
    inputs = keras.Input(shape=(6,), name="features")
    outputs = inner(inputs)
    assert outputs.shape == (None, 2)
    model = keras.Model(inputs, outputs, name="wrapper")
    x = np.random.default_rng(3).random((5, 6), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), numpy_mlp(inner, x), rtol=1e-5, atol=1e-6)
    rows = rows_of(summary_of(model))
    assert rows[1] == ["inner_mlp (MLP)", "(None, 2)", str(6 * 8 + 8 + 8 * 2 + 2)]


@pytest.mark.skipif(not hasattr(layers, "Conv2D"), reason="Conv2D has not landed yet")
def test_seed004_subclassed_convnet():
    class KerasModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.Conv2D32 = keras.layers.Conv2D(32, 3, activation="relu")
            self.Conv2D64 = keras.layers.Conv2D(64, 3, activation="relu")
            self.Flatten = keras.layers.Flatten()
            self.Dense128 = keras.layers.Dense(128, activation="relu")
            self.Dense = keras.layers.Dense(10, activation="softmax")

        def call(self, x):
            x = self.Conv2D32(x)
            x = self.Conv2D64(x)
            x = self.Flatten(x)
            x = self.Dense128(x)
            return self.Dense(x)

    model = KerasModel()
    y = model(np.random.default_rng(4).random((2, 28, 28, 1), dtype=np.float32))
    assert y.shape == (2, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    text = summary_of(model)
    check_golden("seed004_subclassed_convnet", text)
    assert [r[1:] for r in rows_of(text)] == [
        ["(None, 26, 26, 32)", "320"], ["(None, 24, 24, 64)", "18,496"], ["(None, 36864)", "0"],
        ["(None, 128)", "4,718,720"], ["(None, 10)", "1,290"]]
    assert model.count_params() == 4_738_826
