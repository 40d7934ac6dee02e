"""Keras 3 itself as a second oracle, where it is installed (JAX backend): the same model, weights and
batches give the same losses and weights for every optimizer, and the same loss values."""
import os

import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses, optimizers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def K():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("jax")
    return pytest.importorskip("keras")


OPTIMIZERS = [
    ("sgd", lambda m: m.SGD(0.1, momentum=0.9, nesterov=True)),
    ("rmsprop", lambda m: m.RMSprop(0.01, momentum=0.5, centered=True)),
    ("rmsprop_default", lambda m: m.RMSprop()),
    ("adam", lambda m: m.Adam(0.01, amsgrad=True)),
    ("adamw", lambda m: m.AdamW(0.01)),
    ("adagrad", lambda m: m.Adagrad(0.1)),
]


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_training_steps_match_keras(K, name, make):
    K.utils.set_random_seed(0)  # Keras' initial weights: fixed, so the tolerance is checked on one case
    rng = np.random.default_rng(0)
    x = rng.random((64, 20)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    i = K.Input((20,))
    theirs = K.Model(i, K.layers.Dense(5)(K.layers.Dense(16, activation="relu")(i)))
    j = keras.Input((20,))
    ours = keras.Model(j, layers.Dense(5)(layers.Dense(16, activation="relu")(j)))
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=make(K.optimizers), loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.compile(optimizer=make(optimizers), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    for s in range(8):
        a = float(theirs.train_on_batch(x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8]))
        b = ours.train_on_batch(x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8])
        np.testing.assert_allclose(b, a, rtol=1e-5)
    for p, q in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_loss_values_match_keras(K):
    rng = np.random.default_rng(1)
    p = rng.random((6, 5)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    onehot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 6)]
    w = rng.random(6).astype(np.float32)
    reg_t, reg_p = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    cases = [
        ("BinaryCrossentropy", {}, onehot, p), ("BinaryCrossentropy", {"from_logits": True}, onehot, logits),
        ("CategoricalCrossentropy", {}, onehot, p), ("CategoricalCrossentropy", {"from_logits": True}, onehot, logits),
        ("CategoricalCrossentropy", {"label_smoothing": 0.2}, onehot, p),
        ("SparseCategoricalCrossentropy", {}, onehot.argmax(1), p),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, onehot.argmax(1), logits),
        ("MeanSquaredError", {}, reg_t, reg_p), ("MeanAbsoluteError", {}, reg_t, reg_p),
        ("Huber", {"delta": 0.7}, reg_t, reg_p),
    ]
    for cls, kwargs, t, q in cases:
        theirs = getattr(K.losses, cls)(**kwargs)
        ours = getattr(losses, cls)(**kwargs)
        np.testing.assert_allclose(ours(t, q), float(theirs(t, q)), rtol=2e-6, err_msg=f"{cls}{kwargs}")
        np.testing.assert_allclose(ours(t, q, sample_weight=w), float(theirs(t, q, sample_weight=w)), rtol=2e-6,
                                   err_msg=f"{cls}{kwargs} weighted")
